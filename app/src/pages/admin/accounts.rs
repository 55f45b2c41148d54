use leptos::prelude::*;
use meritree_core::accounts::{ManagedAccount, Role};

use crate::components::scroll_region::ScrollRegion;
use crate::components::server_error::ServerError;
use crate::components::time::utc_minutes;
use crate::server_fns::admin::{find_accounts, ChangeRole, EndSessions, SetDisabled};

/// Find accounts; change a role, disable or enable one, end its sessions.
#[component]
pub fn Accounts() -> impl IntoView {
    let query = RwSignal::new(String::new());
    let draft = RwSignal::new(String::new());
    let change_role = ServerAction::<ChangeRole>::new();
    let set_disabled = ServerAction::<SetDisabled>::new();
    let end_sessions = ServerAction::<EndSessions>::new();
    let found = Resource::new(
        move || {
            (
                query.get(),
                change_role.version().get(),
                set_disabled.version().get(),
            )
        },
        |(query, _, _)| async move {
            match query.trim().is_empty() {
                true => Ok(Vec::new()),
                false => find_accounts(query).await,
            }
        },
    );
    let actions = AccountActions {
        change_role,
        set_disabled,
        end_sessions,
    };
    view! {
        <section class="wallet-box" data-testid="accounts">
            <h2>"Accounts"</h2>
            <form class="form" on:submit=move |ev| {
                ev.prevent_default();
                query.set(draft.get_untracked());
            }>
                <label>
                    "Email, handle, wallet or id"
                    <input type="search" name="q" maxlength="100" bind:value=draft data-testid="account-search" />
                </label>
                <button type="submit">"Find"</button>
            </form>
            <ServerError result=change_role.value() />
            <ServerError result=set_disabled.value() />
            <ServerError result=end_sessions.value() />
            {move || end_sessions.value().get().and_then(Result::ok).map(|ended| view! {
                <p data-testid="sessions-ended">{format!("{ended} sessions ended.")}</p>
            })}
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match found.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No accounts to show."</p> }.into_any(),
                        Ok(list) => view! { <AccountTable list actions /> }.into_any(),
                        Err(err) => view! { <p class="error" role="alert" data-code=err.code.as_str()>{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[derive(Clone, Copy)]
struct AccountActions {
    change_role: ServerAction<ChangeRole>,
    set_disabled: ServerAction<SetDisabled>,
    end_sessions: ServerAction<EndSessions>,
}

#[component]
fn AccountTable(list: Vec<ManagedAccount>, actions: AccountActions) -> impl IntoView {
    view! {
        <ScrollRegion label="Accounts">
            <table class="components">
                <thead><tr><th>"Account"</th><th>"Role"</th><th>"Since"</th><th>"Standing"</th><th></th></tr></thead>
                <tbody>
                    {list.into_iter().map(|managed| view! { <AccountRow managed actions /> }).collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
}

#[component]
fn AccountRow(managed: ManagedAccount, actions: AccountActions) -> impl IntoView {
    let account = managed.account;
    let id = StoredValue::new(account.id.clone());
    let disabled = managed.disabled_at.is_some();
    let name = account
        .email
        .clone()
        .or_else(|| account.handle.as_ref().map(|h| format!("@{h}")))
        .or_else(|| account.wallet.clone())
        .unwrap_or_else(|| account.id.to_string());
    let current = account.role;
    view! {
        <tr data-testid="account-row">
            <td>{name}</td>
            <td>
                <select aria-label="Role" data-testid="account-role" on:change=move |ev| {
                    actions.change_role.dispatch(ChangeRole { id: id.get_value(), role: event_target_value(&ev) });
                }>
                    {[Role::Member, Role::NodeOperator, Role::Admin].into_iter().map(|role| view! {
                        <option value=role.as_str() selected=role == current>{role.as_str()}</option>
                    }).collect_view()}
                </select>
            </td>
            <td>{utc_minutes(account.created_at)}</td>
            <td data-testid="account-standing">
                {managed.disabled_at.map(|at| format!("disabled {}", utc_minutes(at))).unwrap_or_else(|| "active".into())}
            </td>
            <td>
                <button type="button" data-testid="toggle-disabled" on:click=move |_| {
                    actions.set_disabled.dispatch(SetDisabled { id: id.get_value(), disabled: !disabled });
                }>
                    {if disabled { "Enable" } else { "Disable" }}
                </button>
                <button type="button" data-testid="end-sessions" on:click=move |_| {
                    actions.end_sessions.dispatch(EndSessions { id: id.get_value() });
                }>
                    "End sessions"
                </button>
            </td>
        </tr>
    }
}

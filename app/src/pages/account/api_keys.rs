use leptos::prelude::*;
use meritree_core::accounts::ApiKeyView;

use crate::components::scroll_region::ScrollRegion;
use crate::components::server_error::ServerError;
use crate::components::time::utc_minutes;
use crate::server_fns::api_keys::{list_api_keys, CreateApiKey, RevokeApiKey};

/// Create (shown once), list and revoke the account's API keys.
#[component]
pub fn ApiKeys() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_keys(),
    );
    let created = move || create.value().get().and_then(Result::ok);
    view! {
        <section class="wallet-box" data-testid="api-keys">
            <h2>"API keys"</h2>
            <p class="muted">"For programs: send a key as " <code>"Authorization: Bearer …"</code> "."</p>
            <ActionForm action=create attr:class="form">
                <label>
                    "Key name"
                    <input type="text" name="name" required maxlength="64" placeholder="e.g. my script" />
                </label>
                <button type="submit" data-testid="create-api-key" disabled=move || create.pending().get()>"Create key"</button>
            </ActionForm>
            <ServerError result=create.value() />
            {move || created().map(|created| view! {
                <p>"Copy the key now: it is not shown again."</p>
                <pre data-testid="new-api-key">{created.key}</pre>
            })}
            <ServerError result=revoke.value() />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No API keys."</p> }.into_any(),
                        Ok(list) => view! { <KeyTable list revoke /> }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn KeyTable(list: Vec<ApiKeyView>, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    view! {
        <ScrollRegion label="API keys">
            <table class="components">
                <thead><tr><th>"Name"</th><th>"Key"</th><th>"Created"</th><th>"Last used"</th><th></th></tr></thead>
                <tbody>
                    {list.into_iter().map(|key| {
                        let id = key.id.clone();
                        view! {
                            <tr data-testid="api-key-row">
                                <td>{key.name}</td>
                                <td><code>{key.prefix} "…"</code></td>
                                <td>{utc_minutes(key.created_at)}</td>
                                <td>{key.last_used_at.map(utc_minutes).unwrap_or_else(|| "never".into())}</td>
                                <td>
                                    <button type="button" data-testid="revoke-api-key"
                                        on:click=move |_| { revoke.dispatch(RevokeApiKey { id: id.clone() }); }>
                                        "Revoke"
                                    </button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
}

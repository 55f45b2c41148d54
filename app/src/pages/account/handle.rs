use leptos::prelude::*;
use meritree_core::accounts::Handle;

use crate::components::server_error::ServerError;
use crate::server_fns::auth::SetHandle;
use crate::session::Session;

/// The public handle: checked as it is typed with the rule the server
/// applies.
#[component]
pub fn PublicHandle(current: Option<String>) -> impl IntoView {
    let session = Session::get();
    let set = ServerAction::<SetHandle>::new();
    let initial = current.clone().unwrap_or_default();
    let (typed, set_typed) = signal(initial.clone());
    let problem = move || {
        let typed = typed.get();
        (!typed.is_empty())
            .then(|| Handle::parse(&typed).err().map(|e| e.to_string()))
            .flatten()
    };
    Effect::new(move |_| {
        if matches!(set.value().get(), Some(Ok(_))) {
            session.reload();
        }
    });
    view! {
        <section class="wallet-box" data-testid="public-handle">
            <h2>"Public handle"</h2>
            <p>{match current {
                Some(handle) => format!("Others see you as @{handle}."),
                None => "Choose the name others see on your public work.".to_owned(),
            }}</p>
            <ActionForm action=set attr:class="form">
                <label>
                    "Handle"
                    <input type="text" name="handle" autocomplete="username" required
                        minlength=Handle::MIN_CHARS.to_string() maxlength=Handle::MAX_CHARS.to_string()
                        value=initial
                        on:input=move |ev| set_typed.set(event_target_value(&ev)) />
                </label>
                <p class="field-error" data-testid="handle-error">{problem}</p>
                <ServerError result=set.value() />
                <button type="submit" data-testid="set-handle"
                    disabled=move || problem().is_some() || set.pending().get()>"Save"</button>
            </ActionForm>
        </section>
    }
}

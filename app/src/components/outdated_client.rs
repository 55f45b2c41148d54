//! Told by the live socket that the server now serves another release of
//! the client, the page says it must reload: its calls may no longer be
//! what the server's API takes.

use leptos::prelude::*;
use meritree_core::live::LiveEvent;

use crate::live::Live;

#[component]
pub fn OutdatedClient() -> impl IntoView {
    let live = Live::get();
    // Once told, the banner stays until the page reloads.
    let outdated = Memo::new(move |was: Option<&bool>| {
        was.copied().unwrap_or(false) || matches!(live.event(), Some(LiveEvent::Outdated { .. }))
    });
    view! {
        <Show when=move || outdated.get()>
            <div class="update-available" role="alert" data-testid="client-outdated">
                "Meritree was updated: reload this page to keep working."
                <button type="button" on:click=|_| { let _ = window().location().reload(); }>
                    "Reload"
                </button>
            </div>
        </Show>
    }
}

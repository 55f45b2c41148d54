//! The header's link to the notification centre, with the unread count,
//! kept current by the live socket.

use leptos::prelude::*;
use leptos_router::components::A;
use meritree_core::live::LiveEvent;

use crate::live::Live;
use crate::server_fns::notifications::count_unread_notifications;

/// Moves whenever the account's notifications may have changed: one
/// arrived, or a page marked them read.
#[derive(Clone, Copy)]
pub struct NotificationsChanged(pub RwSignal<u64>);

#[component]
pub fn NotificationBell() -> impl IntoView {
    let arrived = Live::get().changes(|event| matches!(event, LiveEvent::Notification { .. }));
    let marked = expect_context::<NotificationsChanged>().0;
    // Loaded in the browser only: the server's page and the hydrated one
    // both start without a count, which then appears.
    let centre = LocalResource::new(move || {
        let _ = (arrived.get(), marked.get());
        count_unread_notifications()
    });
    let unread = move || centre.get().and_then(Result::ok).flatten().unwrap_or(0);
    view! {
        <A href="/notifications" attr:data-testid="header-notifications">
            "Notifications"
            <Show when=move || { unread() > 0 }>
                <span class="count" data-testid="unread-count" title="unread">{unread}</span>
            </Show>
        </A>
    }
}

//! `/notifications`: the member's notification centre — newest first,
//! followed live — and the kinds they want to hear about.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use meritree_core::live::LiveEvent;
use meritree_core::notifications::{NotificationKind, NotificationView};

use crate::components::notification_bell::NotificationsChanged;
use crate::components::server_error::ServerError;
use crate::components::time::utc_minutes;
use crate::live::Live;
use crate::push::{self, DeviceState};
use crate::server_fns::notifications::{
    load_notification_preferences, load_notifications, load_push_key, read_notifications,
    save_notification_preferences, subscribe_to_push, unsubscribe_from_push,
};

#[component]
pub fn NotificationsPage() -> impl IntoView {
    let arrived = Live::get().changes(|event| matches!(event, LiveEvent::Notification { .. }));
    let marked = expect_context::<NotificationsChanged>().0;
    let centre = Resource::new(
        move || (arrived.get(), marked.get()),
        |_| load_notifications(),
    );
    let read = Action::new(|up_to: &i64| read_notifications(*up_to));
    Effect::new(move |_| {
        if matches!(read.value().get(), Some(Ok(_))) {
            marked.update(|n| *n += 1);
        }
    });
    view! {
        <Title text="Notifications" />
        <section class="notifications">
            <h1>"Notifications"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match centre.await {
                        Ok(Some(centre)) => {
                            let newest = centre.notifications.first().map(|n| n.id);
                            view! {
                                <p data-testid="notifications-unread">
                                    {format!("{} unread", centre.unread)} " "
                                    {newest.filter(|_| centre.unread > 0).map(|newest| view! {
                                        <button type="button" data-testid="mark-all-read"
                                            on:click=move |_| { read.dispatch(newest); }>
                                            "Mark all read"
                                        </button>
                                    })}
                                </p>
                                <ServerError result=read.value() />
                                {if centre.notifications.is_empty() {
                                    view! { <p class="muted">"Nothing yet: results, points, claims and security events will appear here."</p> }.into_any()
                                } else {
                                    view! {
                                        <ul class="notification-list">
                                            {centre.notifications.into_iter().map(|n| view! { <NotificationItem notification=n /> }).collect_view()}
                                        </ul>
                                    }.into_any()
                                }}
                            }.into_any()
                        }
                        Ok(None) => view! {
                            <p data-testid="signed-out">"Sign in to see your notifications. " <A href="/sign-in">"Sign in"</A></p>
                        }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
            <Preferences />
            <PushOnThisDevice />
        </section>
    }
}

#[component]
fn NotificationItem(notification: NotificationView) -> impl IntoView {
    let class = if notification.read {
        "notification"
    } else {
        "notification unread"
    };
    let title = match notification.link {
        Some(link) => view! { <A href=link>{notification.title}</A> }.into_any(),
        None => view! { <span>{notification.title}</span> }.into_any(),
    };
    view! {
        <li class=class data-testid="notification" data-kind=notification.kind.as_str()>
            <strong>{title}</strong>
            <span class="muted">" · " {utc_minutes(notification.created_at)}</span>
            <p>{notification.body}</p>
        </li>
    }
}

/// One checkbox per kind; saving turns the unticked ones off.
#[component]
fn Preferences() -> impl IntoView {
    let saved =
        Action::new(|muted: &Vec<NotificationKind>| save_notification_preferences(muted.clone()));
    // Read again after a save the server took: one kept on the device while
    // offline leaves the form as the member set it, not gone for want of a
    // network to read it from.
    let taken = RwSignal::new(0u32);
    Effect::new(move |_| {
        if matches!(saved.value().get(), Some(Ok(_))) {
            taken.update(|n| *n += 1);
        }
    });
    let preferences = Resource::new(move || taken.get(), |_| load_notification_preferences());
    let muted = RwSignal::new(Vec::<NotificationKind>::new());
    Effect::new(move |_| {
        if let Some(Ok(loaded)) = preferences.get() {
            muted.set(loaded.muted);
        }
    });
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                preferences.await.ok().map(|_| view! {
                    <form class="form" data-testid="notification-preferences"
                        on:submit=move |ev| { ev.prevent_default(); saved.dispatch(muted.get_untracked()); }>
                        <fieldset>
                            <legend>"Tell me about"</legend>
                            {NotificationKind::ALL.into_iter().map(|kind| view! {
                                <label class="check">
                                    <input type="checkbox" name=kind.as_str()
                                        prop:checked=move || !muted.with(|m| m.contains(&kind))
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            muted.update(|m| {
                                                m.retain(|k| *k != kind);
                                                if !on { m.push(kind); }
                                            });
                                        } />
                                    {kind.label()}
                                </label>
                            }).collect_view()}
                        </fieldset>
                        <ServerError result=saved.value() />
                        <button type="submit" data-testid="save-preferences" disabled=move || saved.pending().get()>
                            "Save"
                        </button>
                        <Show when=move || matches!(saved.value().get(), Some(Ok(_)))>
                            <span role="status" data-testid="preferences-saved">" Saved."</span>
                        </Show>
                    </form>
                })
            })}
        </Transition>
    }
}

/// Web Push on this browser: turned on or off here, or why it cannot be.
#[component]
fn PushOnThisDevice() -> impl IntoView {
    let changed = RwSignal::new(0u32);
    let state = LocalResource::new(move || {
        changed.track();
        push::state()
    });
    let toggle = Action::new_unsync(|on: &bool| {
        let on = *on;
        async move {
            if on {
                let key = load_push_key().await.map_err(|err| err.message)?;
                let subscription = push::subscribe(&key.public_key).await?;
                if let Err(err) = subscribe_to_push(subscription).await {
                    // The server does not know this browser: leave it unsubscribed.
                    let _ = push::unsubscribe().await;
                    return Err(err.message);
                }
            } else if let Some(endpoint) = push::unsubscribe().await? {
                unsubscribe_from_push(endpoint)
                    .await
                    .map_err(|err| err.message)?;
            }
            Ok::<(), String>(())
        }
    });
    Effect::new(move |_| {
        if toggle.value().get().is_some() {
            changed.update(|n| *n += 1);
        }
    });
    let busy = toggle.pending();
    view! {
        <section class="push-device" data-testid="push-device">
            <h2>"On this device"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match state.await {
                        DeviceState::Unsupported => view! {
                            <p class="muted" data-testid="push-state" data-state="unsupported">
                                "This browser cannot receive push notifications."
                            </p>
                        }.into_any(),
                        DeviceState::Blocked => view! {
                            <p class="muted" data-testid="push-state" data-state="blocked">
                                "Notifications are blocked for this site: allow them in the browser's site settings."
                            </p>
                        }.into_any(),
                        DeviceState::Off => view! {
                            <p data-testid="push-state" data-state="off">
                                "Push notifications are off on this device. "
                                <button type="button" data-testid="push-on" disabled=move || busy.get()
                                    on:click=move |_| { toggle.dispatch(true); }>
                                    "Turn on"
                                </button>
                            </p>
                        }.into_any(),
                        DeviceState::On => view! {
                            <p data-testid="push-state" data-state="on">
                                "Push notifications are on for this device. "
                                <button type="button" data-testid="push-off" disabled=move || busy.get()
                                    on:click=move |_| { toggle.dispatch(false); }>
                                    "Turn off"
                                </button>
                            </p>
                        }.into_any(),
                    }
                })}
            </Suspense>
            {move || match toggle.value().get() {
                Some(Err(message)) => Some(view! { <p class="error" role="alert" data-testid="push-error">{message}</p> }),
                _ => None,
            }}
        </section>
    }
}

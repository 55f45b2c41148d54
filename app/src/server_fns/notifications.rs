//! The notification centre from the app's pages: the same platform service
//! as `/api/v1/user/notifications` and `/api/v1/user/notification-preferences`.

use leptos::prelude::*;
use meritree_core::notifications::{NotificationCentre, NotificationKind, NotificationPreferences};
use meritree_core::push::{PushServerKey, PushSubscriptionJson};

use super::error::AppError;

/// `POST /api/notifications/centre`: the newest notifications and how many
/// are unread; `None` when nobody is signed in (the header asks on every page).
#[server(endpoint = "notifications/centre")]
pub async fn load_notifications() -> Result<Option<NotificationCentre>, AppError> {
    use super::door;
    let platform = door::platform()?;
    let Some(me) = platform.optional_caller(&door::request(&platform)).await else {
        return Ok(None);
    };
    Ok(Some(platform.notifications().centre(&me.account_id).await?))
}

/// `POST /api/notifications/unread`: how many are unread (the header's
/// count); `None` when nobody is signed in.
#[server(endpoint = "notifications/unread")]
pub async fn count_unread_notifications() -> Result<Option<u32>, AppError> {
    use super::door;
    let platform = door::platform()?;
    let Some(me) = platform.optional_caller(&door::request(&platform)).await else {
        return Ok(None);
    };
    Ok(Some(platform.notifications().unread(&me.account_id).await?))
}

/// `POST /api/notifications/read`: marks notifications up to `up_to` read.
#[server(endpoint = "notifications/read")]
pub async fn read_notifications(up_to: i64) -> Result<NotificationCentre, AppError> {
    use meritree_platform::access::AuthCheck;

    use super::door;
    let (platform, me) = door::authorize(AuthCheck::session()).await?;
    Ok(platform
        .notifications()
        .mark_read(&me.account_id, up_to)
        .await?)
}

/// `POST /api/notifications/preferences`: the kinds turned off.
#[server(endpoint = "notifications/preferences")]
pub async fn load_notification_preferences() -> Result<NotificationPreferences, AppError> {
    use meritree_platform::access::AuthCheck;

    use super::door;
    let (platform, me) = door::authorize(AuthCheck::session()).await?;
    Ok(platform.notifications().preferences(&me.account_id).await?)
}

/// `POST /api/notifications/set_preferences`: turns `muted` off, every
/// other kind on.
#[server(endpoint = "notifications/set_preferences")]
pub async fn save_notification_preferences(
    #[server(default)] muted: Vec<NotificationKind>,
) -> Result<NotificationPreferences, AppError> {
    use meritree_platform::access::AuthCheck;

    use super::door;
    let (platform, me) = door::authorize(AuthCheck::session()).await?;
    Ok(platform
        .notifications()
        .set_preferences(&me.account_id, &NotificationPreferences { muted })
        .await?)
}

/// `POST /api/notifications/push_key`: the key browsers subscribe with.
#[server(endpoint = "notifications/push_key")]
pub async fn load_push_key() -> Result<PushServerKey, AppError> {
    use super::door;
    Ok(door::platform()?.push().server_key())
}

/// `POST /api/notifications/push_subscribe`: pushes the member's notices
/// to this browser (its `PushSubscription.toJSON()`).
#[server(endpoint = "notifications/push_subscribe", input = leptos::server_fn::codec::Json)]
pub async fn subscribe_to_push(subscription: PushSubscriptionJson) -> Result<(), AppError> {
    use meritree_platform::access::AuthCheck;

    use super::door;
    let (platform, me) = door::authorize(AuthCheck::session()).await?;
    Ok(platform.push().subscribe(&me, &subscription).await?)
}

/// `POST /api/notifications/push_unsubscribe`: no more pushes to the
/// browser at `endpoint`.
#[server(endpoint = "notifications/push_unsubscribe")]
pub async fn unsubscribe_from_push(endpoint: String) -> Result<(), AppError> {
    use meritree_platform::access::AuthCheck;

    use super::door;
    let (platform, me) = door::authorize(AuthCheck::session()).await?;
    Ok(platform
        .push()
        .unsubscribe(&me.account_id, &endpoint)
        .await?)
}

//! The notification centre from the app's pages: the same platform service
//! as `/api/v1/user/notifications` and `/api/v1/user/notification-preferences`.

use leptos::prelude::*;
use meritree_core::notifications::{NotificationCentre, NotificationKind, NotificationPreferences};

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

//! Notifications: each member's centre — what happened to their work,
//! points, claims, tasks and credentials — kept in the database and pushed
//! to their open pages over the live hub and to their browsers by Web Push
//! ([`crate::push`]). A kind the member turned off is not kept at all.

use meritree_core::accounts::AccountId;
use meritree_core::live::{Audience, LiveEvent};
use meritree_core::notifications::{
    NotificationCentre, NotificationKind, NotificationPreferences, NotificationView, PAGE_SIZE,
};
use meritree_store::notifications::{
    self as store, Composed, Kept, NewNotification, NotificationRecord,
};
use meritree_store::StoreError;

use crate::clock;

service!(
    /// Notifications: the member's centre, read state and the kinds they want.
    Notifications,
    notifications
);

/// What to tell a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    /// A page of this site it is about.
    pub link: Option<String>,
}

impl Notice {
    pub fn new(kind: NotificationKind, title: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            kind,
            title: title.into(),
            body: body.into(),
            link: None,
        }
    }

    pub fn linking(mut self, link: impl Into<String>) -> Self {
        self.link = Some(link.into());
        self
    }

    /// The notice for `account_id`, to be kept in a batch
    /// ([`Notifications::deliver_kept`] then tells the member).
    pub(crate) fn composed_for(self, account_id: &str) -> Composed {
        Composed {
            account_id: account_id.to_owned(),
            kind: self.kind.as_str(),
            title: self.title,
            body: self.body,
            link: self.link,
        }
    }
}

/// How long a notification is kept: the centre is a recent history, not
/// an archive (the ledger, the work and the audit log keep what matters).
pub const RETENTION_SECS: i64 = 90 * 24 * 3600;

/// The most notifications one pass forgets, so a backlog is worked off a
/// batch at a time rather than in one long transaction.
const FORGET_BATCH: u32 = 10_000;

impl Notifications<'_> {
    /// Forgets notifications older than [`RETENTION_SECS`], a batch at a
    /// time (the settlement loop calls this every pass); how many.
    pub async fn forget_old(&self, now: i64) -> Result<u64, StoreError> {
        store::delete_older_than(self.db(), now - RETENTION_SECS, FORGET_BATCH).await
    }

    /// Keeps `notice` in the account's centre and pushes it to its open
    /// pages and subscribed browsers. A side effect of something that already happened: a failure
    /// is logged and never fails that.
    pub async fn notify(&self, account_id: &str, notice: Notice) {
        let stored = store::insert(
            self.db(),
            NewNotification {
                account_id,
                kind: notice.kind.as_str(),
                title: &notice.title,
                body: &notice.body,
                link: notice.link.as_deref(),
                now: clock::unix_secs(),
            },
        )
        .await;
        match stored {
            Ok(Some(record)) => {
                if let Some(notification) = view(record) {
                    self.push().send_later(account_id, &notification);
                    self.hub().publish(
                        Audience::Account(account_id.to_owned()),
                        LiveEvent::Notification { notification },
                    );
                }
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %err, kind = notice.kind.as_str(), "notification not kept")
            }
        }
    }

    /// Tells members of the notices a batch kept (inside the change they
    /// tell of): pushes them to their browsers, and returns the events for
    /// their open pages, for the caller to publish paced with its own.
    pub(crate) fn deliver_kept(&self, kept: Vec<Kept>) -> Vec<(Audience, LiveEvent)> {
        let mut events = Vec::with_capacity(kept.len());
        let mut pushes = Vec::with_capacity(kept.len());
        for Kept { account_id, record } in kept {
            let Some(notification) = view(record) else {
                continue;
            };
            events.push((
                Audience::Account(account_id.clone()),
                LiveEvent::Notification {
                    notification: notification.clone(),
                },
            ));
            pushes.push((account_id, notification));
        }
        self.push().send_many_later(pushes);
        events
    }

    /// The account's newest notifications and how many are unread.
    pub async fn centre(&self, account_id: &AccountId) -> Result<NotificationCentre, StoreError> {
        let notifications = store::newest(self.db(), account_id, PAGE_SIZE)
            .await?
            .into_iter()
            .filter_map(view)
            .collect();
        Ok(NotificationCentre {
            unread: store::unread(self.db(), account_id).await?,
            notifications,
        })
    }

    /// How many of the account's notifications are unread.
    pub async fn unread(&self, account_id: &AccountId) -> Result<u32, StoreError> {
        store::unread(self.db(), account_id).await
    }

    /// Marks every notification up to `up_to` (an id) read.
    pub async fn mark_read(
        &self,
        account_id: &AccountId,
        up_to: i64,
    ) -> Result<NotificationCentre, StoreError> {
        store::mark_read(self.db(), account_id, up_to, clock::unix_secs()).await?;
        self.centre(account_id).await
    }

    pub async fn preferences(
        &self,
        account_id: &AccountId,
    ) -> Result<NotificationPreferences, StoreError> {
        let muted = store::muted(self.db(), account_id)
            .await?
            .iter()
            .filter_map(|kind| kind.parse().ok())
            .collect();
        Ok(NotificationPreferences { muted })
    }

    /// Replaces the kinds the account turned off.
    pub async fn set_preferences(
        &self,
        account_id: &AccountId,
        preferences: &NotificationPreferences,
    ) -> Result<NotificationPreferences, StoreError> {
        let kinds: Vec<&str> = preferences.muted.iter().map(|kind| kind.as_str()).collect();
        store::set_muted(self.db(), account_id, &kinds).await?;
        self.preferences(account_id).await
    }
}

/// A stored notification as its member sees it; `None` for a kind this
/// version no longer knows.
fn view(record: NotificationRecord) -> Option<NotificationView> {
    Some(NotificationView {
        id: record.id,
        kind: record.kind.parse().ok()?,
        title: record.title,
        body: record.body,
        link: record.link,
        created_at: record.created_at,
        read: record.read_at.is_some(),
    })
}

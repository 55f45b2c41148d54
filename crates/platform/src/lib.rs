//! The running platform: its handles (database now; AI router, chain and
//! cache as they arrive) and the services built on them.
//!
//! HTTP handlers in `server` and server functions in `app` both call these
//! services, so an operation has one implementation whatever the entry point.

pub mod status;

use std::sync::Arc;
use std::time::Instant;

use meritree_store::{instance, Database, StoreError};

/// Cheap to clone: every clone shares the same handles.
#[derive(Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    instance_id: String,
    started_at: Instant,
}

impl Platform {
    /// Wraps a migrated database; creates the instance identity on first start.
    pub async fn start(db: Database) -> Result<Self, StoreError> {
        let instance_id = instance::ensure_instance_id(&db).await?;
        tracing::info!(%instance_id, backend = %db.backend(), "platform started");
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                instance_id,
                started_at: Instant::now(),
            }),
        })
    }

    pub fn db(&self) -> &Database {
        &self.inner.db
    }

    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }
}

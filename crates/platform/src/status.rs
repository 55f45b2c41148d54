//! Health checks of every component, for `/readyz` and the status page.

use meritree_core::status::{Component, ComponentReport, Health, StatusReport};
use meritree_core::VERSION;

use crate::{clock, Platform};

impl Platform {
    /// Checks each component now.
    pub async fn status(&self) -> StatusReport {
        StatusReport {
            version: VERSION.to_owned(),
            instance_id: self.instance_id().to_owned(),
            uptime_secs: self.inner.started_at.elapsed().as_secs(),
            checked_at_unix_ms: clock::unix_ms(),
            components: vec![self.check_database().await],
        }
    }

    async fn check_database(&self) -> ComponentReport {
        let db = self.db();
        let (health, latency_micros) = match db.ping().await {
            Ok(rtt) => (
                Health::Up,
                Some(rtt.as_micros().try_into().unwrap_or(u64::MAX)),
            ),
            Err(err) => {
                tracing::warn!(error = %err, "database health check failed");
                (Health::Down, None)
            }
        };
        ComponentReport {
            component: Component::Database,
            health,
            detail: db.backend().to_string(),
            latency_micros,
        }
    }
}

#[cfg(test)]
mod tests {
    use meritree_store::testing::TestDatabase;
    use meritree_store::{test_both_backends, Backend, Database, PoolOptions};

    use super::*;

    test_both_backends! {
        async fn reports_a_reachable_database_as_up(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = Database::connect(&test_db.target, PoolOptions::default()).await.unwrap();
            db.migrate().await.unwrap();
            let platform = Platform::start(db, Default::default()).await.unwrap();

            let report = platform.status().await;
            assert_eq!(report.overall(), Health::Up);
            assert_eq!(report.components[0].detail, backend.name());
            assert!(report.components[0].latency_micros.is_some());

            platform.db().close().await;
            let report = platform.status().await;
            assert_eq!(report.overall(), Health::Down);
            assert_eq!(report.components[0].latency_micros, None);
        }
    }
}

//! Health checks of every component, for `/readyz` and the status page.

use meritree_ai::router::BreakerState;
use meritree_core::status::{AiProviderReport, Component, ComponentReport, Health, StatusReport};
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
            ai_providers: self.ai_providers(),
        }
    }

    /// The AI gateway's upstreams and their breakers.
    pub fn ai_providers(&self) -> Vec<AiProviderReport> {
        let Some(gateway) = self.gateway() else {
            return Vec::new();
        };
        let mut reports: Vec<AiProviderReport> = gateway
            .providers()
            .into_iter()
            .map(|p| {
                let b = p.breaker;
                let (health, breaker) = match b.state {
                    BreakerState::Closed => (Health::Up, "closed"),
                    BreakerState::HalfOpen => (Health::Degraded, "half_open"),
                    BreakerState::Open => (Health::Down, "open"),
                };
                AiProviderReport {
                    name: p.name,
                    health,
                    breaker: breaker.to_owned(),
                    consecutive_failures: b.consecutive_failures,
                    window_requests: b.window_requests,
                    window_failures: b.window_failures,
                    reopens_in_ms: b
                        .reopens_in
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                    detail: String::new(),
                }
            })
            .collect();
        reports.extend(gateway.disabled().iter().map(|d| AiProviderReport {
            name: d.name.clone(),
            health: Health::Down,
            breaker: "disabled".to_owned(),
            consecutive_failures: 0,
            window_requests: 0,
            window_failures: 0,
            reopens_in_ms: None,
            detail: d.reason.clone(),
        }));
        reports
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

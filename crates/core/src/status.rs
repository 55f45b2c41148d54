//! The platform's health as reported by `/readyz` and the `/status` page.

use serde::{Deserialize, Serialize};

/// How well a component works, ordered from best to worst.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Works as configured.
    Up,
    /// Works, but slower or with less capacity than configured.
    Degraded,
    /// Does not work.
    Down,
}

impl Health {
    pub const fn label(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Degraded => "degraded",
            Health::Down => "down",
        }
    }
}

/// One part of the platform whose health is checked.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    Database,
}

impl Component {
    pub const fn label(self) -> &'static str {
        match self {
            Component::Database => "Database",
        }
    }
}

/// The result of checking one component.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentReport {
    pub component: Component,
    pub health: Health,
    /// What was checked against, e.g. the database backend.
    pub detail: String,
    /// Round-trip time of the check; `None` when it failed before timing.
    pub latency_micros: Option<u64>,
}

/// A point-in-time health report of the whole platform.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    /// This installation's identity, stable across restarts.
    pub instance_id: String,
    pub uptime_secs: u64,
    /// When the server ran these checks, in Unix milliseconds.
    pub checked_at_unix_ms: u64,
    pub components: Vec<ComponentReport>,
    /// The AI gateway's upstreams; empty when the gateway is off.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub ai_providers: Vec<AiProviderReport>,
}

/// One AI upstream as the gateway's circuit breaker sees it
/// (`GET /api/v1/network/providers`, the `/status` page).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiProviderReport {
    pub name: String,
    /// Up: calls pass. Degraded: one probe is being let through after an
    /// outage. Down: held off (breaker open) or left out of the router.
    pub health: Health,
    /// `closed`, `open`, `half_open`, or `disabled` (not in the router).
    pub breaker: String,
    pub consecutive_failures: u32,
    pub window_requests: u32,
    pub window_failures: u32,
    /// While open: milliseconds until a probe is let through.
    pub reopens_in_ms: Option<u64>,
    /// Why a disabled provider is out, e.g. its key variable is unset.
    pub detail: String,
}

impl StatusReport {
    /// The platform is as healthy as its least healthy component.
    pub fn overall(&self) -> Health {
        self.components
            .iter()
            .map(|c| c.health)
            .max()
            .unwrap_or(Health::Up)
    }
}

/// Formats Unix milliseconds as `YYYY-MM-DD HH:MM:SS.mmm UTC`.
///
/// Civil-from-days after Howard Hinnant's algorithm, so the client can show
/// server times without pulling a date library into the wasm bundle.
pub fn format_unix_ms(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);

    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);

    format!(
        "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}.{:03} UTC",
        unix_ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(healths: &[Health]) -> StatusReport {
        StatusReport {
            version: "0.1.0".into(),
            instance_id: "i".into(),
            uptime_secs: 0,
            checked_at_unix_ms: 0,
            components: healths
                .iter()
                .map(|&health| ComponentReport {
                    component: Component::Database,
                    health,
                    detail: String::new(),
                    latency_micros: None,
                })
                .collect(),
            ai_providers: Vec::new(),
        }
    }

    #[test]
    fn overall_is_the_worst_component() {
        assert_eq!(report(&[]).overall(), Health::Up);
        assert_eq!(report(&[Health::Up, Health::Up]).overall(), Health::Up);
        assert_eq!(
            report(&[Health::Up, Health::Degraded]).overall(),
            Health::Degraded
        );
        assert_eq!(
            report(&[Health::Down, Health::Degraded, Health::Up]).overall(),
            Health::Down
        );
    }

    #[test]
    fn formats_unix_milliseconds_as_utc() {
        assert_eq!(format_unix_ms(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(
            format_unix_ms(951_782_400_000),
            "2000-02-29 00:00:00.000 UTC"
        );
        assert_eq!(
            format_unix_ms(1_795_325_645_123),
            "2026-11-22 05:34:05.123 UTC"
        );
        assert_eq!(
            format_unix_ms(4_102_444_799_999),
            "2099-12-31 23:59:59.999 UTC"
        );
    }
}

//! Configuration: documented defaults, then a TOML file, then environment
//! variables `MERITREE_<SECTION>__<KEY>` (e.g. `MERITREE_SERVER__PORT=8080`).
//! Every key and its default is listed in `meritree.example.toml`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use meritree_platform::sessions::SessionPolicy;
use meritree_platform::PlatformOptions;
use meritree_store::{DatabaseTarget, PoolOptions, StoreError};
use serde::{Deserialize, Serialize};

/// Read from the working directory when no file is named.
pub const DEFAULT_CONFIG_FILE: &str = "meritree.toml";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub auth: AuthSettings,
    pub chain: ChainSettings,
    pub rate_limits: RateLimitSettings,
    pub cache: CacheSettings,
    pub storage: StorageSettings,
    pub log: LogSettings,
    pub site: SiteSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub host: IpAddr,
    /// 0 picks a free port (tests do this).
    pub port: u16,
    /// How long in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
    /// The address people reach the platform at, e.g. `https://meritree.example`.
    /// Empty: whatever Host the request names, over plain HTTP. When set, it
    /// is the only origin allowed to make cookie-authenticated writes, and an
    /// `https` URL makes session cookies `Secure`.
    pub public_url: String,
    /// Reverse proxies in front of the server that append to
    /// `X-Forwarded-For`; 0 takes the TCP peer as the client.
    pub trusted_proxy_hops: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 3000,
            shutdown_grace_secs: 10,
            public_url: String::new(),
            trusted_proxy_hops: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Lifetime of an access token; also how long a revoked session's last
    /// token can still be used.
    pub access_token_minutes: u32,
    /// Lifetime of a refresh token: how long a session lasts unused.
    pub refresh_token_days: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        let policy = SessionPolicy::default();
        Self {
            access_token_minutes: (policy.access_ttl_secs / 60) as u32,
            refresh_token_days: (policy.refresh_ttl_secs / 86_400) as u32,
        }
    }
}

impl AuthSettings {
    pub fn session_policy(&self) -> SessionPolicy {
        SessionPolicy {
            access_ttl_secs: i64::from(self.access_token_minutes.max(1)) * 60,
            refresh_ttl_secs: i64::from(self.refresh_token_days.max(1)) * 86_400,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub register_per_ip_per_hour: u32,
    pub sign_in_per_ip_per_minute: u32,
    /// Password attempts per email address, from any number of IPs.
    pub sign_in_per_email_per_hour: u32,
    pub nonce_per_ip_per_minute: u32,
    pub api_per_account_per_minute: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            register_per_ip_per_hour: 20,
            sign_in_per_ip_per_minute: 30,
            sign_in_per_email_per_hour: 30,
            nonce_per_ip_per_minute: 30,
            api_per_account_per_minute: 600,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// `redis://host:port/db`: rate limits (and later pub-sub and the
    /// response cache) shared by every instance. Empty: in process.
    pub redis_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainSettings {
    /// The EIP-155 chain id wallets sign in for. 31337 is the local anvil
    /// chain of the embedded default.
    pub chain_id: u64,
    /// JSON-RPC endpoint of that chain, for contract-wallet (EIP-1271)
    /// signatures and settlement. Empty: none.
    pub rpc_url: String,
}

impl Default for ChainSettings {
    fn default() -> Self {
        Self {
            chain_id: PlatformOptions::default().chain_id,
            rpc_url: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// Where the embedded database and other local state live.
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; empty for SQLite at `<data_dir>/meritree.db`.
    pub database_url: String,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
}

impl Default for StorageSettings {
    fn default() -> Self {
        let pool = PoolOptions::default();
        Self {
            data_dir: PathBuf::from("data"),
            database_url: String::new(),
            max_connections: pool.max_connections,
            acquire_timeout_secs: pool.acquire_timeout.as_secs(),
        }
    }
}

impl StorageSettings {
    pub fn database_target(&self) -> Result<DatabaseTarget, StoreError> {
        if self.database_url.trim().is_empty() {
            Ok(DatabaseTarget::SqliteFile(
                self.data_dir.join("meritree.db"),
            ))
        } else {
            DatabaseTarget::parse(self.database_url.trim())
        }
    }

    pub fn pool_options(&self) -> PoolOptions {
        PoolOptions {
            max_connections: self.max_connections.max(1),
            acquire_timeout: Duration::from_secs(self.acquire_timeout_secs.max(1)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter: `info`, `meritree=debug,sqlx=warn`, …
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info,sqlx=warn".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteSettings {
    /// The built client: wasm, JS glue, CSS and public files (`scripts/build`).
    pub root: PathBuf,
}

impl Default for SiteSettings {
    fn default() -> Self {
        Self {
            root: PathBuf::from("target/site"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} not found")]
    MissingFile(PathBuf),
    #[error(transparent)]
    Invalid(#[from] Box<figment::Error>),
}

impl Settings {
    /// Loads the configuration. A file named explicitly must exist.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let file = match file {
            Some(path) if !path.is_file() => return Err(ConfigError::MissingFile(path.into())),
            Some(path) => path.to_owned(),
            None => PathBuf::from(DEFAULT_CONFIG_FILE),
        };
        Self::figment(Toml::file(file))
            .extract()
            .map_err(|e| Box::new(e).into())
    }

    /// Defaults, then `source`, then the environment.
    fn figment(source: impl figment::Provider) -> Figment {
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(source)
            .merge(
                Env::prefixed("MERITREE_")
                    // Only SECTION__KEY variables are settings; MERITREE_CONFIG
                    // and others with the prefix are not.
                    .filter(|key| key.as_str().contains("__"))
                    .split("__"),
            )
    }
}

#[cfg(test)]
// Jail's closures must return figment's own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;

    use super::*;

    #[test]
    fn defaults_are_the_embedded_setup() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let settings = Settings::load(None).unwrap();
            assert_eq!(settings, Settings::default());
            assert_eq!(settings.server.port, 3000);
            assert_eq!(settings.server.host.to_string(), "127.0.0.1");
            assert_eq!(
                settings.storage.database_target().unwrap(),
                DatabaseTarget::SqliteFile("data/meritree.db".into())
            );
            Ok(())
        });
    }

    #[test]
    fn file_then_environment_override_defaults() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "custom.toml",
                "[server]\nport = 8080\n[storage]\ndatabase_url = \"postgres://db/m\"\n",
            )?;
            jail.set_env("MERITREE_SERVER__PORT", "9090");
            jail.set_env("MERITREE_LOG__FORMAT", "json");
            jail.set_env("MERITREE_CONFIG", "ignored-as-a-setting");
            let settings = Settings::load(Some(Path::new("custom.toml"))).unwrap();
            assert_eq!(settings.server.port, 9090);
            assert_eq!(settings.log.format, LogFormat::Json);
            assert_eq!(
                settings.storage.database_target().unwrap().backend(),
                meritree_store::Backend::Postgres
            );
            Ok(())
        });
    }

    #[test]
    fn the_documented_example_is_the_defaults() {
        let example = include_str!("../../meritree.example.toml");
        let settings: Settings = Figment::from(Toml::string(example)).extract().unwrap();
        assert_eq!(settings, Settings::default());
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("meritree.toml", "[server]\nprot = 8080\n")?;
            assert!(Settings::load(None).is_err());
            jail.create_file("meritree.toml", "[server]\nport = \"eighty\"\n")?;
            assert!(Settings::load(None).is_err());
            jail.create_file("meritree.toml", "")?;
            jail.set_env("MERITREE_SERVR__PORT", "1");
            assert!(Settings::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn a_named_file_must_exist() {
        let err = Settings::load(Some(Path::new("/nonexistent/meritree.toml"))).unwrap_err();
        assert!(matches!(err, ConfigError::MissingFile(_)));
    }
}

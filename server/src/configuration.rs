//! Configuration: documented defaults, then a TOML file, then environment
//! variables `MERITREE_<SECTION>__<KEY>` (e.g. `MERITREE_SERVER__PORT=8080`).
//! Every key and its default is listed in `meritree.example.toml`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use meritree_ai::config::AiSettings;
use meritree_core::eth::{Address, U256};
use meritree_core::submissions::fraud::FraudPolicy;
use meritree_core::submissions::judge::Rubric;
use meritree_core::submissions::payout::PayoutRule;
use meritree_platform::access::{LimitPolicy, Origin, Site};
use meritree_platform::accounts::telegram::TelegramBot;
use meritree_platform::compute::ComputePolicy;
use meritree_platform::mailer::{MailError, Mailer};
use meritree_platform::push::PushPolicy;
use meritree_platform::rounds::RewardsPolicy;
use meritree_platform::sealing::SealingKey;
use meritree_platform::sessions::SessionPolicy;
use meritree_platform::submissions::images::ImageStorage;
use meritree_platform::{PlatformOptions, WorkPolicy};
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
    pub rewards: RewardsSettings,
    pub work: WorkSettings,
    pub compute: ComputeSettings,
    pub rate_limits: RateLimitSettings,
    pub cache: CacheSettings,
    pub email: EmailSettings,
    pub ai: AiSettings,
    pub storage: StorageSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
    pub site: SiteSettings,
    pub telegram: TelegramSettings,
    pub push: PushSettings,
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
    /// Unset: the listen address over plain HTTP (loopback also as
    /// `localhost`). Only this site's origins may make cookie-authenticated
    /// writes or be named by a Sign-In With Ethereum message; an `https`
    /// URL makes session cookies `Secure`.
    pub public_url: Option<String>,
    /// Further origins the same site is reached at, e.g.
    /// `["https://www.meritree.example"]`.
    pub aliases: Vec<String>,
    /// Reverse proxies in front of the server that append to
    /// `X-Forwarded-For`; 0 takes the TCP peer as the client.
    pub trusted_proxy_hops: usize,
    /// Threads that run requests and the platform's tasks. Unset: one per
    /// core. On a machine whose cores other busy programs share (a load
    /// balancer, the database, a community node), fewer threads hand work
    /// between each other less often.
    pub workers: Option<usize>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 3000,
            shutdown_grace_secs: 10,
            public_url: None,
            aliases: Vec::new(),
            trusted_proxy_hops: 0,
            workers: None,
        }
    }
}

impl ServerSettings {
    /// Where to listen, as configured (port 0: any free port).
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
    /// This site's origins: `public_url` and `aliases` when set, else the
    /// address the server listens on. Checked by [`Settings::load`].
    pub fn site(&self, local_addr: SocketAddr) -> Site {
        let aliases = self.aliases.iter().filter_map(|a| Origin::of_url(a));
        match self.public_url.as_deref().and_then(Origin::of_url) {
            Some(primary) => Site::new(primary, aliases),
            None => {
                let listen = Site::from_listen_addr(local_addr);
                Site::new(
                    listen.primary().clone(),
                    listen.origins()[1..].iter().cloned().chain(aliases),
                )
            }
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        let url = |key: &'static str, value: &str| match Origin::of_url(value) {
            Some(_) => Ok(()),
            None => Err(ConfigError::Value {
                key,
                message: format!("{value:?} is not an http(s) URL"),
            }),
        };
        if let Some(public_url) = &self.public_url {
            url("server.public_url", public_url)?;
        }
        for alias in &self.aliases {
            url("server.aliases", alias)?;
        }
        Ok(())
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
    /// How often a page's live socket checks again that its sign-in (or
    /// key) still holds; one signed out elsewhere is closed within this.
    pub socket_recheck_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        let policy = SessionPolicy::default();
        Self {
            access_token_minutes: (policy.access_ttl_secs / 60) as u32,
            refresh_token_days: (policy.refresh_ttl_secs / 86_400) as u32,
            socket_recheck_secs: policy.socket_recheck_secs,
        }
    }
}

impl AuthSettings {
    pub fn session_policy(&self) -> SessionPolicy {
        SessionPolicy {
            access_ttl_secs: i64::from(self.access_token_minutes) * 60,
            refresh_ttl_secs: i64::from(self.refresh_token_days) * 86_400,
            socket_recheck_secs: self.socket_recheck_secs,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub register_per_ip_per_hour: u32,
    pub sign_in_per_ip_per_minute: u32,
    /// Failed password sign-ins per email address, from any number of IPs
    /// (a correct sign-in is never refused by it).
    pub sign_in_per_email_per_hour: u32,
    pub nonce_per_ip_per_minute: u32,
    pub api_per_account_per_minute: u32,
    /// Emails sent on request (password reset, verification again) per
    /// client IP, per address and per account.
    pub emails_per_hour: u32,
    /// Wrong passwords and two-factor codes per account outside sign-in's
    /// per-email limit (second factors, re-authentication, password
    /// changes); over it even a right guess waits.
    pub secret_failures_per_account_per_hour: u32,
    /// Image uploads per account (each is decoded and re-encoded).
    pub images_per_account_per_hour: u32,
}

impl RateLimitSettings {
    pub fn policy(&self) -> LimitPolicy {
        LimitPolicy {
            enabled: self.enabled,
            register_per_ip_per_hour: self.register_per_ip_per_hour,
            sign_in_per_ip_per_minute: self.sign_in_per_ip_per_minute,
            nonce_per_ip_per_minute: self.nonce_per_ip_per_minute,
            api_per_account_per_minute: self.api_per_account_per_minute,
            emails_per_hour: self.emails_per_hour,
            secret_failures_per_account_per_hour: self.secret_failures_per_account_per_hour,
            images_per_account_per_hour: self.images_per_account_per_hour,
        }
    }
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
            emails_per_hour: 5,
            secret_failures_per_account_per_hour: 10,
            images_per_account_per_hour: 60,
        }
    }
}

/// Where account emails (address verification, password reset) go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    /// `smtp://host:port` (plain), `smtp://host:port?tls=required`
    /// (STARTTLS) or `smtps://user:password@host:465`. Empty: each message,
    /// with its link, is written to the log.
    pub smtp_url: Secret,
    /// The sender, e.g. `Meritree <no-reply@meritree.example>`.
    pub from: String,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            smtp_url: Secret::default(),
            from: meritree_platform::mailer::DEFAULT_FROM.to_owned(),
        }
    }
}

impl EmailSettings {
    pub fn mailer(&self) -> Result<Mailer, MailError> {
        match self.smtp_url.get() {
            None => Mailer::log(&self.from),
            Some(url) => Mailer::smtp(url, &self.from),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// `redis://host:port/db`: rate limits (and later pub-sub and the
    /// response cache) shared by every instance. Empty: in process.
    pub redis_url: Secret,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainSettings {
    /// The EIP-155 chain id wallets sign in for. 31337 is the local anvil
    /// chain of the embedded default.
    pub chain_id: u64,
    /// A chain known by name (`ethereum`, `bsc`, `base`, `arbitrum`,
    /// `polygon`): sets `chain_id` (which, if given, must agree) and
    /// `confirmations` (unless given).
    pub preset: Option<String>,
    /// JSON-RPC endpoint of that chain, for contract-wallet (EIP-1271)
    /// signatures and settlement. Unset: the embedded local chain, if
    /// `embedded`, else none.
    pub rpc_url: Option<String>,
    /// More endpoints of the same chain, tried in turn when the one in use
    /// fails (it is tried again later).
    pub fallback_rpc_urls: Vec<String>,
    /// With no `rpc_url`: start a local anvil (state kept in the data
    /// directory) and deploy the contracts on it.
    pub embedded: bool,
    /// The anvil binary for the embedded chain (installed by scripts/setup).
    pub anvil_bin: PathBuf,
    /// Name of the environment variable holding the platform's private key
    /// (hex) on a configured chain; it publishes roots and relays claims.
    pub signer_key_env: String,
    /// The distributor and reward token on a configured chain.
    pub distributor_address: Option<Address>,
    pub token_address: Option<Address>,
    /// The block the distributor was deployed in (scans of its events start there).
    pub deployed_block: u64,
    /// When the distributor replaced an earlier one: the block that one was
    /// deployed in. Its payouts count when checking the distributor holds
    /// enough tokens for a round.
    pub legacy_deployed_block: u64,
    /// Blocks on top of a transaction's own before it counts as final;
    /// unset: the preset's, else 1.
    pub confirmations: Option<u64>,
    /// Seconds a transaction may wait before it is re-sent with higher fees.
    pub bump_after_secs: u64,
    /// Seconds between passes of the settlement loop (rounds, publication, outbox).
    pub tick_secs: u64,
}

impl Default for ChainSettings {
    fn default() -> Self {
        Self {
            chain_id: PlatformOptions::default().chain_id,
            preset: None,
            rpc_url: None,
            fallback_rpc_urls: Vec::new(),
            embedded: true,
            anvil_bin: PathBuf::from(meritree_chain::anvil::DEFAULT_BINARY),
            signer_key_env: "MERITREE_CHAIN_KEY".into(),
            distributor_address: None,
            token_address: None,
            deployed_block: 0,
            legacy_deployed_block: 0,
            confirmations: None,
            bump_after_secs: 30,
            tick_secs: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RewardsSettings {
    /// Length of a settlement round; rounds end on multiples of it.
    pub round_secs: u64,
    /// Token base units one point becomes at settlement.
    pub token_units_per_point: TokenUnits,
}

impl Default for RewardsSettings {
    fn default() -> Self {
        let policy = RewardsPolicy::default();
        Self {
            round_secs: policy.round_secs,
            token_units_per_point: TokenUnits(policy.token_units_per_point),
        }
    }
}

impl RewardsSettings {
    pub fn policy(&self) -> RewardsPolicy {
        RewardsPolicy {
            round_secs: self.round_secs,
            token_units_per_point: self.token_units_per_point.0,
        }
    }
}

/// How work is taken in, evaluated and paid (`[work]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkSettings {
    /// Submissions one account may make per round.
    pub max_per_round: u32,
    /// The theme of rounds no admin set one for.
    pub default_theme: String,
    /// Points each round's pool shares out.
    pub pool: u64,
    /// `{kind = "proportional", threshold, per_account_cap}` or
    /// `{kind = "top_n", n}`.
    pub rule: PayoutRule,
    /// Seconds a closed round's pool waits for unfinished evaluations.
    pub payout_deadline_secs: i64,
    /// The gateway name the judge is asked through.
    pub judge_model: String,
    /// Answers asked of the judge before a submission fails.
    pub judge_attempts: u32,
    pub rubric: Rubric,
    /// The gateway name embeddings come from.
    pub embedding_model: String,
    /// Cosine similarity at or above which work is a near-duplicate.
    pub duplicate_similarity: f32,
    /// Bits of the images' difference hashes at or below which a picture
    /// is a near-duplicate (0 to 3).
    pub image_duplicate_distance: u32,
    /// Whole words that send work to the moderators.
    pub block_list: Vec<String>,
    /// A moderation model (`provider/model` or a route, listed with the
    /// `moderation` capability) asked about every text; unset, the
    /// judge's safety verdict and the block list moderate.
    pub moderation_model: Option<String>,
    pub fraud: FraudPolicy,
    /// Tries of a stage after provider errors before it is dead-lettered.
    pub max_attempts: u32,
    /// Seconds a worker holds a job before another instance may take it
    /// over (after a crash).
    pub lease_secs: i64,
    /// Evaluation workers in this instance.
    pub workers: u32,
}

impl Default for WorkSettings {
    fn default() -> Self {
        let policy = WorkPolicy::default();
        Self {
            max_per_round: policy.max_per_round,
            default_theme: policy.default_theme,
            pool: policy.pool,
            rule: policy.rule,
            payout_deadline_secs: policy.payout_deadline_secs,
            judge_model: policy.judge_model,
            judge_attempts: policy.judge_attempts,
            rubric: policy.rubric,
            embedding_model: policy.embedding_model,
            duplicate_similarity: policy.duplicate_similarity,
            image_duplicate_distance: policy.image_duplicate_distance,
            block_list: policy.block_list,
            moderation_model: policy.moderation_model,
            fraud: policy.fraud,
            max_attempts: policy.max_attempts,
            lease_secs: policy.lease_secs,
            workers: 2,
        }
    }
}

/// The compute network (`[compute]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComputeSettings {
    /// Seconds a task's lease lasts past its node's last heartbeat.
    pub lease_secs: u64,
    /// How often nodes send heartbeats.
    pub heartbeat_secs: u64,
    /// Failures (a node's error, a lease that ran out) before a task fails.
    pub max_attempts: u32,
    /// Points a node's operator earns per completed task...
    pub reward_per_task: i64,
    /// ...and per 1,000 tokens processed.
    pub reward_per_1k_tokens: i64,
    /// Token base units an operator must stake (a decimal string) for
    /// their nodes to take tasks; unset: staking is off.
    pub min_stake: Option<TokenUnits>,
    /// The `NodeStaking` contract on a configured chain (the embedded
    /// chain deploys its own).
    pub staking_address: Option<Address>,
    /// Seconds an unstake waits before it can be withdrawn, for the
    /// contract the embedded chain deploys.
    pub unstake_cooldown_secs: u64,
    /// Thousandths of completed tasks run again by a second node and
    /// compared (0: none).
    pub verify_per_mille: u32,
    /// Seconds a check waits for another node before its task is paid
    /// unchecked.
    pub verify_timeout_secs: u64,
    /// Cosine at or above which two embeddings agree.
    pub embedding_agreement: f32,
    /// Cosine of two chat answers' embeddings at or above which they agree.
    pub chat_agreement: f32,
    /// Seconds a task may run on one node, heartbeats or not.
    pub max_task_secs: u64,
    /// Tasks one member may have waiting or running at once.
    pub max_open_tasks: u32,
    /// How often a connected node's credential is checked again: a revoked
    /// key, an ended session or a lost role closes its socket.
    pub credential_recheck_secs: u64,
}

impl Default for ComputeSettings {
    fn default() -> Self {
        let policy = ComputePolicy::default();
        Self {
            lease_secs: policy.lease_secs,
            heartbeat_secs: policy.heartbeat_secs,
            max_attempts: policy.max_attempts,
            reward_per_task: policy.reward_per_task,
            reward_per_1k_tokens: policy.reward_per_1k_tokens,
            min_stake: None,
            staking_address: None,
            unstake_cooldown_secs: 7 * 86_400,
            verify_per_mille: policy.verify_per_mille,
            verify_timeout_secs: policy.verify_timeout_secs,
            embedding_agreement: policy.embedding_agreement,
            chat_agreement: policy.chat_agreement,
            max_task_secs: policy.max_task_secs,
            max_open_tasks: policy.max_open_tasks,
            credential_recheck_secs: policy.credential_recheck_secs,
        }
    }
}

impl ComputeSettings {
    pub fn policy(&self) -> ComputePolicy {
        ComputePolicy {
            lease_secs: self.lease_secs,
            heartbeat_secs: self.heartbeat_secs,
            max_attempts: self.max_attempts,
            reward_per_task: self.reward_per_task,
            reward_per_1k_tokens: self.reward_per_1k_tokens,
            verify_per_mille: self.verify_per_mille,
            verify_timeout_secs: self.verify_timeout_secs,
            embedding_agreement: self.embedding_agreement,
            chat_agreement: self.chat_agreement,
            max_task_secs: self.max_task_secs,
            max_open_tasks: self.max_open_tasks,
            credential_recheck_secs: self.credential_recheck_secs,
        }
    }
}

impl StorageSettings {
    /// Image files go in the database when it is PostgreSQL, which every
    /// instance sharing it reads; under the data directory otherwise.
    pub fn image_storage(&self) -> ImageStorage {
        match self.database_target() {
            Ok(target) if target.backend() == meritree_store::Backend::Postgres => {
                ImageStorage::Database
            }
            _ => ImageStorage::Files(self.data_dir.join("images")),
        }
    }
}

impl WorkSettings {
    /// The policy, with image files kept in `image_storage` and the
    /// near-duplicate index saved in `index_dir`.
    pub fn policy(&self, image_storage: ImageStorage, index_dir: PathBuf) -> WorkPolicy {
        WorkPolicy {
            max_per_round: self.max_per_round,
            default_theme: self.default_theme.clone(),
            pool: self.pool,
            rule: self.rule,
            payout_deadline_secs: self.payout_deadline_secs,
            judge_model: self.judge_model.clone(),
            rubric: self.rubric.clone(),
            judge_attempts: self.judge_attempts,
            embedding_model: self.embedding_model.clone(),
            duplicate_similarity: self.duplicate_similarity,
            image_duplicate_distance: self.image_duplicate_distance,
            image_storage,
            index_dir: Some(index_dir),
            block_list: self.block_list.clone(),
            moderation_model: self.moderation_model.clone(),
            fraud: self.fraud.clone(),
            max_attempts: self.max_attempts,
            lease_secs: self.lease_secs,
        }
    }
}

/// A positive token amount, written as a decimal string because it
/// outgrows TOML's 64-bit integers (an integer is accepted too, as
/// environment variables arrive as numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenUnits(pub U256);

impl Serialize for TokenUnits {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TokenUnits {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = TokenUnits;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a positive whole number of token base units, as a decimal string")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<TokenUnits, E> {
                let digits = text.trim();
                // from_str_radix would also take `_`; a typo must not pass.
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(E::invalid_value(serde::de::Unexpected::Str(text), &self));
                }
                match U256::from_str_radix(digits, 10) {
                    Ok(units) if !units.is_zero() => Ok(TokenUnits(units)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(text), &self)),
                }
            }

            fn visit_u64<E: serde::de::Error>(self, units: u64) -> Result<TokenUnits, E> {
                self.visit_str(&units.to_string())
            }

            fn visit_i64<E: serde::de::Error>(self, units: i64) -> Result<TokenUnits, E> {
                self.visit_str(&units.to_string())
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// Where the embedded database and other local state live.
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; empty for SQLite at `<data_dir>/meritree.db`.
    pub database_url: Secret,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
    /// The file holding the key that seals secrets in the database (64 hex
    /// characters), made on first start; empty: `<data_dir>/secrets.key`.
    /// The environment variable `MERITREE_SECRETS_KEY`, when set, is used
    /// instead.
    pub secrets_key_file: PathBuf,
}

/// The environment variable that holds the sealing key, if not a file.
pub const SECRETS_KEY_ENV: &str = "MERITREE_SECRETS_KEY";

impl Default for StorageSettings {
    fn default() -> Self {
        let pool = PoolOptions::default();
        Self {
            data_dir: PathBuf::from("data"),
            secrets_key_file: PathBuf::new(),
            database_url: Secret::default(),
            max_connections: pool.max_connections,
            acquire_timeout_secs: pool.acquire_timeout.as_secs(),
        }
    }
}

impl StorageSettings {
    /// Where the sealing key's file is.
    pub fn secrets_key_path(&self) -> PathBuf {
        match self.secrets_key_file.as_os_str().is_empty() {
            true => self.data_dir.join("secrets.key"),
            false => self.secrets_key_file.clone(),
        }
    }

    /// The key sealing secrets in the database: `MERITREE_SECRETS_KEY`, else
    /// the key file, written (readable by its owner only) on first start.
    pub fn sealing_key(&self) -> Result<SealingKey, String> {
        if let Ok(hex) = std::env::var(SECRETS_KEY_ENV) {
            return SealingKey::parse_hex(&hex).map_err(|err| format!("{SECRETS_KEY_ENV}: {err}"));
        }
        let path = self.secrets_key_path();
        let read = |path: &Path| {
            let text = std::fs::read_to_string(path)
                .map_err(|err| format!("cannot read the secrets key {}: {err}", path.display()))?;
            SealingKey::parse_hex(&text).map_err(|err| format!("{}: {err}", path.display()))
        };
        if path.exists() {
            return read(&path);
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        }
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // Written whole under another name, then linked into place: an
        // instance starting at the same moment reads a complete key or
        // none, and the first link wins.
        let mut staging = path.clone().into_os_string();
        staging.push(format!(".{}", std::process::id()));
        let staging = PathBuf::from(staging);
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&staging)
            .and_then(|mut file| {
                file.write_all(format!("{}\n", SealingKey::generate_hex()).as_bytes())?;
                file.sync_all()
            })
            .and_then(|()| std::fs::hard_link(&staging, &path))
            // The link itself must survive a power cut: sealed rows would
            // outlive a key that vanished.
            .and_then(|()| {
                let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
                std::fs::File::open(dir.unwrap_or(Path::new("."))).and_then(|dir| dir.sync_all())
            });
        let _ = std::fs::remove_file(&staging);
        match written {
            Ok(()) => {
                tracing::info!(path = %path.display(), "secrets key created: back it up with the database");
                read(&path)
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => read(&path),
            Err(err) => Err(format!(
                "cannot create the secrets key {}: {err}",
                path.display()
            )),
        }
    }

    pub fn database_target(&self) -> Result<DatabaseTarget, StoreError> {
        match self.database_url.get() {
            None => Ok(DatabaseTarget::SqliteFile(
                self.data_dir.join("meritree.db"),
            )),
            Some(url) => DatabaseTarget::parse(url),
        }
    }

    pub fn pool_options(&self) -> PoolOptions {
        PoolOptions {
            max_connections: self.max_connections,
            acquire_timeout: Duration::from_secs(self.acquire_timeout_secs),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter: `info`, `meritree=debug,sqlx=warn`, …
    pub filter: String,
    /// An OTLP/HTTP collector's base URL (`http://127.0.0.1:4318`) to send
    /// traces to; only builds with the `otlp` feature can.
    pub otlp_endpoint: Option<String>,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info,sqlx=warn".into(),
            otlp_endpoint: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// The bearer token a Prometheus scraper sends to `GET /metrics`.
    /// Empty: `/metrics` is not served (404).
    pub token: Secret,
}

/// The Telegram Mini App (`/tg`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramSettings {
    /// The token @BotFather gave the bot whose Mini App opens `/tg`; it
    /// checks the launch data Telegram signs. Set it in the environment
    /// (`MERITREE_TELEGRAM__BOT_TOKEN`). Empty: Telegram sign-in is off.
    pub bot_token: Secret,
}

impl TelegramSettings {
    pub fn bot(&self) -> Option<TelegramBot> {
        self.bot_token.get().map(TelegramBot::new)
    }
}

/// Web Push: notices sent to members' browsers through their push services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushSettings {
    /// The push services subscriptions may point at (the server sends to
    /// the URL a browser's subscription names, so only to these). A name
    /// starting with a dot takes any host under it. The default lists
    /// Chrome's, Edge's, Firefox's and Safari's.
    pub services: Vec<String>,
    /// Also send to plain-HTTP endpoints (a push service on this machine,
    /// for tests). Off in production.
    pub allow_http: bool,
    /// How push services can reach the operator: a `mailto:` or `https:`
    /// URL. Unset: the site's address.
    pub subject: Option<String>,
}

impl Default for PushSettings {
    fn default() -> Self {
        let policy = PushPolicy::default();
        Self {
            services: policy.services,
            allow_http: policy.allow_http,
            subject: policy.subject,
        }
    }
}

impl PushSettings {
    fn check(&self) -> Result<(), ConfigError> {
        if let Some(subject) = &self.subject {
            let contact = subject
                .strip_prefix("mailto:")
                .map(|address| address.contains('@'))
                .unwrap_or_else(|| subject.starts_with("https://") && subject.len() > 8);
            if !contact {
                return Err(ConfigError::Value {
                    key: "push.subject",
                    message: format!("{subject:?} is not a mailto: or https: URL"),
                });
            }
        }
        for service in &self.services {
            let host = service.trim_start_matches('.');
            let named = !host.is_empty()
                && host.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '*' | '[' | ']')
                });
            if !named {
                return Err(ConfigError::Value {
                    key: "push.services",
                    message: format!("{service:?} is not a host name (a dot first for any host under it, :port or :* after)"),
                });
            }
        }
        Ok(())
    }

    pub fn policy(&self) -> PushPolicy {
        PushPolicy {
            services: self.services.clone(),
            allow_http: self.allow_http,
            subject: self.subject.clone(),
            ..PushPolicy::default()
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

/// A setting that may carry a password (a database, Redis or SMTP URL):
/// written and read as plain text, never printed — `Debug` says only
/// whether it is set. Blank means absent.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The value, or `None` when absent (blank).
    pub fn get(&self) -> Option<&str> {
        let value = self.0.trim();
        (!value.is_empty()).then_some(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.get().is_some() {
            "Secret(redacted)"
        } else {
            "Secret(absent)"
        })
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} not found")]
    MissingFile(PathBuf),
    #[error("{key}: {message}")]
    Value { key: &'static str, message: String },
    #[error(transparent)]
    Invalid(#[from] Box<figment::Error>),
}

impl ChainSettings {
    /// Applies `preset`: its chain id (an explicit, different one is an
    /// error) and its confirmations (unless set).
    fn apply_preset(&mut self) -> Result<(), ConfigError> {
        let Some(name) = &self.preset else {
            return Ok(());
        };
        let preset = meritree_chain::presets::preset(name).ok_or_else(|| ConfigError::Value {
            key: "chain.preset",
            message: format!(
                "unknown chain {name:?}: use one of {}, or set chain_id and confirmations",
                meritree_chain::presets::PRESETS.map(|p| p.name).join(", ")
            ),
        })?;
        let default_id = ChainSettings::default().chain_id;
        if self.chain_id != default_id && self.chain_id != preset.chain_id {
            return Err(ConfigError::Value {
                key: "chain.chain_id",
                message: format!(
                    "{} is not {}'s id ({})",
                    self.chain_id, preset.name, preset.chain_id
                ),
            });
        }
        self.chain_id = preset.chain_id;
        self.confirmations.get_or_insert(preset.confirmations);
        Ok(())
    }

    /// Blocks on top of a transaction's own before it counts as final.
    pub fn confirmations(&self) -> u64 {
        self.confirmations.unwrap_or(1)
    }

    /// Every configured endpoint, `rpc_url` first.
    pub fn rpc_urls(&self) -> Vec<String> {
        self.rpc_url
            .iter()
            .chain(&self.fallback_rpc_urls)
            .map(|url| url.trim().to_owned())
            .filter(|url| !url.is_empty())
            .collect()
    }
}

impl Settings {
    /// Numbers that would make no sense are refused, naming their key,
    /// instead of being quietly raised to something that works.
    fn check_numbers(&self) -> Result<(), ConfigError> {
        fn within<T: PartialOrd + std::fmt::Display + Copy>(
            key: &'static str,
            value: T,
            min: T,
            max: T,
        ) -> Result<(), ConfigError> {
            if value < min || value > max {
                return Err(ConfigError::Value {
                    key,
                    message: format!("{value} is out of range: use {min} to {max}"),
                });
            }
            Ok(())
        }
        if let Some(workers) = self.server.workers {
            within("server.workers", workers, 1, 1024)?;
        }
        within(
            "auth.access_token_minutes",
            self.auth.access_token_minutes,
            1,
            24 * 60,
        )?;
        within(
            "auth.refresh_token_days",
            self.auth.refresh_token_days,
            1,
            366,
        )?;
        within(
            "auth.socket_recheck_secs",
            self.auth.socket_recheck_secs,
            1,
            3600,
        )?;
        within("rewards.round_secs", self.rewards.round_secs, 1, u64::MAX)?;
        within("work.max_per_round", self.work.max_per_round, 1, 10_000)?;
        within("work.pool", self.work.pool, 0, i64::MAX as u64)?;
        within(
            "work.payout_deadline_secs",
            self.work.payout_deadline_secs,
            0,
            7 * 86_400,
        )?;
        within("work.judge_attempts", self.work.judge_attempts, 1, 20)?;
        within("work.max_attempts", self.work.max_attempts, 1, 100)?;
        within("work.workers", self.work.workers, 1, 64)?;
        within("work.lease_secs", self.work.lease_secs, 1, 3_600)?;
        within(
            "compute.heartbeat_secs",
            self.compute.heartbeat_secs,
            1,
            300,
        )?;
        within(
            "compute.lease_secs",
            self.compute.lease_secs,
            self.compute.heartbeat_secs.saturating_mul(2),
            3_600,
        )?;
        within("compute.max_attempts", self.compute.max_attempts, 1, 100)?;
        within(
            "compute.verify_per_mille",
            self.compute.verify_per_mille,
            0,
            1_000,
        )?;
        within(
            "compute.verify_timeout_secs",
            self.compute.verify_timeout_secs,
            1,
            86_400,
        )?;
        within(
            "compute.embedding_agreement",
            self.compute.embedding_agreement,
            0.0,
            1.0,
        )?;
        within(
            "compute.chat_agreement",
            self.compute.chat_agreement,
            0.0,
            1.0,
        )?;
        within(
            "compute.max_task_secs",
            self.compute.max_task_secs,
            1,
            86_400,
        )?;
        within(
            "compute.max_open_tasks",
            self.compute.max_open_tasks,
            1,
            100_000,
        )?;
        within(
            "compute.reward_per_task",
            self.compute.reward_per_task,
            0,
            1_000_000,
        )?;
        within(
            "compute.reward_per_1k_tokens",
            self.compute.reward_per_1k_tokens,
            0,
            1_000_000,
        )?;
        within(
            "work.image_duplicate_distance",
            self.work.image_duplicate_distance,
            0,
            meritree_core::submissions::image::MAX_SEARCHABLE_DISTANCE,
        )?;
        within(
            "work.fraud.window_secs",
            self.work.fraud.window_secs,
            1,
            30 * 86_400,
        )?;
        if !(self.work.duplicate_similarity > 0.0 && self.work.duplicate_similarity <= 1.0) {
            return Err(ConfigError::Value {
                key: "work.duplicate_similarity",
                message: format!(
                    "{} is out of range: use above 0 to 1",
                    self.work.duplicate_similarity
                ),
            });
        }
        if let Err(err) = self.work.rubric.check() {
            return Err(ConfigError::Value {
                key: "work.rubric",
                message: err.to_string(),
            });
        }
        within(
            "storage.max_connections",
            self.storage.max_connections,
            1,
            10_000,
        )?;
        within(
            "storage.acquire_timeout_secs",
            self.storage.acquire_timeout_secs,
            1,
            3_600,
        )?;
        within("chain.tick_secs", self.chain.tick_secs, 1, 3_600)?;
        within("ai.retry.max_attempts", self.ai.retry.max_attempts, 1, 100)?;
        within(
            "ai.retry.deadline_secs",
            self.ai.retry.deadline_secs,
            1,
            3_600,
        )?;
        within(
            "ai.breaker.consecutive_failures",
            self.ai.breaker.consecutive_failures,
            1,
            10_000,
        )?;
        if self.rate_limits.enabled {
            let r = &self.rate_limits;
            for (key, value) in [
                (
                    "rate_limits.register_per_ip_per_hour",
                    r.register_per_ip_per_hour,
                ),
                (
                    "rate_limits.sign_in_per_ip_per_minute",
                    r.sign_in_per_ip_per_minute,
                ),
                (
                    "rate_limits.sign_in_per_email_per_hour",
                    r.sign_in_per_email_per_hour,
                ),
                (
                    "rate_limits.nonce_per_ip_per_minute",
                    r.nonce_per_ip_per_minute,
                ),
                (
                    "rate_limits.api_per_account_per_minute",
                    r.api_per_account_per_minute,
                ),
                ("rate_limits.emails_per_hour", r.emails_per_hour),
                (
                    "rate_limits.secret_failures_per_account_per_hour",
                    r.secret_failures_per_account_per_hour,
                ),
                (
                    "rate_limits.images_per_account_per_hour",
                    r.images_per_account_per_hour,
                ),
            ] {
                within(key, value, 1, u32::MAX)?;
            }
        }
        Ok(())
    }

    /// Loads the configuration. A file named explicitly must exist.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let file = match file {
            Some(path) if !path.is_file() => return Err(ConfigError::MissingFile(path.into())),
            Some(path) => path.to_owned(),
            None => PathBuf::from(DEFAULT_CONFIG_FILE),
        };
        let mut settings: Self = Self::figment(Toml::file(file))
            .extract()
            .map_err(Box::new)?;
        settings.chain.apply_preset()?;
        settings.server.check()?;
        settings.push.check()?;
        settings.check_numbers()?;
        settings.email.mailer().map_err(|e| ConfigError::Value {
            key: "email",
            message: e.to_string(),
        })?;
        Ok(settings)
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
    fn a_chain_preset_sets_the_id_and_confirmations_an_explicit_value_keeps() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "meritree.toml",
                "[chain]\npreset = \"base\"\nrpc_url = \"https://a.example\"\nfallback_rpc_urls = [\"https://b.example\", \" \"]\n",
            )?;
            let settings = Settings::load(None).unwrap();
            assert_eq!(
                (settings.chain.chain_id, settings.chain.confirmations()),
                (8453, 10)
            );
            assert_eq!(
                settings.chain.rpc_urls(),
                ["https://a.example", "https://b.example"]
            );
            jail.set_env("MERITREE_CHAIN__CONFIRMATIONS", "3");
            assert_eq!(Settings::load(None).unwrap().chain.confirmations(), 3);
            jail.set_env("MERITREE_CHAIN__CHAIN_ID", "8453");
            assert!(Settings::load(None).is_ok(), "the preset's own id agrees");
            jail.set_env("MERITREE_CHAIN__CHAIN_ID", "1");
            let wrong = Settings::load(None).unwrap_err().to_string();
            assert!(
                wrong.contains("chain.chain_id") && wrong.contains("8453"),
                "{wrong}"
            );
            jail.set_env("MERITREE_CHAIN__PRESET", "solana");
            let unknown = Settings::load(None).unwrap_err().to_string();
            assert!(
                unknown.contains("chain.preset") && unknown.contains("arbitrum"),
                "{unknown}"
            );
            Ok(())
        });
    }

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
    fn out_of_range_numbers_and_bad_urls_are_refused_by_name() {
        for (key, value) in [
            ("MERITREE_AUTH__ACCESS_TOKEN_MINUTES", "0"),
            ("MERITREE_STORAGE__MAX_CONNECTIONS", "0"),
            ("MERITREE_CHAIN__TICK_SECS", "0"),
            ("MERITREE_RATE_LIMITS__API_PER_ACCOUNT_PER_MINUTE", "0"),
            ("MERITREE_SERVER__PUBLIC_URL", "meritree.example"),
            ("MERITREE_EMAIL__SMTP_URL", "ftp://mail.example"),
            ("MERITREE_CHAIN__DISTRIBUTOR_ADDRESS", "0xnot-an-address"),
        ] {
            Jail::expect_with(|jail| {
                jail.clear_env();
                jail.set_env(key, value);
                let err = Settings::load(None).unwrap_err().to_string();
                let section = key
                    .trim_start_matches("MERITREE_")
                    .split("__")
                    .next()
                    .unwrap();
                assert!(
                    err.to_lowercase().contains(&section.to_lowercase()),
                    "{key}: {err}"
                );
                Ok(())
            });
        }
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("MERITREE_RATE_LIMITS__ENABLED", "false");
            jail.set_env("MERITREE_RATE_LIMITS__API_PER_ACCOUNT_PER_MINUTE", "0");
            assert!(
                Settings::load(None).is_ok(),
                "quotas of a disabled limiter do not matter"
            );
            Ok(())
        });
    }

    #[test]
    fn secrets_never_print() {
        let mut settings = Settings::default();
        settings.storage.database_url = "postgres://meritree:hunter2@db/meritree".into();
        settings.cache.redis_url = "redis://:hunter2@cache".into();
        settings.email.smtp_url = "smtps://me:hunter2@mail.example".into();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("Secret(redacted)"));
        assert_eq!(Secret::from("  ").get(), None);
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
            jail.create_file("meritree.toml", "[server]\nworkers = 0\n")?;
            assert!(Settings::load(None).is_err());
            jail.create_file("meritree.toml", "[server]\nworkers = 2\n")?;
            assert_eq!(Settings::load(None).unwrap().server.workers, Some(2));
            for push in [
                "subject = \"ops@example.org\"",
                "subject = \"http://x\"",
                "services = [\"https://fcm.googleapis.com\"]",
                "services = [\".\"]",
            ] {
                jail.create_file("meritree.toml", &format!("[push]\n{push}\n"))?;
                assert!(Settings::load(None).is_err(), "{push}");
            }
            jail.create_file(
                "meritree.toml",
                "[push]\nsubject = \"mailto:ops@example.org\"\nservices = [\"127.0.0.1:*\"]\n",
            )?;
            assert!(Settings::load(None).is_ok());
            jail.create_file("meritree.toml", "")?;
            jail.set_env("MERITREE_SERVR__PORT", "1");
            assert!(Settings::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn rewards_token_units_are_decimal() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "meritree.toml",
                "[rewards]\nround_secs = 60\ntoken_units_per_point = \"1000000000000000000000000\"\n",
            )?;
            let settings = Settings::load(None).unwrap();
            assert_eq!(settings.rewards.policy().round_secs, 60);
            assert_eq!(
                settings.rewards.token_units_per_point.0,
                U256::from(10_u64).pow(U256::from(24_u64))
            );
            jail.set_env("MERITREE_REWARDS__TOKEN_UNITS_PER_POINT", "1000");
            let settings = Settings::load(None).unwrap();
            assert_eq!(
                settings.rewards.token_units_per_point.0,
                U256::from(1000_u64)
            );
            // Past 64 bits an environment value stays a string.
            jail.set_env(
                "MERITREE_REWARDS__TOKEN_UNITS_PER_POINT",
                "1000000000000000000000000",
            );
            let settings = Settings::load(None).unwrap();
            assert_eq!(
                settings.rewards.token_units_per_point.0,
                U256::from(10_u64).pow(U256::from(24_u64))
            );
            for bad in ["\"0x10\"", "\"1_000\"", "\"0\"", "\"-1\"", "\"\"", "1.5"] {
                jail.clear_env();
                jail.create_file(
                    "meritree.toml",
                    &format!("[rewards]\ntoken_units_per_point = {bad}\n"),
                )?;
                assert!(Settings::load(None).is_err(), "{bad} accepted");
            }
            Ok(())
        });
    }

    #[test]
    fn a_named_file_must_exist() {
        let err = Settings::load(Some(Path::new("/nonexistent/meritree.toml"))).unwrap_err();
        assert!(matches!(err, ConfigError::MissingFile(_)));
    }
}

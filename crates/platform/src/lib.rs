//! The running platform: its handles (database now; AI router, chain and
//! cache as they arrive) and the services built on them.
//!
//! HTTP handlers in `server` and server functions in `app` both call these
//! services, so an operation has one implementation whatever the entry point.

/// Declares a service: a view of the platform's shared handles (database,
/// chain, gateway, limits) reached by name, e.g. `platform.accounts()`, so
/// every operation lives in its domain and the doors find it there.
macro_rules! service {
    ($(#[$doc:meta])* $service:ident, $accessor:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $service<'a>(&'a $crate::Platform);

        impl std::ops::Deref for $service<'_> {
            type Target = $crate::Platform;

            fn deref(&self) -> &$crate::Platform {
                self.0
            }
        }

        impl $crate::Platform {
            pub fn $accessor(&self) -> $service<'_> {
                $service(self)
            }
        }
    };
}

pub mod access;
pub mod accounts;
pub mod ai;
pub mod audit;
pub mod chain;
pub mod clock;
pub mod competitions;
pub mod compute;
pub mod error;
pub mod evaluation;
mod group_commit;
pub mod invalidation;
pub mod live;
pub mod mailer;
pub mod metrics;
pub mod notifications;
pub mod points;
pub mod principal;
pub mod profile;
pub mod push;
pub mod rate_limit;
pub mod redis_connection;
pub mod rounds;
pub mod sealing;
mod secret;
pub mod sessions;
pub mod status;
pub mod submissions;

use std::sync::Arc;
use std::time::Instant;

use meritree_ai::Gateway;
use meritree_chain::Chain;

use crate::access::{LimitPolicy, RequestContext, Site};
use crate::ai::ResponseCache;
use crate::chain::Settlement;
use crate::compute::{ComputePolicy, ComputeState, Staking};
use crate::evaluation::PipelineState;
use crate::live::Hub;
use crate::mailer::Mailer;
use meritree_store::{instance, secrets, Database, StoreError};

use crate::rate_limit::{Quota, RateLimiter};
use crate::rounds::RewardsPolicy;
use crate::sessions::cookies::CookiePolicy;
use crate::sessions::{AccessTokenKey, SessionPolicy};
pub use crate::submissions::WorkPolicy;

/// Tunables the server reads from its configuration.
#[derive(Debug, Clone)]
pub struct PlatformOptions {
    pub sessions: SessionPolicy,
    pub cookies: CookiePolicy,
    /// The EIP-155 chain wallets sign in for (and settlement uses).
    pub chain_id: u64,
    /// The origins people reach the platform at (CSRF, SIWE).
    pub site: Site,
    /// Request limits per IP and per account, and where they are counted.
    pub limits: LimitPolicy,
    pub limiter: RateLimiter,
    /// Reverse proxies in front of the server that append to
    /// `X-Forwarded-For`; 0 takes the TCP peer as the client.
    pub trusted_proxy_hops: usize,
    /// Failed password sign-ins per email, whatever the client's address:
    /// the defence against guessing spread over many IPs that never locks
    /// out the right credentials. `None`: no limit.
    pub sign_in_limit: Option<SignInLimit>,
    /// The chain RPC, for contract-wallet signatures and settlement.
    pub chain: Option<Chain>,
    /// The platform's key and contracts on that chain; `None`: rounds close
    /// and settle, but roots are not published and claims are refused.
    pub settlement: Option<Settlement>,
    /// Round length and what a point is worth on chain.
    pub rewards: RewardsPolicy,
    /// The AI gateway (providers, routes, breakers); `None`: AI is off.
    pub gateway: Option<Arc<Gateway>>,
    /// The AI response cache: in process unless the server connects it to
    /// Redis.
    pub ai_cache: ResponseCache,
    /// Where account emails (verification, password reset) go.
    pub mailer: Mailer,
    /// How work is taken in, evaluated and paid.
    pub work: WorkPolicy,
    /// How the compute network leases tasks and pays nodes.
    pub compute: ComputePolicy,
    /// The stake nodes' operators must hold on chain; `None`: staking off.
    pub staking: Option<Staking>,
    /// Seals the secrets the database keeps (the access-token key, TOTP
    /// secrets). Every instance on one database needs the same key.
    pub sealing_key: sealing::SealingKey,
    /// The bot whose Mini App this is; `None`: Telegram sign-in is off.
    pub telegram: Option<accounts::telegram::TelegramBot>,
    /// Where Web Push messages may go.
    pub push: push::PushPolicy,
}

/// How many password sign-ins one email address may attempt.
#[derive(Debug, Clone)]
pub struct SignInLimit {
    pub limiter: RateLimiter,
    pub quota: Quota,
}

impl Default for PlatformOptions {
    fn default() -> Self {
        Self {
            sessions: SessionPolicy::default(),
            cookies: CookiePolicy::default(),
            // anvil's, the embedded default chain.
            chain_id: 31_337,
            site: Site::from_listen_addr(std::net::SocketAddr::from(([127, 0, 0, 1], 3000))),
            limits: LimitPolicy::default(),
            limiter: RateLimiter::in_memory(),
            trusted_proxy_hops: 0,
            sign_in_limit: None,
            chain: None,
            settlement: None,
            rewards: RewardsPolicy::default(),
            gateway: None,
            ai_cache: ResponseCache::in_memory(),
            mailer: Mailer::log(mailer::DEFAULT_FROM).expect("the default sender parses"),
            work: WorkPolicy::default(),
            compute: ComputePolicy::default(),
            staking: None,
            sealing_key: sealing::SealingKey::process_wide(),
            telegram: None,
            push: push::PushPolicy::default(),
        }
    }
}

/// Cheap to clone: every clone shares the same handles.
#[derive(Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

/// A platform handle that does not keep it alive: for parts the platform
/// itself holds (the gateway's `nodes` provider).
#[derive(Clone)]
pub struct WeakPlatform(std::sync::Weak<Inner>);

impl WeakPlatform {
    pub fn upgrade(&self) -> Option<Platform> {
        self.0.upgrade().map(|inner| Platform { inner })
    }
}

struct Inner {
    db: Database,
    instance_id: String,
    started_at: Instant,
    access_key: AccessTokenKey,
    sessions: SessionPolicy,
    cookie_policy: CookiePolicy,
    chain_id: u64,
    telegram: Option<accounts::telegram::TelegramBot>,
    site: Site,
    limits: LimitPolicy,
    limiter: RateLimiter,
    trusted_proxy_hops: usize,
    sign_in_limit: Option<SignInLimit>,
    chain: Option<Chain>,
    settlement: Option<Settlement>,
    rewards: RewardsPolicy,
    gateway: Option<Arc<Gateway>>,
    ai_cache: ResponseCache,
    mailer: Mailer,
    usage_writer: ai::usage_writer::UsageWriter,
    ledger_writer: points::LedgerWriter,
    compute_writers: compute::writers::ComputeWriters,
    work: WorkPolicy,
    hub: Hub,
    pipeline: PipelineState,
    compute: ComputePolicy,
    staking: Option<Staking>,
    compute_state: ComputeState,
    /// The settlement lease's fence while this instance holds it; 0 when
    /// it never took the lease (a platform driven by hand, as in tests),
    /// -1 once it lost it (every fenced write is refused).
    settlement_fence: std::sync::atomic::AtomicI64,
    sealing: sealing::SealingKey,
    metrics: metrics::Metrics,
    freshness: invalidation::Freshness,
    key_cache: access::key_cache::KeyCache,
    standing_cache: access::standing::StandingCache,
    budget_cache: ai::budget_cache::BudgetCache,
    push: push::PushState,
}

impl Platform {
    /// Wraps a migrated database. On first start creates the instance
    /// identity and the access-token key, which every instance on the same
    /// database then shares.
    pub async fn start(db: Database, options: PlatformOptions) -> Result<Self, StoreError> {
        let instance_id = instance::ensure_instance_id(&db).await?;
        let sealing = options.sealing_key.clone();
        let key = sealed_secret(&db, &sealing, ACCESS_TOKEN_KEY, || {
            secret::random_bytes::<32>().to_vec()
        })
        .await?;
        let vapid = sealed_secret(&db, &sealing, VAPID_KEY, push::vapid::VapidKey::generate)
            .await
            .map(|bytes| push::vapid::VapidKey::from_bytes(&bytes))?
            .ok_or_else(|| StoreError::Sealed(format!("{VAPID_KEY} is not a P-256 key")))?;
        seal_totp_secrets(&db, &sealing).await?;
        accounts::email::backfill_skeletons(&db).await?;
        tracing::info!(%instance_id, backend = %db.backend(), "platform started");
        Ok(Self {
            inner: Arc::new(Inner {
                usage_writer: ai::usage_writer::UsageWriter::spawn(ai::usage_writer::UsageSink(
                    db.clone(),
                )),
                ledger_writer: points::LedgerWriter::spawn(points::LedgerSink(db.clone())),
                compute_writers: compute::writers::ComputeWriters::spawn(&db),
                db,
                instance_id,
                started_at: Instant::now(),
                access_key: AccessTokenKey::new(&key),
                sessions: options.sessions,
                cookie_policy: options.cookies,
                chain_id: options.chain_id,
                telegram: options.telegram,
                site: options.site,
                limits: options.limits,
                limiter: options.limiter,
                trusted_proxy_hops: options.trusted_proxy_hops,
                sign_in_limit: options.sign_in_limit,
                chain: options.chain,
                settlement: options.settlement,
                rewards: options.rewards,
                gateway: options.gateway,
                ai_cache: options.ai_cache,
                mailer: options.mailer,
                work: options.work,
                hub: Hub::new(),
                pipeline: PipelineState::default(),
                compute: options.compute,
                staking: options.staking,
                settlement_fence: std::sync::atomic::AtomicI64::new(0),
                sealing,
                compute_state: ComputeState::default(),
                metrics: metrics::Metrics::default(),
                freshness: Default::default(),
                key_cache: Default::default(),
                standing_cache: Default::default(),
                budget_cache: Default::default(),
                push: push::PushState::new(vapid, options.push),
            }),
        })
    }

    pub fn downgrade(&self) -> WeakPlatform {
        WeakPlatform(Arc::downgrade(&self.inner))
    }

    pub(crate) fn ledger_writer(&self) -> &points::LedgerWriter {
        &self.inner.ledger_writer
    }

    pub(crate) fn freshness(&self) -> &invalidation::Freshness {
        &self.inner.freshness
    }

    pub(crate) fn key_cache(&self) -> &access::key_cache::KeyCache {
        &self.inner.key_cache
    }

    pub(crate) fn standing_cache(&self) -> &access::standing::StandingCache {
        &self.inner.standing_cache
    }

    pub(crate) fn budget_cache(&self) -> &ai::budget_cache::BudgetCache {
        &self.inner.budget_cache
    }

    pub(crate) fn push_state(&self) -> &push::PushState {
        &self.inner.push
    }

    pub(crate) fn usage_writer(&self) -> &ai::usage_writer::UsageWriter {
        &self.inner.usage_writer
    }

    pub(crate) fn compute_writers(&self) -> &compute::writers::ComputeWriters {
        &self.inner.compute_writers
    }

    pub fn gateway(&self) -> Option<&Arc<Gateway>> {
        self.inner.gateway.as_ref()
    }

    /// How sessions last, and how often live sockets re-check them.
    pub fn session_policy(&self) -> &SessionPolicy {
        &self.inner.sessions
    }

    /// How work is taken in, evaluated and paid.
    pub fn work_policy(&self) -> &WorkPolicy {
        &self.inner.work
    }

    /// Where services publish live events.
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// How the compute network leases tasks and pays nodes.
    pub fn compute_policy(&self) -> &ComputePolicy {
        &self.inner.compute
    }

    pub(crate) fn staking(&self) -> Option<&Staking> {
        self.inner.staking.as_ref()
    }

    /// The nodes connected to this instance.
    pub fn compute_state(&self) -> &ComputeState {
        &self.inner.compute_state
    }

    pub(crate) fn pipeline(&self) -> &PipelineState {
        &self.inner.pipeline
    }

    pub fn mailer(&self) -> &Mailer {
        &self.inner.mailer
    }

    pub fn db(&self) -> &Database {
        &self.inner.db
    }

    /// The key sealing secrets kept in the database.
    pub(crate) fn sealing(&self) -> &sealing::SealingKey {
        &self.inner.sealing
    }

    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    /// The origins people reach the platform at.
    pub fn site(&self) -> &Site {
        &self.inner.site
    }

    /// What the services need from a request's headers and peer address,
    /// read one way for every door.
    pub fn request_context(
        &self,
        headers: &http::HeaderMap,
        peer: Option<std::net::SocketAddr>,
    ) -> RequestContext {
        RequestContext::from_headers(headers, peer, self.inner.trusted_proxy_hops)
    }
}

/// The name the access-token key is stored under, and its sealing context.
const ACCESS_TOKEN_KEY: &str = "access_token_hmac";
/// The server's Web Push (VAPID) private key.
const VAPID_KEY: &str = "vapid_private_key";

/// A server secret every instance on the database shares: made by `make`
/// and sealed on the first start; one stored before sealing existed is
/// sealed now.
async fn sealed_secret(
    db: &Database,
    sealing: &sealing::SealingKey,
    name: &str,
    make: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, StoreError> {
    let candidate = sealing.seal(name, &make());
    let stored = secrets::get_or_insert(db, name, &candidate, clock::unix_secs()).await?;
    match sealing.open(name, &stored) {
        Ok(sealing::Opened::Sealed(key)) => Ok(key),
        Ok(sealing::Opened::Plain(key)) => {
            secrets::replace(db, name, &stored, &sealing.seal(name, &key)).await?;
            tracing::info!(name, "a server secret is now sealed");
            Ok(key)
        }
        Err(err) => Err(StoreError::Sealed(err.to_string())),
    }
}

/// Seals TOTP secrets stored before sealing existed.
async fn seal_totp_secrets(db: &Database, sealing: &sealing::SealingKey) -> Result<(), StoreError> {
    let mut sealed = 0;
    for (account_id, stored) in meritree_store::totp::all_secrets(db).await? {
        if sealing::is_sealed(&stored) {
            continue;
        }
        let context = accounts::totp::sealing_context(&account_id);
        let new = sealing.seal(&context, &stored);
        if meritree_store::totp::replace_secret(db, &account_id, &stored, &new).await? {
            sealed += 1;
        }
    }
    if sealed > 0 {
        tracing::info!(sealed, "TOTP secrets sealed");
    }
    Ok(())
}

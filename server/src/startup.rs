//! Building and running the application.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::ListenerExt;
use leptos::config::LeptosOptions;
use meritree_chain::anvil::Anvil;
use meritree_chain::ChainError;
use meritree_platform::ai::ResponseCache;
use meritree_platform::compute::Staking;
use meritree_platform::rate_limit::{Quota, RateLimitError, RateLimiter};
use meritree_platform::sessions::cookies::CookiePolicy;
use meritree_platform::{compute, evaluation};
use meritree_platform::{Platform, PlatformOptions, SignInLimit};
use meritree_store::{Database, StoreError};
use tokio::net::TcpListener;

use crate::configuration::Settings;
use crate::routes::{self, AppState};
use crate::web_client::{WebClient, SITE_PKG_DIR};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration: {0}")]
    Config(String),
    #[error("cannot use the chain: {0}")]
    Chain(#[from] ChainError),
    #[error("cannot use Redis: {0}")]
    Redis(#[source] RateLimitError),
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
}

/// Connects to the configured database and applies pending migrations.
pub async fn connect_and_migrate(settings: &Settings) -> Result<Database, StoreError> {
    let target = settings.storage.database_target()?;
    let db = Database::connect(&target, settings.storage.pool_options()).await?;
    db.migrate().await?;
    Ok(db)
}

/// The platform's tunables from the configuration; `local_addr` is where
/// the server listens, this site's origin when no public URL is set.
pub fn platform_options(
    settings: &Settings,
    local_addr: SocketAddr,
) -> Result<PlatformOptions, StartupError> {
    let site = settings.server.site(local_addr);
    let sealing_key = settings
        .storage
        .sealing_key()
        .map_err(StartupError::Config)?;
    Ok(PlatformOptions {
        sessions: settings.auth.session_policy(),
        cookies: CookiePolicy {
            secure: site.primary().is_https(),
        },
        chain_id: settings.chain.chain_id,
        site,
        limits: settings.rate_limits.policy(),
        limiter: RateLimiter::in_memory(),
        trusted_proxy_hops: settings.server.trusted_proxy_hops,
        // Checked when the configuration was loaded.
        mailer: settings.email.mailer().unwrap_or_else(|err| {
            tracing::error!(error = %err, "email: falling back to the log");
            meritree_platform::mailer::Mailer::log(meritree_platform::mailer::DEFAULT_FROM)
                .expect("the default sender parses")
        }),
        sign_in_limit: None,
        chain: None,
        settlement: None,
        rewards: settings.rewards.policy(),
        work: settings.work.policy(
            settings.storage.image_storage(),
            settings.storage.data_dir.join("index"),
        ),
        gateway: None,
        ai_cache: ResponseCache::in_memory(),
        compute: settings.compute.policy(),
        staking: None,
        sealing_key,
        telegram: settings.telegram.bot(),
        push: settings.push.policy(),
    })
}

/// The stake check nodes pass, when `compute.min_stake` asks for one.
fn staking(
    settings: &Settings,
    chain: Option<&meritree_chain::Chain>,
    contract: Option<alloy::primitives::Address>,
) -> Result<Option<Staking>, StartupError> {
    let Some(min_stake) = &settings.compute.min_stake else {
        return Ok(None);
    };
    match (chain, contract) {
        (Some(chain), Some(contract)) => Ok(Some(Staking {
            chain: chain.clone(),
            contract,
            min_stake: min_stake.0,
        })),
        _ => Err(StartupError::Config(
            "compute.min_stake needs a chain with a NodeStaking contract (compute.staking_address)"
                .into(),
        )),
    }
}

/// `meritree migrate`.
pub async fn migrate(settings: &Settings) -> Result<(), StoreError> {
    let db = connect_and_migrate(settings).await?;
    tracing::info!(backend = %db.backend(), "migrations applied");
    db.close().await;
    Ok(())
}

/// A bound, ready-to-serve application.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    platform: Platform,
    shutdown_grace: Duration,
    /// How often the settlement loop runs.
    tick: Duration,
    /// Evaluation workers to run.
    workers: u32,
    anvil: Option<Anvil>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let db = connect_and_migrate(&settings).await?;
        // One Redis connection for the instance, when configured.
        let redis = match settings.cache.redis_url.get() {
            None => None,
            Some(url) => Some(
                meritree_platform::redis_connection::connect(url)
                    .await
                    .map_err(|e| StartupError::Config(format!("cache.redis_url: {e}")))?,
            ),
        };
        let limiter = match &redis {
            None => RateLimiter::in_memory(),
            Some(conn) => RateLimiter::on_redis(conn.clone())
                .await
                .map_err(StartupError::Redis)?,
        };
        let addr = settings.server.listen_addr();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?;
        let mut options = platform_options(&settings, local_addr)?;
        options.limiter = limiter.clone();
        if let Some(conn) = &redis {
            options.ai_cache = ResponseCache::on_redis(conn.clone());
        }
        if settings.rate_limits.enabled {
            options.sign_in_limit = Some(SignInLimit {
                limiter: limiter.clone(),
                quota: Quota::per_hour(settings.rate_limits.sign_in_per_email_per_hour),
            });
        }
        let chain = crate::chain::start(&settings, &db).await?;
        options.staking = staking(&settings, chain.chain.as_ref(), chain.staking)?;
        options.chain = chain.chain;
        options.settlement = chain.settlement;
        let nodes = meritree_platform::compute::NodesProvider::new();
        options.gateway = Some(crate::ai::start(&settings, nodes.clone())?);
        let platform = Platform::start(db, options).await?;
        nodes.attach(&platform);
        if let (Some(conn), Some(url)) = (redis, settings.cache.redis_url.get()) {
            meritree_platform::live::redis::bridge(&platform, url, conn)
                .map_err(|e| StartupError::Config(format!("cache.redis_url: {e}")))?;
        }

        let web_client = WebClient::find(&settings.site.root);
        let leptos_options = LeptosOptions::builder()
            .output_name(web_client.output_name.as_str())
            .site_root(settings.site.root.to_string_lossy().into_owned())
            .site_pkg_dir(SITE_PKG_DIR)
            .site_addr(local_addr)
            .build();
        let router = routes::router(AppState {
            platform: platform.clone(),
            leptos_options,
            site: platform.site().clone(),
            web_client,
            metrics_token: routes::metrics::MetricsToken(
                settings.metrics.token.get().map(Into::into),
            ),
        });

        Ok(Self {
            listener,
            router,
            platform,
            shutdown_grace: Duration::from_secs(settings.server.shutdown_grace_secs),
            tick: Duration::from_secs(settings.chain.tick_secs),
            workers: settings.work.workers,
            anvil: chain.anvil,
        })
    }

    /// The platform this application serves, e.g. for tests that drive
    /// rounds with their own clock.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The embedded chain's JSON-RPC URL, when it runs one.
    pub fn embedded_chain_url(&self) -> Option<String> {
        self.anvil.as_ref().map(|anvil| anvil.url().to_owned())
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish
    /// (up to the grace period) and closes the database.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let addr = self.local_addr();
        tracing::info!(%addr, url = %format!("http://{addr}"), "listening");
        let holder = uuid::Uuid::new_v4().to_string();
        let settlement = tokio::spawn(crate::settlement::run(
            self.platform.clone(),
            self.tick,
            holder.clone(),
        ));
        let compute = AbortOnDrop(vec![
            tokio::spawn(compute::dispatch::run(self.platform.clone())),
            tokio::spawn(compute::reaper::run(self.platform.clone())),
        ]);
        // The index is rebuilt while the server already serves; evaluation
        // waits for it, so no work is checked against a partial index.
        let evaluation = tokio::spawn({
            let platform = self.platform.clone();
            let workers = self.workers;
            async move {
                match platform.evaluation().rebuild_index().await {
                    Ok(vectors) => tracing::info!(vectors, "near-duplicate index loaded"),
                    Err(error) => {
                        tracing::error!(%error, "near-duplicate index not loaded; evaluation is off");
                        return;
                    }
                }
                let workers: Vec<_> = (0..workers)
                    .map(|_| tokio::spawn(evaluation::run_worker(platform.clone())))
                    .collect();
                // Aborting this task drops the guard, which aborts the workers.
                let _guard = AbortOnDrop(workers);
                std::future::pending::<()>().await;
            }
        });

        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        // Without TCP_NODELAY a small write (a stream's chunk, a node's
        // frame) following another waits for the peer's delayed ACK, about
        // 40 ms, on every exchange.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "TCP_NODELAY not set");
            }
        });
        let server = axum::serve(listener, service).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = stopping_tx.send(());
        });
        let mut server = std::pin::pin!(server.into_future());
        let result = tokio::select! {
            result = &mut server => result,
            Ok(()) = stopping_rx => {
                match tokio::time::timeout(self.shutdown_grace, &mut server).await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::warn!("in-flight requests outlived the shutdown grace period");
                        Ok(())
                    }
                }
            }
        };
        settlement.abort();
        crate::settlement::release(&self.platform, &holder).await;
        evaluation.abort();
        drop(compute);
        match self.platform.evaluation().save_index().await {
            Ok(vectors) if vectors > 0 => tracing::info!(vectors, "near-duplicate index saved"),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "near-duplicate index not saved; the next start rebuilds it")
            }
        }
        // Answers were sent before their usage rows were committed; a
        // database that does not answer must not hold the exit forever.
        match tokio::time::timeout(Duration::from_secs(5), self.platform.ai().flush_usage()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "queued AI usage not written"),
            Err(_) => tracing::error!("queued AI usage not written within 5 s of stopping"),
        }
        if let Some(anvil) = self.anvil {
            anvil.stop().await;
        }
        self.platform.db().close().await;
        tracing::info!("stopped");
        result.map_err(StartupError::Serve)
    }
}

/// Aborts its tasks when dropped.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed
/// when this is called, not when the future is first polled: a signal that
/// arrives as soon as the server says it listens must not kill it outright.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};

    let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
        Ok(signal) => Some(signal),
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for {name}");
            None
        }
    };
    let interrupt = listen(SignalKind::interrupt(), "SIGINT");
    let terminate = listen(SignalKind::terminate(), "SIGTERM");
    async move {
        let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(interrupt) => {},
            () = wait(terminate) => {},
        }
    }
}

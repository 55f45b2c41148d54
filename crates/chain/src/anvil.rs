//! A local anvil node: the embedded default chain, and the chain every
//! chain test runs against. The binary comes from the npm package
//! `@foundry-rs/anvil-linux-amd64`, which `scripts/setup` installs.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use alloy::providers::{Provider, ProviderBuilder};
use tokio::process::{Child, Command};

/// Where `scripts/setup` puts anvil, relative to the repository root.
pub const DEFAULT_BINARY: &str = "contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";

/// anvil's chain id unless told otherwise.
pub const CHAIN_ID: u64 = 31_337;

/// anvil's first development key (funded with 10,000 ETH); public knowledge,
/// for local chains only.
pub const DEV_KEY_0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// A running anvil; stopped when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AnvilError {
    #[error("anvil binary not found at {0} (run scripts/setup)")]
    NotFound(PathBuf),
    #[error("could not start anvil: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("anvil did not answer within {0:?}")]
    NotReady(Duration),
}

/// How to start anvil.
#[derive(Debug, Clone)]
pub struct AnvilOptions {
    pub binary: PathBuf,
    /// 0 picks a free port.
    pub port: u16,
    /// Chain state is loaded from and saved to this file, so the local chain
    /// survives restarts; `None` keeps it in memory.
    pub state_file: Option<PathBuf>,
    /// Leave transactions pending until a block is mined by hand
    /// (`evm_mine`): lets tests hold a transaction in the mempool.
    pub manual_mining: bool,
}

impl AnvilOptions {
    /// In memory, free port, mining every transaction at once.
    pub fn new(binary: PathBuf) -> Self {
        Self {
            binary,
            port: 0,
            state_file: None,
            manual_mining: false,
        }
    }
}

impl Anvil {
    /// Starts anvil and waits until it answers JSON-RPC.
    pub async fn start(options: &AnvilOptions) -> Result<Self, AnvilError> {
        if !options.binary.is_file() {
            return Err(AnvilError::NotFound(options.binary.clone()));
        }
        let port = match options.port {
            0 => free_port()?,
            port => port,
        };
        let mut command = Command::new(&options.binary);
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--chain-id", &CHAIN_ID.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(state) = &options.state_file {
            // Saved on a graceful exit and every few seconds, so a crash
            // loses at most the last blocks.
            command
                .arg("--state")
                .arg(state)
                .args(["--state-interval", "5"]);
        }
        if options.manual_mining {
            command.arg("--no-mining");
        }
        let child = command.spawn()?;
        let anvil = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        anvil.wait_until_ready(Duration::from_secs(20)).await?;
        tracing::info!(url = %anvil.url, "local anvil chain started");
        Ok(anvil)
    }

    /// The JSON-RPC endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops anvil, letting it write its state file first.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SIGTERM: anvil saves `--state` on a graceful exit; kill is the fallback.
            let _ = Command::new("kill").arg(pid.to_string()).status().await;
            if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }

    async fn wait_until_ready(&self, limit: Duration) -> Result<(), AnvilError> {
        let url = self.url.parse().expect("a valid loopback URL");
        let provider = ProviderBuilder::new().connect_http(url);
        let started = tokio::time::Instant::now();
        while started.elapsed() < limit {
            if provider.get_chain_id().await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(AnvilError::NotReady(limit))
    }
}

/// The anvil binary for tests: `MERITREE_ANVIL_BIN`, else the npm package's.
pub fn binary_for_tests(repo_root: &Path) -> PathBuf {
    std::env::var_os("MERITREE_ANVIL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root.join(DEFAULT_BINARY))
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

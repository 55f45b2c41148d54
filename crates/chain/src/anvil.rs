//! A local anvil node: the embedded default chain, and the chain every
//! chain test runs against. The binary comes from the npm package
//! `@foundry-rs/anvil-linux-amd64`, which `scripts/setup` installs.

use std::fs::File;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use alloy::providers::{Provider, ProviderBuilder};
use tokio::sync::oneshot;

/// Where `scripts/setup` puts anvil, relative to the repository root.
pub const DEFAULT_BINARY: &str = "contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";

/// anvil's chain id unless told otherwise.
pub const CHAIN_ID: u64 = 31_337;

/// anvil's first development key (funded with 10,000 ETH); public knowledge,
/// for local chains only.
pub const DEV_KEY_0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// How long a start waits for an earlier anvil on the same state file to
/// finish writing it (it saves on SIGTERM, which it gets when its server dies).
const STATE_LOCK_WAIT: Duration = Duration::from_secs(20);

/// A running anvil; killed when dropped, and never outliving this process:
/// it gets SIGTERM (and saves its state) when the process dies, however
/// it dies.
#[derive(Debug)]
pub struct Anvil {
    pid: libc::pid_t,
    exited: Option<oneshot::Receiver<()>>,
    url: String,
    /// Held (and shared with anvil) while either runs: a second start on
    /// the same state file waits until both are gone.
    _state_lock: Option<File>,
}

#[derive(Debug, thiserror::Error)]
pub enum AnvilError {
    #[error("anvil binary not found at {0} (run scripts/setup)")]
    NotFound(PathBuf),
    #[error("could not start anvil: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("anvil did not answer within {0:?}")]
    NotReady(Duration),
    #[error("another process keeps the chain state {0} in use (is another meritree running on this data directory?)")]
    StateInUse(PathBuf),
}

/// How to start anvil.
#[derive(Debug, Clone)]
pub struct AnvilOptions {
    pub binary: PathBuf,
    /// 0 picks a free port.
    pub port: u16,
    /// The chain id it serves.
    pub chain_id: u64,
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
            chain_id: CHAIN_ID,
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
        let state_lock = match &options.state_file {
            Some(state) => Some(lock_state(state).await?),
            None => None,
        };
        let mut command = Command::new(&options.binary);
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--chain-id", &options.chain_id.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(state) = &options.state_file {
            // Saved on exit (SIGTERM included) and every few seconds, so
            // only a crash of the whole machine loses the last blocks; the
            // outbox's reconciliation re-sends what they held.
            command
                .arg("--state")
                .arg(state)
                .args(["--state-interval", "5"]);
        }
        if options.manual_mining {
            command.arg("--no-mining");
        }
        let lock_fd = state_lock.as_ref().map(|file| file.as_raw_fd());
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: between fork and exec only async-signal-safe calls
        // (prctl, getppid, fcntl), touching nothing but the child's own
        // process attributes and fd table.
        unsafe {
            command.pre_exec(move || die_with_parent(parent, lock_fd));
        }
        let (pid, exited) = spawn_watched(command)?;
        let anvil = Self {
            pid,
            exited: Some(exited),
            url: format!("http://127.0.0.1:{port}"),
            _state_lock: state_lock,
        };
        anvil.wait_until_ready(Duration::from_secs(20)).await?;
        tracing::info!(url = %anvil.url, "local anvil chain started");
        Ok(anvil)
    }

    /// The JSON-RPC endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// anvil's process id.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Stops anvil, letting it write its state file first.
    pub async fn stop(mut self) {
        let Some(exited) = self.exited.take() else {
            return;
        };
        // SIGTERM: anvil saves `--state` on a graceful exit; SIGKILL is the fallback.
        signal(self.pid, libc::SIGTERM);
        let mut exited = exited;
        if tokio::time::timeout(Duration::from_secs(10), &mut exited)
            .await
            .is_err()
        {
            signal(self.pid, libc::SIGKILL);
            let _ = exited.await;
        }
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

impl Drop for Anvil {
    fn drop(&mut self) {
        // Not yet reaped, so the pid is still anvil's.
        if let Some(mut exited) = self.exited.take() {
            if matches!(exited.try_recv(), Err(oneshot::error::TryRecvError::Empty)) {
                signal(self.pid, libc::SIGKILL);
            }
        }
    }
}

/// Spawns `command` from a thread that lives exactly as long as the child:
/// the parent-death signal fires when the *thread* that forked exits, so a
/// pooled thread could kill anvil early. Returns the pid and a receiver
/// that resolves once the child is reaped.
fn spawn_watched(mut command: Command) -> std::io::Result<(libc::pid_t, oneshot::Receiver<()>)> {
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (exited_tx, exited_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("anvil".into())
        .spawn(move || {
            let mut child = match command.spawn() {
                Ok(child) => child,
                Err(err) => {
                    let _ = started_tx.send(Err(err));
                    return;
                }
            };
            let _ = started_tx.send(Ok(child.id() as libc::pid_t));
            let _ = child.wait();
            let _ = exited_tx.send(());
        })?;
    let pid = started_rx
        .recv()
        .map_err(|_| std::io::Error::other("the anvil thread ended before spawning"))??;
    Ok((pid, exited_rx))
}

/// In the child before exec: SIGTERM when the spawning thread dies (anvil
/// saves its state on SIGTERM), and the state lock inherited so it is held
/// until anvil itself has exited.
fn die_with_parent(
    parent: libc::pid_t,
    lock_fd: Option<std::os::fd::RawFd>,
) -> std::io::Result<()> {
    // SAFETY: plain syscalls on this process.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // The parent may have died before prctl: then nobody will signal.
        if libc::getppid() != parent {
            return Err(std::io::Error::other(
                "the server exited while starting anvil",
            ));
        }
        if let Some(fd) = lock_fd {
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// An exclusive lock beside the state file, waiting a while for an earlier
/// server's anvil to finish saving.
async fn lock_state(state: &Path) -> Result<File, AnvilError> {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(PathBuf::from(name))?;
    let started = tokio::time::Instant::now();
    loop {
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(file);
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(err.into());
        }
        if started.elapsed() > STATE_LOCK_WAIT {
            return Err(AnvilError::StateInUse(state.to_owned()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn signal(pid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: a signal to a child this process has not reaped yet.
    unsafe {
        libc::kill(pid, signal);
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

//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "meritree",
    version,
    about = "AI work that pays: the Meritree platform"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: `meritree.toml` in the working
    /// directory when present; `MERITREE_<SECTION>__<KEY>` variables override it.
    #[arg(long, short, global = true, env = "MERITREE_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Default, Clone, Subcommand)]
pub enum Command {
    /// Apply migrations and serve the platform (the default).
    #[default]
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Manage accounts from the command line.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Run a compute node: take AI tasks from a platform and run them on
    /// the embedded models or an OpenAI-compatible server.
    Node(NodeArgs),
    /// Post to the points ledger from the command line.
    #[command(subcommand)]
    Points(PointsCommand),
    /// Work with an EVM chain.
    #[command(subcommand)]
    Chain(ChainCommand),
    /// Copy everything in the data directory that cannot be rebuilt (the
    /// SQLite database, stored images, the embedded chain's state) into one
    /// file, while the platform serves.
    Backup {
        /// The file to write (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Put a backup made by `meritree backup` into the data directory; stop
    /// the platform first.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// Replace what the data directory holds.
        #[arg(long)]
        force: bool,
    },
    /// Check a round's public export: recompute its Merkle root from the
    /// leaves, check every proof, and compare the root with the one the
    /// distributor published on chain. Exits 1 on any mismatch.
    VerifyRound {
        /// The round number.
        round: u64,
        /// The export: a file, or an http(s) URL such as
        /// https://meritree.example/api/v1/rounds/7/export.
        #[arg(long)]
        export: String,
        /// The chain's JSON-RPC URL.
        #[arg(long)]
        rpc: String,
        /// The distributor contract's address.
        #[arg(long)]
        distributor: String,
        /// Where to start looking for its events (its deployment block).
        #[arg(long, default_value_t = 0)]
        from_block: u64,
        /// An earlier round's export (file or URL): every wallet's total
        /// must be at least what it was there.
        #[arg(long)]
        previous_export: Option<String>,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum ChainCommand {
    /// Deploy the reward token, the distributor and the node staking
    /// contract to an EVM chain, from the private key (hex) in the
    /// environment variable `chain.signer_key_env` (MERITREE_CHAIN_KEY
    /// unless configured), and print the configuration to serve with. The
    /// key becomes the root updater: the platform publishes roots with it.
    Deploy {
        /// The chain's JSON-RPC URL.
        #[arg(long)]
        rpc: String,
        /// The chain id the RPC must report; a different chain is refused.
        #[arg(long)]
        chain_id: Option<u64>,
        /// The contracts' admin (grants roles, mints the token): a multisig
        /// or a timelock on a public chain. Default: the deploying key.
        #[arg(long)]
        admin: Option<String>,
        /// Who may pause claims. Default: the admin.
        #[arg(long)]
        pauser: Option<String>,
        /// Who may revoke a proposed root during its timelock (a key that
        /// watches the chain and checks each root against the export).
        /// Default: the admin.
        #[arg(long)]
        guardian: Option<String>,
        /// Seconds between a root's proposal and when it pays out (at most
        /// 30 days); keep it below `rewards.round_secs`, or rounds queue up.
        #[arg(long, default_value_t = 300)]
        root_timelock_secs: u64,
        /// Moving from an earlier distributor: the reward token to keep
        /// (no new token or staking contract is deployed).
        #[arg(long, requires = "replaces")]
        token: Option<String>,
        /// Moving from an earlier distributor: its address. What it paid
        /// counts as claimed, so nobody is paid twice; pause it first.
        #[arg(long, requires_all = ["token", "replaces_deployed_block"])]
        replaces: Option<String>,
        /// The block the replaced distributor was deployed in (your previous
        /// `chain.deployed_block`): its payouts are counted from there.
        /// Required with --replaces.
        #[arg(long, requires = "replaces")]
        replaces_deployed_block: Option<u64>,
        /// Seconds an operator's unstaked tokens wait before withdrawal.
        #[arg(long, default_value_t = 7 * 24 * 3600)]
        unstake_cooldown_secs: u64,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// The platform's address, e.g. https://meritree.example.
    #[arg(
        long,
        env = "MERITREE_NODE_SERVER",
        default_value = "http://127.0.0.1:3000"
    )]
    pub server: String,
    /// An API key with the `node` scope (from /account, as a node operator).
    #[arg(
        long,
        env = "MERITREE_NODE_API_KEY",
        hide_env_values = true,
        conflicts_with = "wallet_key_file",
        required_unless_present = "wallet_key_file"
    )]
    pub api_key: Option<String>,
    /// Instead of an API key: a file whose first line is the private key
    /// (hex) of the wallet bound to the operator's account; the node signs
    /// in with it (Sign-In With Ethereum).
    #[arg(long, env = "MERITREE_NODE_WALLET_KEY_FILE")]
    pub wallet_key_file: Option<std::path::PathBuf>,
    /// The node's name, unique among the operator's nodes.
    #[arg(long, default_value = "node-1")]
    pub name: String,
    /// A model the node serves, as tasks name it; repeat for more. Default:
    /// the embedded models.
    #[arg(long = "model")]
    pub models: Vec<String>,
    /// Tasks run at once.
    #[arg(long, default_value_t = 1)]
    pub capacity: u32,
    /// `local` (the embedded CPU models), or the base URL of an
    /// OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1 (Ollama).
    #[arg(long, default_value = "local")]
    pub backend: String,
    /// The backend's API key, if it wants one.
    #[arg(long, env = "MERITREE_NODE_BACKEND_KEY", hide_env_values = true)]
    pub backend_key: Option<String>,
    /// Seconds a stop waits for running tasks before handing them back.
    #[arg(long, default_value_t = 30)]
    pub drain_secs: u64,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Create an admin account with two-factor authentication enabled. The
    /// password is read from MERITREE_ADMIN_PASSWORD, else from the first
    /// line of standard input. Prints the TOTP secret once.
    Create {
        #[arg(long)]
        email: String,
    },
    /// Give an existing account a role (member, node_operator, admin).
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
    /// For someone who lost their authenticator and its recovery codes:
    /// removes a member's two-factor authentication, or gives an admin a new
    /// one (printed once); every session of the account ends.
    ResetTotp {
        #[arg(long)]
        email: String,
    },
    /// Let an account an admin disabled sign in again (for instance when
    /// admins disabled each other).
    Enable {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum PointsCommand {
    /// Post one entry. Safe to re-run: the same --key for the same account
    /// posts once and prints the first entry.
    Credit {
        /// Account id, or the account's email address.
        #[arg(long)]
        account: String,
        /// Whole points; negative debits (admin_adjustment and settlement only).
        #[arg(long, allow_negative_numbers = true)]
        amount: i64,
        /// task_reward, content_reward, referral, admin_adjustment or settlement.
        #[arg(long)]
        reason: String,
        /// What the entry is about, e.g. a task or ticket id.
        #[arg(long)]
        reference: Option<String>,
        /// Idempotency key: 1 to 128 visible ASCII characters.
        #[arg(long)]
        key: String,
    },
}

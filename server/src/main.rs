use std::process::ExitCode;

use clap::Parser;
use server::cli::{Cli, Command};
use server::configuration::Settings;
use server::startup::{self, Application};
use server::telemetry;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("meritree: invalid configuration: {err}");
            return ExitCode::from(2);
        }
    };
    // Built here rather than by `#[tokio::main]`: how many threads it runs
    // is configuration.
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = settings.server.workers {
        runtime.worker_threads(workers);
    }
    match runtime.enable_all().build() {
        Ok(runtime) => runtime.block_on(run(cli, settings)),
        Err(err) => {
            eprintln!("meritree: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, settings: Settings) -> ExitCode {
    let result_on_stdout = matches!(
        cli.command,
        Some(
            Command::Chain(_)
                | Command::VerifyRound { .. }
                | Command::Backup { .. }
                | Command::Restore { .. }
        )
    );
    let telemetry = match telemetry::init(&settings.log, result_on_stdout) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("meritree: invalid configuration: {err}");
            return ExitCode::from(2);
        }
    };

    let result = match cli.command.unwrap_or_default() {
        Command::Serve => serve(settings).await,
        Command::Migrate => startup::migrate(&settings).await.map_err(Into::into),
        Command::Admin(command) => server::admin::run(&settings, command).await,
        Command::Points(command) => server::points::run(&settings, command).await,
        Command::Node(args) => node(&settings, args).await,
        Command::Chain(command) => server::chain_deploy::run(&settings, command).await,
        Command::Backup { to } => server::backup::backup(&settings, &to).await,
        Command::Restore { from, force } => server::backup::restore(&settings, &from, force).await,
        Command::VerifyRound {
            round,
            export,
            rpc,
            distributor,
            from_block,
            previous_export,
        } => server::verify_round::run(
            round,
            &export,
            &rpc,
            &distributor,
            from_block,
            previous_export.as_deref(),
        )
        .await
        .map(|report| println!("{report}")),
    };
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "meritree stopped with an error");
            ExitCode::FAILURE
        }
    };
    // The last traces are sent before the process ends.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    code
}

async fn node(
    settings: &Settings,
    args: server::cli::NodeArgs,
) -> Result<(), Box<dyn std::error::Error>> {
    use server::node::{Backend, Credential, NodeOptions};

    let backend = match args.backend.as_str() {
        "local" => Backend::local(settings.ai.local.models_dir()),
        url => Backend::openai(url, args.backend_key),
    };
    let models = if args.models.is_empty() {
        vec![
            meritree_ai::providers::local::CHAT_MODEL.to_owned(),
            meritree_ai::providers::local::EMBEDDING_MODEL.to_owned(),
        ]
    } else {
        args.models
    };
    let credential = match (args.api_key, args.wallet_key_file) {
        (Some(key), None) => Credential::ApiKey(key),
        (None, Some(path)) => {
            Credential::wallet_from_key(&std::fs::read_to_string(&path).map_err(|err| {
                format!("cannot read the wallet key file {}: {err}", path.display())
            })?)?
        }
        _ => return Err("give the node either --api-key or --wallet-key-file".into()),
    };
    let options = NodeOptions {
        server: args.server,
        credential,
        registration: meritree_core::compute::NodeRegistration {
            name: args.name,
            models,
            capacity: args.capacity,
        },
        backend,
        drain: std::time::Duration::from_secs(args.drain_secs),
    };
    server::node::run(options, startup::shutdown_signal()).await?;
    Ok(())
}

async fn serve(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let app = Application::build(settings).await?;
    app.run_until_stopped(startup::shutdown_signal()).await?;
    Ok(())
}

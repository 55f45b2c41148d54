use std::process::ExitCode;

use clap::Parser;
use server::cli::{Cli, Command};
use server::configuration::Settings;
use server::startup::{self, Application};
use server::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("meritree: invalid configuration: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);

    let result = match cli.command.unwrap_or_default() {
        Command::Serve => serve(settings).await,
        Command::Migrate => startup::migrate(&settings).await.map_err(Into::into),
        Command::Admin(command) => server::admin::run(&settings, command).await,
        Command::Points(command) => server::points::run(&settings, command).await,
        Command::VerifyRound {
            round,
            export,
            rpc,
            distributor,
            from_block,
        } => server::verify_round::run(round, &export, &rpc, &distributor, from_block)
            .await
            .map(|report| println!("{report}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "meritree stopped with an error");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let app = Application::build(settings).await?;
    app.run_until_stopped(startup::shutdown_signal()).await?;
    Ok(())
}

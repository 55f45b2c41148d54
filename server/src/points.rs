//! `meritree points …`: ledger postings for operators.

use meritree_core::points::PointsReason;
use meritree_platform::points::PointsPosting;
use meritree_platform::Platform;

use crate::cli::PointsCommand;
use crate::configuration::Settings;
use crate::startup;

pub async fn run(
    settings: &Settings,
    command: PointsCommand,
) -> Result<(), Box<dyn std::error::Error>> {
    let db = startup::connect_and_migrate(settings).await?;
    let platform = Platform::start(
        db,
        startup::platform_options(settings, settings.server.listen_addr())?,
    )
    .await?;
    let result = execute(&platform, command).await;
    platform.db().close().await;
    result
}

async fn execute(
    platform: &Platform,
    command: PointsCommand,
) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        PointsCommand::Credit {
            account,
            amount,
            reason,
            reference,
            key,
        } => {
            let reason: PointsReason = reason.parse()?;
            let account_id = platform.points().find_account_id(&account).await?;
            let posted = platform
                .points()
                .post_by_admin(
                    meritree_platform::audit::CLI_ACTOR,
                    PointsPosting {
                        account_id: &account_id,
                        amount,
                        reason,
                        reference: reference.as_deref(),
                        idempotency_key: &key,
                    },
                )
                .await?;
            let entry = posted.entry;
            let what = if posted.replayed {
                "Already posted with this key"
            } else {
                "Posted"
            };
            println!(
                "{what}: entry {} on {}: {:+} ({}); balance after: {}.",
                entry.id, entry.account_id, entry.amount, entry.reason, entry.balance_after
            );
            Ok(())
        }
    }
}

//! `meritree admin …`: account management for operators.

use std::io::BufRead;

use meritree_core::accounts::Role;
use meritree_platform::accounts::totp::TotpSetup;
use meritree_platform::Platform;

use crate::cli::AdminCommand;
use crate::configuration::Settings;
use crate::startup;

pub async fn run(
    settings: &Settings,
    command: AdminCommand,
) -> Result<(), Box<dyn std::error::Error>> {
    let db = startup::connect_and_migrate(settings).await?;
    let platform = Platform::start(
        db,
        startup::platform_options(settings, settings.server.listen_addr())?,
    )
    .await?;
    let result = match command {
        AdminCommand::Create { email } => {
            let password = read_password()?;
            let (account, setup) = platform.accounts().create_admin(&email, &password).await?;
            println!(
                "Created admin {} ({}).",
                account.email.unwrap_or_default(),
                account.id
            );
            print_totp(&setup);
            Ok(())
        }
        AdminCommand::SetRole { email, role } => {
            let role: Role = role.parse().map_err(|()| {
                format!("unknown role {role:?}: use member, node_operator or admin")
            })?;
            let (account, setup) = platform.accounts().set_role(&email, role).await?;
            println!(
                "{} is now {}; their sessions were ended.",
                email,
                account.role.as_str()
            );
            if let Some(setup) = setup {
                print_totp(&setup);
            }
            Ok(())
        }
        AdminCommand::Enable { email } => {
            platform.accounts().enable_by_email(&email).await?;
            println!("{email} may sign in again.");
            Ok(())
        }
        AdminCommand::ResetTotp { email } => {
            match platform.accounts().reset_totp(&email).await? {
                Some(setup) => {
                    println!("{email} is an admin: a new second factor replaces the old one; their sessions were ended.");
                    print_totp(&setup);
                }
                None => println!(
                    "Two-factor authentication of {email} is off; their sessions were ended. They sign in with their password and may turn it on again."
                ),
            }
            Ok(())
        }
    };
    platform.db().close().await;
    result
}

fn read_password() -> Result<String, Box<dyn std::error::Error>> {
    if let Ok(password) = std::env::var("MERITREE_ADMIN_PASSWORD") {
        return Ok(password);
    }
    eprintln!("Password (one line on standard input):");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn print_totp(setup: &TotpSetup) {
    println!("Two-factor authentication is on. Add this to an authenticator app now; it is not shown again:");
    println!("  secret: {}", setup.secret);
    println!("  uri:    {}", setup.otpauth_uri);
    if !setup.recovery_codes.is_empty() {
        println!("Recovery codes, each usable once instead of a code if the app is lost; keep them offline:");
        for code in &setup.recovery_codes {
            println!("  {code}");
        }
    }
}

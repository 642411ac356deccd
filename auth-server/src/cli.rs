//! Command line: `serve` (the default), `users grant`, `config check`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::store::Store;

/// Token server: sign-up, login, rotating refresh tokens, JWT access tokens.
#[derive(Parser)]
#[command(name = "auth-server", version)]
struct Cli {
    /// TOML settings file; environment variables `AUTH__...` override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the HTTP server (the default).
    Serve,
    /// Manages users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Checks settings.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Allows a user to be granted SCOPE (such as `admin`) from the next login on.
    Grant {
        /// Username.
        username: String,
        /// Scope to allow.
        scope: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validates FILE plus the environment and prints a summary.
    Check {
        /// TOML settings file.
        file: PathBuf,
    },
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = match &cli.command {
        Some(Command::Config(ConfigCommand::Check { file })) => Some(file.clone()),
        _ => cli.config.clone(),
    };
    let settings = match Settings::load(file.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("auth-server: {error}");
            return ExitCode::from(2);
        }
    };
    crate::server::init_logging(&settings);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("auth-server: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let system = actix_web::rt::System::with_tokio_rt(|| {
                #[allow(clippy::expect_used)]
                tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime")
            });
            drop(runtime);
            system
                .block_on(crate::server::serve(settings))
                .map_err(|e| e.to_string())
        }
        Command::Users(UsersCommand::Grant { username, scope }) => {
            runtime.block_on(grant_scope(settings, &username, &scope))
        }
        Command::Config(ConfigCommand::Check { .. }) => {
            println!(
                "configuration is valid: issuer {}, bind {}",
                settings.issuer, settings.bind
            );
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("auth-server: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn grant_scope(settings: Settings, username: &str, scope: &str) -> Result<(), String> {
    if settings.ephemeral {
        return Err("users grant needs a persistent store: set AUTH__STORE__URL".into());
    }
    let store = crate::server::connect_store(&Arc::new(settings))
        .await
        .map_err(|e| e.to_string())?;
    let name = crate::password::normalize_username(username.trim());
    let user = store
        .find_user_by_name(&name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user named `{name}`"))?;
    store
        .grant_scope(&user.id, scope)
        .await
        .map_err(|e| e.to_string())?;
    println!("user `{name}` may now be granted scope `{scope}`");
    Ok(())
}

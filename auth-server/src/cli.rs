//! Command line: `serve` (the default), `users grant`, `config check`.

use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Manages signing keys (needs the Redis store).
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Lists the signing keys with their state and times.
    List,
    /// Adds a new key; it signs after the publish delay and the current key
    /// retires at that moment.
    Rotate {
        /// Algorithm of the new key: EdDSA, ES256 or RS256 (default: the
        /// `keys.algorithm` setting).
        #[arg(long)]
        alg: Option<String>,
    },
    /// Retires KID now; it stays published until every token it signed has
    /// expired.
    Retire {
        /// Key id.
        kid: String,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Creates a user; the password is read from standard input.
    Create {
        /// Username.
        username: String,
    },
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
        Command::Users(UsersCommand::Create { username }) => {
            runtime.block_on(create_user(settings, &username))
        }
        Command::Keys(command) => runtime.block_on(keys_command(settings, command)),
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
    let store = persistent_store(&settings).await?;
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

async fn persistent_store(settings: &Settings) -> Result<crate::backend::AnyStore, String> {
    if settings.ephemeral {
        return Err("this command needs a persistent store: set AUTH__STORE__URL".into());
    }
    crate::server::connect_store(settings, Default::default())
        .await
        .map_err(|e| e.to_string())
}

async fn create_user(settings: Settings, username: &str) -> Result<(), String> {
    let store = persistent_store(&settings).await?;
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let password = zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    line.clear();
    let name = crate::password::validate_username(username).map_err(|e| e.to_string())?;
    crate::password::validate_password(&password, &name).map_err(|e| e.to_string())?;
    let hasher = crate::password::PasswordHasherPool::new(1, 1).map_err(|e| e.to_string())?;
    let password_hash = hasher.hash(password).await.map_err(|e| e.to_string())?;
    let user = crate::store::UserRecord {
        id: crate::store::UserId::random(),
        username: name.clone(),
        password_hash,
        scopes: settings.default_user_scopes.clone(),
        created_ms: crate::clock::Clock::System.now_ms(),
        revoked_before_ms: 0,
    };
    if !store.create_user(&user).await.map_err(|e| e.to_string())? {
        return Err(format!("the username `{name}` is taken"));
    }
    println!("created user `{name}` with id {}", user.id);
    Ok(())
}

async fn keys_command(settings: Settings, command: KeysCommand) -> Result<(), String> {
    use crate::keys::{self, Algorithm};

    if !settings.pem_files.is_empty() {
        return Err("signing keys come from keys.pem_files: edit that list to rotate".into());
    }
    let store = persistent_store(&settings).await?;
    let now_ms = crate::clock::Clock::System.now_ms();
    let timings = keys::Timings::from_settings(&settings);
    let kek = settings
        .key_encryption_key
        .clone()
        .ok_or("security.key_encryption_key is not set")?;
    match command {
        KeysCommand::List => {
            let mut stored = store.load_keys().await.map_err(|e| e.to_string())?;
            stored.sort_by_key(|k| k.activates_ms);
            println!(
                "{:<44} {:<6} {:<8} {:>14} {:>14} {:>14}",
                "kid", "alg", "state", "activates", "retires", "unpublished"
            );
            let time = |t: Option<i64>| t.map_or("-".to_owned(), |ms| (ms / 1000).to_string());
            for key in stored {
                println!(
                    "{:<44} {:<6} {:<8} {:>14} {:>14} {:>14}",
                    key.kid,
                    key.alg,
                    keys::key_state(&key, now_ms).name(),
                    key.activates_ms / 1000,
                    time(key.retired_ms),
                    time(key.removes_ms)
                );
            }
            Ok(())
        }
        KeysCommand::Rotate { alg } => {
            let alg = match alg {
                Some(name) => Algorithm::from_name(&name).ok_or_else(|| {
                    format!("unknown algorithm `{name}`: use EdDSA, ES256 or RS256")
                })?,
                None => settings.key_algorithm,
            };
            let key = keys::rotate(&store, &kek, alg, now_ms, timings)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "added key {} ({}); it signs from {} (Unix time), in {} s",
                key.kid,
                key.alg,
                key.activates_ms / 1000,
                timings.publish_delay_ms / 1000
            );
            Ok(())
        }
        KeysCommand::Retire { kid } => {
            let key = keys::retire(&store, &kid, now_ms, timings)
                .await
                .map_err(|e| e.to_string())?;
            let removes = key.removes_ms.unwrap_or(now_ms) / 1000;
            println!(
                "retired key {}; it stays published until {removes} (Unix time)",
                key.kid
            );
            Ok(())
        }
    }
}

//! HTTP load generator for the auth server benchmark (`bench/run.sh`).
//!
//! `loadgen run --workload W ...` drives one workload in closed loop (C
//! workers, one keep-alive connection each, requests back to back) or, with
//! `--rate R`, in open loop (R sends per second on a fixed schedule,
//! latency measured from the scheduled time). It prints one JSON summary on
//! stdout. `loadgen user ...` signs up and logs in once and prints the
//! access token, for workloads that need one.
//!
//! Only loopback addresses are accepted as targets, and every run is
//! bounded in time.

#![forbid(unsafe_code)]

mod conn;
mod report;
mod run;
mod setup;
mod workload;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Parser, Subcommand, ValueEnum};
use hyper::header::{self, HeaderName, HeaderValue};

use crate::report::{RunInfo, summary};
use crate::run::Window;
use crate::setup::Api;
use crate::workload::{Expect, RefreshShape, Source, Template, chain_sources, form_encode};

/// Maximum run length, warm-up included (one hour).
const MAX_SECONDS: f64 = 3600.0;

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "Load generator for the auth server benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drives one workload and prints a JSON summary.
    Run(Box<RunArgs>),
    /// Signs up (with --signup) and logs in once; prints the access token.
    User(UserArgs),
    /// Makes sessions (sign-up + login each); prints their refresh tokens,
    /// one a line, for `run --tokens-file`.
    Sessions(SessionsArgs),
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum Workload {
    /// POST /token grant_type=refresh_token, one chain per session.
    Refresh,
    /// POST /token grant_type=password for one account.
    Login,
    /// POST /token grant_type=client_credentials with HTTP Basic.
    ClientCredentials,
    /// GET /.well-known/jwks.json.
    Jwks,
    /// GET a guard-protected path with a bearer token.
    Guard,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Refresh => "refresh",
            Workload::Login => "login",
            Workload::ClientCredentials => "client_credentials",
            Workload::Jwks => "jwks",
            Workload::Guard => "guard",
        }
    }
}

#[derive(clap::Args)]
struct Target {
    /// Base URL of the server, e.g. http://127.0.0.1:8080 (loopback only).
    #[arg(long)]
    url: String,
    /// client_id for sign-up, login and refresh (sent in the body).
    #[arg(long, default_value = "cli")]
    client_id: String,
    /// User-Agent of every request (the server records it on sessions).
    #[arg(long, default_value = "loadgen/0.1")]
    user_agent: String,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, value_enum)]
    workload: Workload,
    /// Workers, each with its own keep-alive connection.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of warm-up before the measurement.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Open loop at this many requests per second (default: closed loop).
    #[arg(long)]
    rate: Option<f64>,
    /// refresh: chains to make (sign-up + login each) before the run.
    #[arg(long, default_value_t = 200)]
    sessions: usize,
    /// refresh: read the chains' first tokens from this file (one a line)
    /// instead of making sessions.
    #[arg(long)]
    tokens_file: Option<PathBuf>,
    /// Requests at once while making sessions.
    #[arg(long, default_value_t = 4)]
    setup_parallel: usize,
    /// Client authentication by HTTP Basic, `id:secret` (client_credentials;
    /// refresh against a peer with a confidential client). With it, no
    /// client_id goes in the body.
    #[arg(long, env = "LOADGEN_BASIC", hide_env_values = true)]
    basic: Option<String>,
    /// login: account to log in as (default: a new account).
    #[arg(long)]
    username: Option<String>,
    /// login: its password.
    #[arg(long, env = "LOADGEN_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Path of the token endpoint.
    #[arg(long, default_value = "/token")]
    token_path: String,
    /// jwks and guard: the path to GET.
    #[arg(long)]
    path: Option<String>,
    /// guard: the access token to present.
    #[arg(long, env = "LOADGEN_BEARER", hide_env_values = true)]
    bearer: Option<String>,
    /// client_credentials (and optionally login): the scope to ask for.
    #[arg(long)]
    scope: Option<String>,
    /// Runtime threads of the load generator.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Name of the run in the summary.
    #[arg(long)]
    label: Option<String>,
    /// Also write the JSON summary to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(clap::Args)]
struct UserArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long)]
    username: String,
    #[arg(long, env = "LOADGEN_PASSWORD", hide_env_values = true)]
    password: String,
    /// Create the account first.
    #[arg(long)]
    signup: bool,
}

#[derive(clap::Args)]
struct SessionsArgs {
    #[command(flatten)]
    target: Target,
    /// Sessions to make.
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Requests at once.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
}

/// Resolves a base URL to a loopback socket address, refusing anything else.
fn loopback_addr(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("the URL must start with http://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let addr = match authority.strip_prefix("localhost:") {
        Some(port) => SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            port.parse().map_err(|_| "bad port")?,
        ),
        None => authority
            .parse::<SocketAddr>()
            .map_err(|_| format!("`{authority}` is not IP:port or localhost:port"))?,
    };
    if !addr.ip().is_loopback() {
        return Err(format!("{} is not a loopback address", addr.ip()));
    }
    Ok(addr)
}

fn header_value(text: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(text).map_err(|_| "a header value has invalid characters".to_owned())
}

fn api(target: &Target) -> Result<Api, String> {
    let addr = loopback_addr(&target.url)?;
    Ok(Api {
        addr,
        headers: vec![
            (header::HOST, header_value(&addr.to_string())?),
            (header::USER_AGENT, header_value(&target.user_agent)?),
        ],
        client_id: target.client_id.clone(),
    })
}

fn basic_header(credentials: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (id, secret) = credentials
        .split_once(':')
        .ok_or("--basic must be id:secret")?;
    let encoded = STANDARD.encode(format!("{}:{}", form_encode(id), form_encode(secret)));
    Ok((
        header::AUTHORIZATION,
        header_value(&format!("Basic {encoded}"))?,
    ))
}

fn optional_scope(scope: Option<&String>) -> String {
    scope.map_or_else(String::new, |s| format!("&scope={}", form_encode(s)))
}

/// Builds one request source per worker.
async fn sources(args: &RunArgs, api: &Api) -> Result<Vec<Source>, String> {
    let workers = args.concurrency;
    let stat = |template: Template, expect: Expect| {
        (0..workers)
            .map(|_| Source::Static {
                template: template.clone(),
                expect,
            })
            .collect()
    };
    let mut headers = api.headers.clone();
    match args.workload {
        Workload::Refresh => {
            let suffix = match &args.basic {
                Some(basic) => {
                    headers.push(basic_header(basic)?);
                    String::new()
                }
                None => format!("&client_id={}", form_encode(&api.client_id)),
            };
            let tokens = match &args.tokens_file {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
                None => setup::make_chains(api, args.sessions, args.setup_parallel).await?,
            };
            if tokens.is_empty() {
                return Err("no refresh tokens to start chains from".into());
            }
            let shape = RefreshShape {
                template: Template::form(&args.token_path, headers, String::new()),
                prefix: "grant_type=refresh_token&refresh_token=".into(),
                suffix,
            };
            Ok(chain_sources(&shape, tokens, workers))
        }
        Workload::Login => {
            let (user, password) = match (&args.username, &args.password) {
                (Some(user), Some(password)) => (user.clone(), password.clone()),
                _ => {
                    let user = format!("lg{:x}-login", setup::random_u64() >> 24);
                    let password = setup::random_password();
                    let mut conn = conn::Conn::new(api.addr);
                    api.sign_up(&mut conn, &user, &password).await?;
                    (user, password)
                }
            };
            let body = format!(
                "grant_type=password&username={}&password={}&client_id={}{}",
                form_encode(&user),
                form_encode(&password),
                form_encode(&api.client_id),
                optional_scope(args.scope.as_ref()),
            );
            let template = Template::form(&args.token_path, headers, body);
            Ok(stat(template, Expect::Contains("\"refresh_token\"")))
        }
        Workload::ClientCredentials => {
            let basic = args
                .basic
                .as_deref()
                .ok_or("client_credentials needs --basic id:secret")?;
            headers.push(basic_header(basic)?);
            let body = format!(
                "grant_type=client_credentials{}",
                optional_scope(args.scope.as_ref())
            );
            let template = Template::form(&args.token_path, headers, body);
            Ok(stat(template, Expect::Contains("\"access_token\"")))
        }
        Workload::Jwks => {
            let path = args.path.as_deref().unwrap_or("/.well-known/jwks.json");
            Ok(stat(
                Template::get(path, headers),
                Expect::Contains("\"keys\""),
            ))
        }
        Workload::Guard => {
            let bearer = args.bearer.as_deref().ok_or("guard needs --bearer TOKEN")?;
            headers.push((
                header::AUTHORIZATION,
                header_value(&format!("Bearer {bearer}"))?,
            ));
            let path = args.path.as_deref().unwrap_or("/whoami");
            Ok(stat(Template::get(path, headers), Expect::Ok))
        }
    }
}

fn check_limits(args: &RunArgs) -> Result<(), String> {
    let total = args.duration + args.warmup;
    if !(args.duration > 0.0 && args.warmup >= 0.0 && total <= MAX_SECONDS) {
        return Err(format!(
            "duration + warm-up must be within (0, {MAX_SECONDS}] s"
        ));
    }
    if !(1..=4096).contains(&args.concurrency) {
        return Err("--concurrency must be 1 to 4096".into());
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r <= 1_000_000.0)) {
        return Err("--rate must be within (0, 1000000]".into());
    }
    Ok(())
}

async fn run(args: RunArgs) -> Result<(), String> {
    check_limits(&args)?;
    let api = api(&args.target)?;
    let sources = sources(&args, &api).await?;
    let window = Window::new(
        Duration::from_secs_f64(args.warmup),
        Duration::from_secs_f64(args.duration),
    );
    let outcome = match args.rate {
        Some(rate) => run::open_loop(api.addr, sources, window, rate).await,
        None => run::closed_loop(api.addr, sources, window).await,
    };
    let chains = matches!(args.workload, Workload::Refresh).then(|| {
        outcome
            .sources
            .iter()
            .map(Source::chain_counts)
            .fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2))
    });
    let recorder = outcome.recorder;
    let measured_until = recorder.last_done.unwrap_or(window.end).max(window.measure);
    let info = RunInfo {
        label: args
            .label
            .clone()
            .unwrap_or_else(|| args.workload.name().to_owned()),
        workload: args.workload.name().to_owned(),
        mode: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        }
        .to_owned(),
        concurrency: args.concurrency,
        rate: args.rate,
        window: measured_until - window.measure,
        chains,
        connections_opened: outcome.connections_opened,
    };
    let json = summary(&info, &recorder);
    eprintln!("{}", report::table_row(&json));
    let text = json.to_string();
    if let Some(path) = &args.json {
        std::fs::write(path, format!("{text}\n"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("{text}");
    Ok(())
}

async fn user(args: UserArgs) -> Result<(), String> {
    let api = api(&args.target)?;
    let mut conn = conn::Conn::new(api.addr);
    if args.signup {
        api.sign_up(&mut conn, &args.username, &args.password)
            .await?;
    }
    let (access, _) = api
        .log_in(&mut conn, &args.username, &args.password)
        .await?;
    println!("{access}");
    Ok(())
}

async fn sessions(args: SessionsArgs) -> Result<(), String> {
    if !(1..=1_000_000).contains(&args.count) {
        return Err("--count must be 1 to 1000000".into());
    }
    let api = api(&args.target)?;
    let tokens = setup::make_chains(&api, args.count, args.parallel).await?;
    println!("{}", tokens.join("\n"));
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = match &cli.command {
        Command::Run(args) => args.threads.clamp(1, 64),
        Command::User(_) | Command::Sessions(_) => 1,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("loadgen: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(*args).await,
            Command::User(args) => user(args).await,
            Command::Sessions(args) => sessions(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadgen: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(loopback_addr("http://127.0.0.1:8080").is_ok());
        assert!(loopback_addr("http://[::1]:8080/x").is_ok());
        assert!(loopback_addr("http://localhost:9").is_ok());
        assert!(loopback_addr("http://10.0.0.1:80").is_err());
        assert!(loopback_addr("http://example.com:80").is_err());
        assert!(loopback_addr("https://127.0.0.1:80").is_err());
    }
}

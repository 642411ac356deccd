//! Settings: built-in defaults, then an optional TOML file, then environment
//! variables (`AUTH__SECTION__KEY`), validated once at start-up into
//! [`Settings`]. Everything after start-up trusts these values.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde::Deserialize;
use url::Url;

use crate::secret::{SecretBytes, SecretString};

/// A setting that failed validation: which key, and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or the environment could not be read or had the wrong shape.
    #[error("{0}")]
    Load(String),
    /// A value is out of range or inconsistent with another.
    #[error("invalid setting `{key}` (environment variable {env}): {reason}")]
    Invalid {
        /// Dotted key, as in the TOML file.
        key: &'static str,
        /// The matching environment variable.
        env: String,
        /// What is wrong and what is expected.
        reason: String,
    },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    let env = format!("AUTH__{}", key.replace('.', "__").to_uppercase());
    ConfigError::Invalid {
        key,
        env,
        reason: reason.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    issuer: Option<String>,
    http: RawHttp,
    store: RawStore,
    tokens: RawTokens,
    clients: Option<Vec<RawClient>>,
    users: RawUsers,
    security: RawSecurity,
    keys: RawKeys,
    throttle: RawThrottle,
    log: RawLog,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    bind: String,
    trusted_proxies: Vec<String>,
    allowed_origins: Option<Vec<String>>,
    workers: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: String,
    timeout_ms: u64,
    key_prefix: String,
    replica_acks: Option<u64>,
    unsafe_allow_memory_on_public_bind: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokens {
    access_ttl_secs: u64,
    refresh_idle_ttl_secs: u64,
    session_max_ttl_secs: u64,
    reuse_grace_secs: u64,
    max_grace_replays: u32,
    audience: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    id: String,
    kind: ClientKind,
    grants: Vec<GrantType>,
    scopes: Vec<String>,
    default_scopes: Option<Vec<String>>,
    secret_sha256: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsers {
    default_scopes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurity {
    binding: Binding,
    refresh_pepper: Option<String>,
    key_encryption_key: Option<String>,
    password_hash_threads: Option<usize>,
    password_hash_queue: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThrottle {
    window_secs: u64,
    max_failures_per_user_ip: u64,
    max_failures_per_ip: u64,
    user_failures_before_delay: u64,
    user_max_delay_ms: u64,
    signups_per_ip: u64,
    signup_window_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    pem_files: Vec<String>,
    jwks_max_age_secs: u64,
    algorithm: String,
    rotation_interval_secs: u64,
    reload_interval_secs: u64,
    guard_cooldown_secs: u64,
    guard_leeway_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: LogFormat,
    filter: String,
}

/// How a client receives its refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// A single-page app: the refresh token only ever travels in an
    /// HttpOnly cookie, never in a response body.
    Browser,
    /// A native app or CLI: the refresh token is in the JSON body.
    Native,
    /// A service that authenticates with a client secret
    /// (`client_secret_basic` or `client_secret_post`).
    Confidential,
}

/// OAuth grant types the server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// Resource owner password credentials, for first-party clients only.
    Password,
    /// Refresh-token rotation.
    RefreshToken,
    /// Service-to-service tokens for confidential clients.
    ClientCredentials,
}

/// What happens when a session is used from another IP address or user
/// agent than the one it last saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Binding {
    /// Nothing.
    Off,
    /// An audit event; the request goes on.
    Log,
    /// The session is revoked and the request fails.
    Strict,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object a line.
    Json,
    /// Human-readable lines.
    Text,
}

/// A configured OAuth client.
#[derive(Debug, Clone)]
pub struct Client {
    /// `client_id`.
    pub id: String,
    /// Browser or native.
    pub kind: ClientKind,
    /// Grants the client may use.
    pub grants: Vec<GrantType>,
    /// Every scope the client may be granted.
    pub scopes: Vec<String>,
    /// Scopes granted when a request names none.
    pub default_scopes: Vec<String>,
    /// SHA-256 of the client secret, for confidential clients. Secrets are
    /// long random strings, so a fast hash is enough; the plain secret is
    /// never configured or stored.
    pub secret_sha256: Option<[u8; 32]>,
}

impl Client {
    /// Returns whether the client may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grants.contains(&grant)
    }
}

/// Where sessions and users live.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// In-process maps; everything is lost on restart.
    Memory,
    /// A Redis server; the URL may carry a password.
    Redis {
        /// `redis://` URL.
        url: SecretString,
        /// Prefix of every key the server writes.
        key_prefix: String,
    },
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub bind: SocketAddr,
    /// Issuer URL without a trailing slash, the `iss` of every token.
    pub issuer: String,
    /// Origins allowed to call cookie-setting endpoints.
    pub allowed_origins: Vec<String>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Login and sign-up throttling limits.
    pub throttle: crate::throttle::Limits,
    /// HTTP worker threads; `None` means one per core.
    pub workers: Option<usize>,
    /// Store backend.
    pub store: StoreSettings,
    /// Timeout of each store call, in milliseconds.
    pub store_timeout_ms: u64,
    /// Replicas that must acknowledge a refresh-token rotation; `None`
    /// chooses 1 on a cluster with replicas and 0 otherwise.
    pub store_replica_acks: Option<u32>,
    /// Access-token lifetime in seconds.
    pub access_ttl_secs: i64,
    /// Refresh idle lifetime in seconds; each rotation slides it.
    pub refresh_idle_ttl_secs: i64,
    /// Absolute session lifetime in seconds; never extended.
    pub session_max_ttl_secs: i64,
    /// Grace window for replays of the previous refresh token, in seconds.
    pub reuse_grace_secs: i64,
    /// Maximum replays of one refresh-token generation in the grace window.
    pub max_grace_replays: u32,
    /// `aud` of access tokens.
    pub audience: String,
    /// OAuth clients.
    pub clients: Vec<Client>,
    /// Scopes a new user receives.
    pub default_user_scopes: Vec<String>,
    /// HMAC key for refresh-token hashes; generated per process for the
    /// memory store.
    pub refresh_pepper: SecretBytes,
    /// AES-256-GCM key that seals signing keys in the store.
    pub key_encryption_key: Option<SecretBytes>,
    /// Reaction to a session changing IP address or user agent.
    pub binding: Binding,
    /// Threads that hash passwords at the same time.
    pub password_hash_threads: usize,
    /// Password-hash requests allowed to wait for a thread.
    pub password_hash_queue: usize,
    /// `max-age` of the JWKS response, in seconds.
    pub jwks_max_age_secs: u64,
    /// PEM files holding the signing keys, first one signing; when set,
    /// keys come from these files instead of the store.
    pub pem_files: Vec<std::path::PathBuf>,
    /// Algorithm of newly generated signing keys.
    pub key_algorithm: crate::keys::Algorithm,
    /// Age of the signing key after which a new one is rotated in; 0 never.
    pub key_rotation_interval_secs: i64,
    /// How often each server re-reads the keys from the store.
    pub key_reload_interval_secs: i64,
    /// The resource guards' refetch cooldown, in seconds.
    pub guard_cooldown_secs: i64,
    /// The resource guards' clock leeway, in seconds.
    pub guard_leeway_secs: i64,
    /// Log format.
    pub log_format: LogFormat,
    /// `tracing` filter directive, such as `info`.
    pub log_filter: String,
    /// Whether the memory store was chosen (for the start-up warning).
    pub ephemeral: bool,
}

impl Settings {
    /// Loads settings from defaults, `file` and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Loads settings from defaults, `file` and the given variables.
    pub fn load_from(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let vars: std::collections::HashMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("AUTH__"))
            .collect();
        let mut builder = defaults()?;
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        let environment = config::Environment::with_prefix("AUTH")
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .with_list_parse_key("http.allowed_origins")
            .with_list_parse_key("users.default_scopes")
            .with_list_parse_key("http.trusted_proxies")
            .with_list_parse_key("keys.pem_files")
            .try_parsing(true)
            .source(Some(vars));
        let raw: RawSettings = builder
            .add_source(environment)
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        validate(raw)
    }
}

fn defaults() -> Result<config::ConfigBuilder<config::builder::DefaultState>, ConfigError> {
    let set = |b: config::ConfigBuilder<_>, k: &str, v: config::Value| {
        b.set_default(k, v)
            .map_err(|e| ConfigError::Load(e.to_string()))
    };
    let mut b = config::Config::builder();
    b = set(b, "http.bind", "127.0.0.1:8080".into())?;
    b = set(b, "store.url", "memory://".into())?;
    b = set(b, "store.timeout_ms", 2000.into())?;
    b = set(b, "store.key_prefix", "auth:".into())?;
    b = set(b, "store.unsafe_allow_memory_on_public_bind", false.into())?;
    b = set(b, "tokens.access_ttl_secs", 600.into())?;
    b = set(b, "tokens.refresh_idle_ttl_secs", 1_209_600.into())?;
    b = set(b, "tokens.session_max_ttl_secs", 2_592_000.into())?;
    b = set(b, "tokens.reuse_grace_secs", 10.into())?;
    b = set(b, "tokens.max_grace_replays", 5.into())?;
    b = set(b, "tokens.audience", "api".into())?;
    b = set(b, "users.default_scopes", vec!["api"].into())?;
    b = set(b, "security.password_hash_queue", 256.into())?;
    b = set(b, "security.binding", "log".into())?;
    b = set(b, "keys.jwks_max_age_secs", 300.into())?;
    b = set(b, "keys.algorithm", "EdDSA".into())?;
    b = set(b, "keys.pem_files", Vec::<String>::new().into())?;
    b = set(b, "keys.rotation_interval_secs", 2_592_000.into())?;
    b = set(b, "keys.reload_interval_secs", 10.into())?;
    b = set(b, "keys.guard_cooldown_secs", 30.into())?;
    b = set(b, "keys.guard_leeway_secs", 30.into())?;
    b = set(b, "http.trusted_proxies", Vec::<String>::new().into())?;
    b = set(b, "throttle.window_secs", 900.into())?;
    b = set(b, "throttle.max_failures_per_user_ip", 5.into())?;
    b = set(b, "throttle.max_failures_per_ip", 50.into())?;
    b = set(b, "throttle.user_failures_before_delay", 5.into())?;
    b = set(b, "throttle.user_max_delay_ms", 4000.into())?;
    b = set(b, "throttle.signups_per_ip", 20.into())?;
    b = set(b, "throttle.signup_window_secs", 3600.into())?;
    b = set(b, "log.format", "json".into())?;
    b = set(b, "log.filter", "info".into())?;
    Ok(b)
}

fn default_clients() -> Vec<Client> {
    ["web", "cli"]
        .into_iter()
        .zip([ClientKind::Browser, ClientKind::Native])
        .map(|(id, kind)| Client {
            id: id.into(),
            kind,
            grants: vec![GrantType::Password, GrantType::RefreshToken],
            scopes: vec!["api".into()],
            default_scopes: vec!["api".into()],
            secret_sha256: None,
        })
        .collect()
}

fn validate(raw: RawSettings) -> Result<Settings, ConfigError> {
    let bind: SocketAddr = raw.http.bind.parse().map_err(|_| {
        invalid(
            "http.bind",
            format!("`{}` is not an IP:port address", raw.http.bind),
        )
    })?;
    let issuer = validate_issuer(raw.issuer.unwrap_or_else(|| format!("http://{bind}")))?;
    let allowed_origins = match raw.http.allowed_origins {
        Some(list) => list
            .iter()
            .filter(|o| !o.trim().is_empty())
            .map(|o| validate_origin(o.trim()))
            .collect::<Result<Vec<_>, _>>()?,
        None => vec![origin_of(&issuer)],
    };
    let (store, ephemeral) = validate_store(&raw.store, bind)?;
    let tokens = &raw.tokens;
    let access_ttl_secs = in_range("tokens.access_ttl_secs", tokens.access_ttl_secs, 60, 3600)?;
    let refresh_idle_ttl_secs = in_range(
        "tokens.refresh_idle_ttl_secs",
        tokens.refresh_idle_ttl_secs,
        60,
        31_536_000,
    )?;
    let session_max_ttl_secs = in_range(
        "tokens.session_max_ttl_secs",
        tokens.session_max_ttl_secs,
        60,
        31_536_000,
    )?;
    if session_max_ttl_secs < refresh_idle_ttl_secs {
        return Err(invalid(
            "tokens.session_max_ttl_secs",
            "must be at least tokens.refresh_idle_ttl_secs",
        ));
    }
    let reuse_grace_secs = in_range("tokens.reuse_grace_secs", tokens.reuse_grace_secs, 0, 60)?;
    let max_grace_replays = in_range(
        "tokens.max_grace_replays",
        tokens.max_grace_replays.into(),
        1,
        20,
    )? as u32;
    let audience = non_empty_word("tokens.audience", &tokens.audience)?;
    let clients = validate_clients(raw.clients)?;
    let default_user_scopes = raw
        .users
        .default_scopes
        .iter()
        .map(|s| scope_token("users.default_scopes", s))
        .collect::<Result<Vec<_>, _>>()?;
    let refresh_pepper = match (&store, raw.security.refresh_pepper.as_deref()) {
        (_, Some(text)) => secret_hex("security.refresh_pepper", text, 32, None)?,
        (StoreSettings::Memory, None) => SecretBytes::random(32),
        (StoreSettings::Redis { .. }, None) => {
            return Err(invalid(
                "security.refresh_pepper",
                "required with the Redis store: 64 or more hex digits, e.g. `openssl rand -hex 32`",
            ));
        }
    };
    let key_encryption_key = match (&store, raw.security.key_encryption_key.as_deref()) {
        (_, Some(text)) => Some(secret_hex(
            "security.key_encryption_key",
            text,
            32,
            Some(32),
        )?),
        (StoreSettings::Memory, None) => None,
        (StoreSettings::Redis { .. }, None) => {
            return Err(invalid(
                "security.key_encryption_key",
                "required with the Redis store: exactly 64 hex digits, e.g. `openssl rand -hex 32`",
            ));
        }
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    // One core stays free of password hashing, so that a login flood cannot
    // take every core from refreshes. On 2 cores a flood raised the refresh
    // p99 1.5x with one hashing thread and 12x with two (docs/benchmarks.md).
    let password_hash_threads = raw
        .security
        .password_hash_threads
        .unwrap_or(cores.saturating_sub(1).max(1));
    if !(1..=256).contains(&password_hash_threads) {
        return Err(invalid(
            "security.password_hash_threads",
            "must be between 1 and 256",
        ));
    }
    let password_hash_queue = raw.security.password_hash_queue;
    if password_hash_queue > 100_000 {
        return Err(invalid(
            "security.password_hash_queue",
            "must be at most 100000",
        ));
    }
    let jwks_max_age_secs = in_range(
        "keys.jwks_max_age_secs",
        raw.keys.jwks_max_age_secs,
        0,
        3600,
    )? as u64;
    if raw.http.workers.is_some_and(|w| !(1..=1024).contains(&w)) {
        return Err(invalid("http.workers", "must be between 1 and 1024"));
    }
    Ok(Settings {
        bind,
        issuer,
        allowed_origins,
        workers: raw.http.workers,
        trusted_proxies: raw
            .http
            .trusted_proxies
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| parse_network(p.trim()))
            .collect::<Result<Vec<_>, _>>()?,
        throttle: validate_throttle(&raw.throttle)?,
        store,
        store_timeout_ms: in_range("store.timeout_ms", raw.store.timeout_ms, 10, 60_000)? as u64,
        store_replica_acks: match raw.store.replica_acks {
            Some(acks) => Some(in_range("store.replica_acks", acks, 0, 5)? as u32),
            None => None,
        },
        access_ttl_secs,
        refresh_idle_ttl_secs,
        session_max_ttl_secs,
        reuse_grace_secs,
        max_grace_replays,
        audience,
        clients,
        default_user_scopes,
        refresh_pepper,
        key_encryption_key,
        pem_files: raw
            .keys
            .pem_files
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(Into::into)
            .collect(),
        key_algorithm: crate::keys::Algorithm::from_name(&raw.keys.algorithm)
            .ok_or_else(|| invalid("keys.algorithm", "must be EdDSA, ES256 or RS256"))?,
        key_rotation_interval_secs: match raw.keys.rotation_interval_secs {
            0 => 0,
            secs => in_range("keys.rotation_interval_secs", secs, 3600, 31_536_000)?,
        },
        key_reload_interval_secs: in_range(
            "keys.reload_interval_secs",
            raw.keys.reload_interval_secs,
            1,
            300,
        )?,
        guard_cooldown_secs: in_range(
            "keys.guard_cooldown_secs",
            raw.keys.guard_cooldown_secs,
            0,
            3600,
        )?,
        guard_leeway_secs: in_range("keys.guard_leeway_secs", raw.keys.guard_leeway_secs, 0, 300)?,
        binding: raw.security.binding,
        password_hash_threads,
        password_hash_queue,
        jwks_max_age_secs,
        log_format: raw.log.format,
        log_filter: raw.log.filter,
        ephemeral,
    })
}

fn parse_network(text: &str) -> Result<ipnet::IpNet, ConfigError> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            invalid(
                "http.trusted_proxies",
                format!("`{text}` is not an IP address or CIDR"),
            )
        })
}

fn validate_throttle(raw: &RawThrottle) -> Result<crate::throttle::Limits, ConfigError> {
    Ok(crate::throttle::Limits {
        window_ms: in_range("throttle.window_secs", raw.window_secs, 1, 86_400)? * 1000,
        per_user_ip: in_range(
            "throttle.max_failures_per_user_ip",
            raw.max_failures_per_user_ip,
            1,
            10_000,
        )? as u64,
        per_ip: in_range(
            "throttle.max_failures_per_ip",
            raw.max_failures_per_ip,
            1,
            1_000_000,
        )? as u64,
        user_free: in_range(
            "throttle.user_failures_before_delay",
            raw.user_failures_before_delay,
            0,
            10_000,
        )? as u64,
        user_max_delay: std::time::Duration::from_millis(in_range(
            "throttle.user_max_delay_ms",
            raw.user_max_delay_ms,
            0,
            30_000,
        )? as u64),
        signups_per_ip: in_range("throttle.signups_per_ip", raw.signups_per_ip, 1, 1_000_000)?
            as u64,
        signup_window_ms: in_range(
            "throttle.signup_window_secs",
            raw.signup_window_secs,
            1,
            86_400,
        )? * 1000,
    })
}

fn in_range(key: &'static str, value: u64, min: u64, max: u64) -> Result<i64, ConfigError> {
    if value < min || value > max {
        return Err(invalid(
            key,
            format!("must be between {min} and {max} (got {value})"),
        ));
    }
    Ok(value as i64)
}

fn secret_hex(
    key: &'static str,
    text: &str,
    min_bytes: usize,
    exact: Option<usize>,
) -> Result<SecretBytes, ConfigError> {
    let bytes = SecretBytes::from_hex(text)
        .ok_or_else(|| invalid(key, "must be hexadecimal, e.g. `openssl rand -hex 32`"))?;
    let len = bytes.expose().len();
    if exact.is_some_and(|n| n != len) || len < min_bytes {
        let expected = match exact {
            Some(n) => format!("exactly {} hex digits", n * 2),
            None => format!("at least {} hex digits", min_bytes * 2),
        };
        return Err(invalid(
            key,
            format!("must be {expected} (got {})", len * 2),
        ));
    }
    Ok(bytes)
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

fn validate_issuer(text: String) -> Result<String, ConfigError> {
    let url = Url::parse(&text).map_err(|_| invalid("issuer", format!("`{text}` is not a URL")))?;
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid(
            "issuer",
            "must have no query, fragment or user info",
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        _ => {
            return Err(invalid(
                "issuer",
                "must be https unless its host is loopback",
            ));
        }
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn origin_of(issuer: &str) -> String {
    Url::parse(issuer)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

fn validate_origin(text: &str) -> Result<String, ConfigError> {
    let key = "http.allowed_origins";
    let url = Url::parse(text).map_err(|_| invalid(key, format!("`{text}` is not an origin")))?;
    let origin = url.origin().ascii_serialization();
    if origin == "null" || origin != text.trim_end_matches('/') {
        return Err(invalid(
            key,
            format!("`{text}` must be scheme://host[:port] with no path"),
        ));
    }
    if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback_host(&url)) {
        return Err(invalid(
            key,
            format!("`{text}` must be https unless its host is loopback"),
        ));
    }
    Ok(origin)
}

fn validate_store(raw: &RawStore, bind: SocketAddr) -> Result<(StoreSettings, bool), ConfigError> {
    let key_prefix = raw.key_prefix.clone();
    if key_prefix.len() > 64 || key_prefix.contains(['{', '}', ' ']) {
        return Err(invalid(
            "store.key_prefix",
            "at most 64 characters, without braces or spaces",
        ));
    }
    let url = raw.url.trim();
    if url == "memory://" {
        if !is_loopback_ip(bind.ip()) && !raw.unsafe_allow_memory_on_public_bind {
            return Err(invalid(
                "store.url",
                "the memory store loses everything on restart and is for local use only; \
                 bind to a loopback address, use Redis, or set \
                 store.unsafe_allow_memory_on_public_bind = true",
            ));
        }
        return Ok((StoreSettings::Memory, true));
    }
    // The URL may carry a password: error messages never repeat it.
    if let Some(hosts) = url.strip_prefix("redis+cluster://") {
        let hosts = hosts.rsplit_once('@').map_or(hosts, |(_, hosts)| hosts);
        let valid = hosts.trim_end_matches('/').split(',').all(|host| {
            host.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        });
        if !valid {
            return Err(invalid(
                "store.url",
                "a cluster URL is redis+cluster://host:port,host:port",
            ));
        }
    } else {
        let parsed = Url::parse(url).map_err(|_| invalid("store.url", "is not a valid URL"))?;
        if !matches!(parsed.scheme(), "redis" | "rediss") || parsed.host().is_none() {
            return Err(invalid(
                "store.url",
                "must be memory://, redis://host:port/db, rediss://host:port/db or \
                 redis+cluster://host:port,host:port",
            ));
        }
    }
    let url = SecretString::new(url.to_owned());
    Ok((StoreSettings::Redis { url, key_prefix }, false))
}

fn is_loopback_ip(ip: IpAddr) -> bool {
    ip.is_loopback()
}

fn non_empty_word(key: &'static str, value: &str) -> Result<String, ConfigError> {
    if value.is_empty() || value.len() > 256 || value.chars().any(|c| c.is_whitespace()) {
        return Err(invalid(key, "must be 1-256 characters without spaces"));
    }
    Ok(value.to_owned())
}

fn scope_token(key: &'static str, scope: &str) -> Result<String, ConfigError> {
    // RFC 6749 section 3.3: scope tokens are printable ASCII except space,
    // double quote and backslash.
    let valid = !scope.is_empty()
        && scope.len() <= 128
        && scope
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
    if !valid {
        return Err(invalid(
            key,
            format!("`{scope}` is not a valid scope token"),
        ));
    }
    Ok(scope.to_owned())
}

fn validate_clients(raw: Option<Vec<RawClient>>) -> Result<Vec<Client>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(default_clients());
    };
    let mut clients: Vec<Client> = Vec::with_capacity(raw.len());
    for client in raw {
        let id = non_empty_word("clients", &client.id)?;
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(invalid(
                "clients",
                format!("client id `{id}` must be [A-Za-z0-9._-]"),
            ));
        }
        if clients.iter().any(|c| c.id == id) {
            return Err(invalid(
                "clients",
                format!("client id `{id}` appears twice"),
            ));
        }
        let scopes = client
            .scopes
            .iter()
            .map(|s| scope_token("clients", s))
            .collect::<Result<Vec<_>, _>>()?;
        let default_scopes = client.default_scopes.unwrap_or_else(|| scopes.clone());
        if let Some(extra) = default_scopes.iter().find(|s| !scopes.contains(s)) {
            return Err(invalid(
                "clients",
                format!("client `{id}`: default scope `{extra}` is not among its scopes"),
            ));
        }
        let secret_sha256 = client_secret(&id, client.kind, client.secret_sha256.as_deref())?;
        if client.grants.contains(&GrantType::ClientCredentials)
            && client.kind != ClientKind::Confidential
        {
            return Err(invalid(
                "clients",
                format!("client `{id}`: client_credentials needs kind = \"confidential\""),
            ));
        }
        clients.push(Client {
            id,
            kind: client.kind,
            grants: client.grants,
            scopes,
            default_scopes,
            secret_sha256,
        });
    }
    Ok(clients)
}

fn client_secret(
    id: &str,
    kind: ClientKind,
    hash: Option<&str>,
) -> Result<Option<[u8; 32]>, ConfigError> {
    match (kind, hash) {
        (ClientKind::Confidential, Some(text)) => {
            let bytes = secret_hex("clients", text, 32, Some(32))?;
            let mut out = [0u8; 32];
            out.copy_from_slice(bytes.expose());
            Ok(Some(out))
        }
        (ClientKind::Confidential, None) => Err(invalid(
            "clients",
            format!("confidential client `{id}` needs secret_sha256 (64 hex digits)"),
        )),
        (_, Some(_)) => Err(invalid(
            "clients",
            format!("client `{id}` is public: only confidential clients have a secret"),
        )),
        (_, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load_from(
            None,
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn defaults_need_no_configuration() {
        let settings = load(&[]).expect("defaults are valid");
        assert_eq!(settings.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.issuer, "http://127.0.0.1:8080");
        assert_eq!(settings.allowed_origins, vec!["http://127.0.0.1:8080"]);
        assert!(matches!(settings.store, StoreSettings::Memory));
        assert_eq!(settings.access_ttl_secs, 600);
        assert_eq!(settings.reuse_grace_secs, 10);
        assert_eq!(settings.clients.len(), 2);
        assert_eq!(settings.default_user_scopes, vec!["api"]);
    }

    #[test]
    fn environment_overrides_and_lists() {
        let settings = load(&[
            ("AUTH__TOKENS__ACCESS_TTL_SECS", "120"),
            (
                "AUTH__HTTP__ALLOWED_ORIGINS",
                "http://127.0.0.1:3000,https://app.example",
            ),
        ])
        .expect("valid");
        assert_eq!(settings.access_ttl_secs, 120);
        assert_eq!(
            settings.allowed_origins,
            vec!["http://127.0.0.1:3000", "https://app.example"]
        );
    }

    #[test]
    fn out_of_range_value_names_the_key() {
        let error = load(&[("AUTH__TOKENS__ACCESS_TTL_SECS", "10")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("tokens.access_ttl_secs"), "{error}");
        assert!(error.contains("AUTH__TOKENS__ACCESS_TTL_SECS"), "{error}");
    }

    #[test]
    fn replica_acks_are_optional_and_bounded() {
        let default = load(&[]).expect("defaults are valid");
        assert_eq!(default.store_replica_acks, None);

        let off = load(&[("AUTH__STORE__REPLICA_ACKS", "0")]).expect("valid");
        assert_eq!(off.store_replica_acks, Some(0));

        let error = load(&[("AUTH__STORE__REPLICA_ACKS", "6")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("store.replica_acks"), "{error}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let error = load(&[("AUTH__TOKENS__ACCESS_TTL_SECS", "ten")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("access_ttl_secs"), "{error}");
    }

    #[test]
    fn redis_requires_pepper_and_key_without_echoing_the_url() {
        let error = load(&[("AUTH__STORE__URL", "redis://:hunter2@127.0.0.1:6390/0")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("security.refresh_pepper"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let hex = "ab".repeat(32);
        let settings = load(&[
            ("AUTH__STORE__URL", "redis://:hunter2@127.0.0.1:6390/0"),
            ("AUTH__SECURITY__REFRESH_PEPPER", &hex),
            ("AUTH__SECURITY__KEY_ENCRYPTION_KEY", &hex),
        ])
        .expect("valid");
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn public_issuer_must_be_https() {
        let error = load(&[("AUTH__ISSUER", "http://auth.example")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("issuer"), "{error}");
        assert!(load(&[("AUTH__ISSUER", "https://auth.example/")]).is_ok());
    }

    #[test]
    fn memory_store_refuses_a_public_bind() {
        let error = load(&[
            ("AUTH__HTTP__BIND", "0.0.0.0:8080"),
            ("AUTH__ISSUER", "https://a.example"),
        ])
        .unwrap_err()
        .to_string();
        assert!(error.contains("store.url"), "{error}");
        assert!(
            load(&[
                ("AUTH__HTTP__BIND", "0.0.0.0:8080"),
                ("AUTH__ISSUER", "https://a.example"),
                ("AUTH__STORE__UNSAFE_ALLOW_MEMORY_ON_PUBLIC_BIND", "true"),
            ])
            .is_ok()
        );
    }

    #[test]
    fn unknown_key_is_rejected() {
        assert!(load(&[("AUTH__TOKENS__ACESS_TTL_SECS", "100")]).is_err());
    }
}

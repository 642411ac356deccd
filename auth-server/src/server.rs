//! Start-up: logging, store, keys and the HTTP server.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, middleware::from_fn, web};

use crate::backend::AnyStore;
use crate::clock::Clock;
use crate::config::{LogFormat, Settings, StoreSettings};
use crate::crypto::TokenKeys;
use crate::grant::Grants;
use crate::http::cors::AllowedOrigins;
use crate::keys::{self, Keys};
use crate::metrics::Metrics;
use crate::password::PasswordHasherPool;
use crate::secret::SecretBytes;
use crate::store::Store;
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;

/// Start-up failures, each with a message for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be reached or prepared.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Signing keys could not be loaded or created.
    #[error("signing keys: {0}")]
    Keys(#[from] keys::KeyError),
    /// The password hasher could not start.
    #[error("password hasher: {0}")]
    Hasher(#[from] crate::password::HashError),
    /// The access-token validator could not be built.
    #[error("access-token validator: {0}")]
    Guard(String),
    /// The listener could not bind.
    #[error("cannot listen on {0}: {1}")]
    Bind(std::net::SocketAddr, std::io::Error),
    /// The server stopped with an error.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Installs the log subscriber: JSON or text lines on standard output.
pub fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = match settings.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Connects the configured store.
pub async fn connect_store(
    settings: &Settings,
    metrics: Arc<Metrics>,
) -> Result<AnyStore, StartError> {
    Ok(match &settings.store {
        StoreSettings::Memory => AnyStore::memory(MemoryStore::new(), metrics),
        StoreSettings::Redis { url, key_prefix } => {
            let timeout = Duration::from_millis(settings.store_timeout_ms);
            let mut store = RedisStore::connect(url.expose(), key_prefix, timeout).await?;
            if let Some(acks) = settings.store_replica_acks {
                store = store.with_replica_acks(acks);
            }
            AnyStore::redis(store, metrics)
        }
    })
}

/// The key-encryption key: configured with Redis, random per process with
/// the memory store (whose keys die with the process anyway).
fn kek_of(settings: &Settings) -> SecretBytes {
    settings
        .key_encryption_key
        .clone()
        .unwrap_or_else(|| SecretBytes::random(32))
}

/// Re-reads the signing keys every `keys.reload_interval_secs`, so that a
/// rotation made by any instance or by the CLI reaches this one, and rotates
/// in a new key when the active one is older than the rotation interval.
async fn maintain_keys(grants: web::Data<Grants>) {
    let kek = grants.key_encryption_key.clone();
    let settings = grants.settings.clone();
    let period = Duration::from_secs(settings.key_reload_interval_secs as u64);
    let timings = keys::Timings::from_settings(&settings);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now_ms = grants.clock.now_ms();
        if let Err(error) = maintain_once(&grants, &kek, now_ms, timings).await {
            tracing::warn!(%error, "signing key refresh failed; keeping the keys in use");
        }
    }
}

async fn maintain_once(
    grants: &Grants,
    kek: &SecretBytes,
    now_ms: i64,
    timings: keys::Timings,
) -> Result<(), keys::KeyError> {
    if !grants.settings.pem_files.is_empty() {
        // Keys come from files: re-reading them lets an operator rotate by
        // editing the list and the files.
        let ring = keys::ring_from_pem_files(&grants.settings.pem_files)?;
        install_ring(grants, ring);
        return Ok(());
    }
    let interval_ms = grants.settings.key_rotation_interval_secs * 1000;
    if interval_ms > 0 {
        let stored = grants.store.load_keys().await?;
        let pending = stored
            .iter()
            .any(|k| keys::key_state(k, now_ms) == keys::KeyState::Pending);
        let newest = stored
            .iter()
            .map(|k| k.activates_ms)
            .max()
            .unwrap_or(now_ms);
        if !pending && now_ms - newest >= interval_ms {
            let alg = grants.settings.key_algorithm;
            keys::rotate(&grants.store, kek, alg, now_ms, timings).await?;
        }
    }
    let ring = keys::load_ring(&grants.store, kek, now_ms).await?;
    install_ring(grants, ring);
    Ok(())
}

fn install_ring(grants: &Grants, ring: keys::KeyRing) {
    let previous = grants.keys.current();
    if previous.active().kid() != ring.active().kid() {
        tracing::info!(old = %previous.active().kid(), new = %ring.active().kid(),
            "signing key switched");
    }
    if previous.jwks() != ring.jwks() {
        grants.verifying_keys.set_jwk_set(ring.jwks());
    }
    grants.keys.replace(ring);
}

/// Builds the shared state: store, keys, hasher.
pub async fn build_grants(settings: Arc<Settings>, clock: Clock) -> Result<Grants, StartError> {
    let metrics = Arc::new(Metrics::new());
    let store = connect_store(&settings, metrics.clone()).await?;
    let kek = kek_of(&settings);
    let ring = if settings.pem_files.is_empty() {
        keys::load_ring(&store, &kek, clock.now_ms()).await?
    } else {
        keys::ring_from_pem_files(&settings.pem_files)?
    };
    let keys = Keys::new(ring);
    let hasher =
        PasswordHasherPool::new(settings.password_hash_threads, settings.password_hash_queue)?;
    let verifying_keys = Arc::new(resource_guard::InProcessKeys::from_jwk_set(
        keys.current().jwks(),
    ));
    let validator = resource_guard::Validator::builder(settings.issuer.clone())
        .audience(settings.audience.clone())
        .key_source(verifying_keys.clone())
        .build()
        .map_err(|e| StartError::Guard(e.to_string()))?;
    Ok(Grants {
        metrics,
        key_encryption_key: kek,
        validator,
        verifying_keys,
        token_keys: TokenKeys::derive(&settings.refresh_pepper),
        settings,
        store,
        keys,
        hasher,
        clock,
    })
}

fn log_summary(settings: &Settings) {
    let store = match &settings.store {
        StoreSettings::Memory => "memory",
        StoreSettings::Redis { .. } => "redis",
    };
    let clients: Vec<&str> = settings.clients.iter().map(|c| c.id.as_str()).collect();
    tracing::info!(
        bind = %settings.bind,
        issuer = %settings.issuer,
        store,
        access_ttl_secs = settings.access_ttl_secs,
        refresh_idle_ttl_secs = settings.refresh_idle_ttl_secs,
        session_max_ttl_secs = settings.session_max_ttl_secs,
        reuse_grace_secs = settings.reuse_grace_secs,
        audience = %settings.audience,
        clients = ?clients,
        allowed_origins = ?settings.allowed_origins,
        password_hash_threads = settings.password_hash_threads,
        "configuration loaded"
    );
    if settings.ephemeral {
        tracing::warn!(
            "using the in-memory store and an ephemeral signing key: every user, session and \
             key is lost on restart; set AUTH__STORE__URL to a redis:// URL for real use"
        );
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn serve(settings: Settings) -> Result<(), StartError> {
    let settings = Arc::new(settings);
    log_summary(&settings);
    let grants = web::Data::new(build_grants(settings.clone(), Clock::System).await?);
    let kid = grants.keys.current().active().kid().to_owned();
    tracing::info!(%kid, "signing key loaded");
    actix_web::rt::spawn(maintain_keys(grants.clone()));
    let data = grants.clone();
    let origins = web::Data::new(AllowedOrigins(Arc::new(settings.allowed_origins.clone())));
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(origins.clone())
            .wrap(from_fn(crate::http::cors::cors))
            .wrap(from_fn(crate::http::observe))
            .configure(|config| crate::http::configure(config, data.clone()))
    })
    .shutdown_timeout(10);
    if let Some(workers) = settings.workers {
        server = server.workers(workers);
    }
    let server = server
        .bind(settings.bind)
        .map_err(|e| StartError::Bind(settings.bind, e))?;
    tracing::info!(bind = %settings.bind, "listening");
    server.run().await?;
    tracing::info!("stopped");
    Ok(())
}

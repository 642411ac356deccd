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
use crate::password::PasswordHasherPool;
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
pub async fn connect_store(settings: &Settings) -> Result<AnyStore, StartError> {
    Ok(match &settings.store {
        StoreSettings::Memory => AnyStore::Memory(MemoryStore::new()),
        StoreSettings::Redis { url, key_prefix } => {
            let timeout = Duration::from_millis(settings.store_timeout_ms);
            AnyStore::Redis(RedisStore::connect(url.expose(), key_prefix, timeout).await?)
        }
    })
}

/// Builds the shared state: store, keys, hasher.
pub async fn build_grants(settings: Arc<Settings>, clock: Clock) -> Result<Grants, StartError> {
    let store = connect_store(&settings).await?;
    let keys = match &settings.key_encryption_key {
        Some(kek) if !settings.ephemeral => {
            Keys::new(keys::load_ring(&store, kek, clock.now_ms()).await?)
        }
        _ => Keys::ephemeral()?,
    };
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

//! Key publication and health endpoints.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

use super::error::ApiError;
use crate::grant::Grants;
use crate::keys::{KeyState, key_state};
use crate::store::Store;

/// `GET /.well-known/jwks.json`: the public keys, pre-encoded.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta",
    responses((status = 200, description = "Public signing keys", body = super::openapi::JwksDoc)))]
pub async fn jwks(grants: web::Data<Grants>) -> HttpResponse {
    let ring = grants.keys.current();
    let cache = format!("public, max-age={}", grants.settings.jwks_max_age_secs);
    let mut response = HttpResponse::Ok();
    if let Ok(value) = HeaderValue::from_str(&cache) {
        response.insert_header((header::CACHE_CONTROL, value));
    }
    response
        .content_type("application/json")
        .body(ring.jwks_body())
}

/// `GET /healthz`: the process runs.
#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, description = "The process runs", body = super::openapi::StatusBody)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// `GET /readyz`: the store responds and a signing key is loaded. Keys are
/// loaded before the listener opens, so the store is what can fail.
#[utoipa::path(get, path = "/readyz", tag = "meta",
    responses(
        (status = 200, description = "Store reachable, keys loaded", body = super::openapi::StatusBody),
        (status = 503, description = "Store unreachable", body = super::openapi::StatusBody)))]
pub async fn readyz(grants: web::Data<Grants>) -> HttpResponse {
    match grants.store.ping().await {
        Ok(()) => HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"status":"ready"}"#),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            let mut response = HttpResponse::ServiceUnavailable();
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("2")));
            response
                .content_type("application/json")
                .body(r#"{"status":"unavailable"}"#)
        }
    }
}

/// Any unknown route.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(grants: web::Data<Grants>) -> HttpResponse {
    let metrics = &grants.metrics;
    metrics
        .hash_queue_depth
        .set(grants.hasher.queue_depth() as i64);
    // The pool counts its runs; the counter catches up at each scrape.
    let hashes = grants.hasher.completed();
    metrics
        .hashes
        .inc_by(hashes.saturating_sub(metrics.hashes.get()));
    let now_ms = grants.clock.now_ms();
    if let Ok(keys) = grants.store.load_keys().await {
        for state in [
            KeyState::Pending,
            KeyState::Active,
            KeyState::Retired,
            KeyState::Removed,
        ] {
            let count = keys
                .iter()
                .filter(|k| key_state(k, now_ms) == state)
                .count();
            metrics
                .keys
                .with_label_values(&[state.name()])
                .set(count as i64);
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.encode())
}

/// A known path with a method it does not support.
pub async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let mut response = super::error::error_response(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "method not allowed",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

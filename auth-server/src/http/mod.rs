//! HTTP layer: routes, request logging and the error mapping.

mod account;
mod body;
mod client_auth;
mod context;
pub mod cookies;
pub mod cors;
mod error;
mod meta;
pub mod oauth;
pub mod openapi;
mod session;
mod sessions;
mod token;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use tracing::Instrument;

pub use body::{Params, form_body, form_or_json_body, parse_form};
pub use client_auth::{Credentials, parse_basic};
pub use error::ApiError;

use crate::grant::Grants;

/// Registers every route. `grants` is the shared state.
pub fn configure(config: &mut web::ServiceConfig, grants: web::Data<Grants>) {
    let validator = grants.validator.clone();
    let metadata = oauth::metadata_document(&grants);
    config
        .app_data(grants)
        .app_data(web::PayloadConfig::new(body::MAX_BODY_BYTES))
        .app_data(web::Data::new(oauth::MetadataDocument(metadata)))
        .app_data(web::Data::new(openapi::OpenApiDocument::build()))
        .service(resource("/signup", "POST").route(web::post().to(token::sign_up)))
        .service(resource("/token", "POST").route(web::post().to(token::token)))
        .service(resource("/refresh", "POST").route(web::post().to(session::refresh)))
        .service(resource("/logout", "POST").route(web::post().to(session::log_out)))
        .service(resource("/csrf", "GET").route(web::get().to(session::csrf)))
        .service(resource("/revoke", "POST").route(web::post().to(oauth::revoke)))
        .service(resource("/introspect", "POST").route(web::post().to(oauth::introspect)))
        .service(resource("/password", "POST").route(guarded(
            web::post().to(account::change_password),
            &validator,
        )))
        .service(
            resource("/sessions", "GET").route(guarded(web::get().to(sessions::list), &validator)),
        )
        .service(
            resource("/sessions/{id}", "DELETE")
                .route(guarded(web::delete().to(sessions::revoke), &validator)),
        )
        .service(
            resource("/logout-all", "POST")
                .route(guarded(web::post().to(sessions::logout_all), &validator)),
        )
        .service(
            resource("/.well-known/oauth-authorization-server", "GET")
                .route(web::get().to(oauth::metadata)),
        )
        .service(resource(shared::JWKS_PATH, "GET").route(web::get().to(meta::jwks)))
        .service(resource("/healthz", "GET").route(web::get().to(meta::healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(meta::readyz)))
        .service(resource("/metrics", "GET").route(web::get().to(meta::metrics)))
        .service(resource("/openapi.json", "GET").route(web::get().to(openapi::openapi_json)))
        .default_service(web::to(meta::not_found));
}

/// A resource whose unsupported methods get 405 with an `Allow` header.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || meta::method_not_allowed(allow)))
}

/// A route that requires a valid access token of this server.
fn guarded(route: actix_web::Route, validator: &resource_guard::Validator) -> actix_web::Route {
    route.wrap(resource_guard::Guard::new(validator.clone()))
}

/// The request id of a request: `X-Request-Id` when it is a short token of
/// safe characters, otherwise a new random id.
#[derive(Clone)]
pub struct RequestId(pub String);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn request_id(req: &ServiceRequest) -> String {
    let given = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    match given {
        Some(id) => id.to_owned(),
        None => uuid::Uuid::new_v4().simple().to_string(),
    }
}

/// Middleware: one span per request with its id, one log line per response,
/// and headers every response carries. Only the path is logged, never the
/// query string or a body.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    let path: String = req.path().chars().take(200).collect();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %path);
    let started = Instant::now();
    let metrics = req
        .app_data::<web::Data<Grants>>()
        .map(|g| g.metrics.clone());
    let mut response = next.call(req).instrument(span.clone()).await?;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let micros = elapsed.as_micros() as u64;
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        let status_text = status.to_string();
        let method = match method.as_str() {
            "GET" | "POST" | "DELETE" | "OPTIONS" | "HEAD" | "PUT" | "PATCH" => method.as_str(),
            _ => "other",
        };
        metrics
            .requests
            .with_label_values(&[route.as_str(), method, &status_text])
            .inc();
        metrics
            .request_seconds
            .with_label_values(&[route.as_str()])
            .observe(elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, micros, "request failed");
        } else {
            tracing::info!(status, micros, "request done");
        }
    });
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

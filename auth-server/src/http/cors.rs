//! CORS for the configured origins only, with credentials.
//!
//! A request whose `Origin` is in the allowed list gets
//! `Access-Control-Allow-Origin` naming exactly that origin and
//! `Access-Control-Allow-Credentials: true`. A request from any other origin
//! gets no CORS header at all, so the browser keeps the response from the
//! page; the endpoints that use cookies also reject such requests with 403.
//! Every response carries `Vary: Origin`, because it depends on the header.

use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

/// Methods a cross-origin request may use.
const ALLOWED_METHODS: &str = "GET, POST, DELETE";
/// Request headers a cross-origin request may send.
const ALLOWED_HEADERS: &str = "authorization, content-type, x-csrf-token, x-request-id";
/// Response headers a cross-origin script may read.
const EXPOSED_HEADERS: &str = "retry-after, www-authenticate, x-request-id";
/// Seconds a browser may cache a preflight response.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The allowed origins, shared by every worker.
#[derive(Clone)]
pub struct AllowedOrigins(pub Arc<Vec<String>>);

fn allowed_origin(headers: &HeaderMap, allowed: &AllowedOrigins) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    allowed.0.iter().any(|a| a == text).then(|| origin.clone())
}

fn is_preflight(req: &ServiceRequest) -> bool {
    req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

fn preflight(origin: Option<HeaderValue>) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::NO_CONTENT);
    response.insert_header((header::VARY, HeaderValue::from_static("Origin")));
    if let Some(origin) = origin {
        response
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE));
    }
    response.finish()
}

/// Middleware: responds to preflights and decorates every other response.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let allowed = req
        .app_data::<web::Data<AllowedOrigins>>()
        .map(|d| d.get_ref().clone())
        .unwrap_or_else(|| AllowedOrigins(Arc::new(Vec::new())));
    let origin = allowed_origin(req.headers(), &allowed);
    if is_preflight(&req) {
        return Ok(req.into_response(preflight(origin)));
    }
    let mut response = next.call(req).await?.map_into_boxed_body();
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    Ok(response)
}

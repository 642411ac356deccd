//! Browser session endpoints: `POST /refresh`, `POST /logout`, `GET /csrf`.
//!
//! Every request that uses the refresh cookie must come from an allowed
//! origin (or carry no `Origin`), and those that change state must echo the
//! session's CSRF token in `X-CSRF-Token`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::body;
use super::context::{client_context, origin_allowed};
use super::cookies::{self, presented_csrf_token, presented_refresh_token};
use super::error::{ApiError, error_response};
use super::token::{no_store, token_response};
use crate::grant::{GrantError, Grants};
use crate::refresh_token::RefreshToken;

fn forbidden(reason: &'static str) -> ApiError {
    GrantError::Forbidden(reason).into()
}

/// A 401 `invalid_grant` that also deletes both cookies.
fn rejected_with_cleared_cookies(description: &str) -> HttpResponse {
    let mut response = error_response(StatusCode::UNAUTHORIZED, "invalid_grant", description);
    for cookie in cookies::cleared() {
        let _ = response.add_cookie(&cookie);
    }
    response
}

/// `POST /refresh`: rotates the refresh cookie of a browser session.
#[utoipa::path(post, path = "/refresh", tag = "browser",
    params(("X-CSRF-Token" = Option<String>, Header, description = "The session's CSRF token")),
    responses(
        (status = 200, description = "Rotated; a new refresh cookie is set", body = super::openapi::TokenResponse),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 401, description = "No, invalid or reused refresh cookie", body = super::openapi::ErrorBody),
        (status = 403, description = "CSRF token or origin rejected", body = super::openapi::ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = super::openapi::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::openapi::ErrorBody)))]
pub async fn refresh(
    req: HttpRequest,
    payload: web::Payload,
    grants: web::Data<Grants>,
) -> Result<HttpResponse, ApiError> {
    let body = body::read_body(&req, payload).await?;
    if !origin_allowed(&req, &grants.settings.allowed_origins) {
        return Err(forbidden("origin not allowed"));
    }
    let Some(presented) = presented_refresh_token(&req) else {
        return Err(ApiError::NoRefreshCookie);
    };
    let Ok(token) = RefreshToken::parse(&grants.token_keys, &presented) else {
        return Ok(rejected_with_cleared_cookies("invalid refresh token"));
    };
    let csrf_ok =
        presented_csrf_token(&req).is_some_and(|h| grants.csrf_matches(&token.session, h));
    if !csrf_ok {
        return Err(forbidden("missing or invalid CSRF token"));
    }
    let client = browser_client(&req, &body, &grants)?;
    match grants
        .refresh(&presented, &client, None, client_context(&req))
        .await
    {
        Ok(issued) => Ok(token_response(StatusCode::OK, &issued)),
        Err(GrantError::InvalidGrant(description)) => {
            Ok(rejected_with_cleared_cookies(description))
        }
        Err(other) => Err(other.into()),
    }
}

/// The browser client a cookie request acts for: the form field `client_id`
/// when sent, otherwise the only configured browser client.
fn browser_client(
    req: &HttpRequest,
    body: &[u8],
    grants: &Grants,
) -> Result<crate::config::Client, ApiError> {
    let named = if body.is_empty() {
        None
    } else {
        body::form(req, body)?.get("client_id").map(str::to_owned)
    };
    let mut browsers = grants
        .settings
        .clients
        .iter()
        .filter(|c| Grants::uses_cookies(c));
    let client = match named {
        Some(id) => grants.client(&id)?,
        None => match (browsers.next(), browsers.next()) {
            (Some(only), None) => only,
            (None, _) => return Err(GrantError::UnauthorizedClient.into()),
            (Some(_), Some(_)) => {
                return Err(
                    GrantError::InvalidRequest("missing parameter: client_id".into()).into(),
                );
            }
        },
    };
    if !Grants::uses_cookies(client) {
        return Err(GrantError::UnauthorizedClient.into());
    }
    Ok(client.clone())
}

/// `POST /logout`: revokes the session of the refresh cookie (with the CSRF
/// header) or of the form field `refresh_token` (native clients). Returns
/// 204 also for unknown or already revoked tokens.
#[utoipa::path(post, path = "/logout", tag = "tokens",
    request_body(content = super::openapi::LogoutRequest, content_type = "application/x-www-form-urlencoded"),
    params(("X-CSRF-Token" = Option<String>, Header, description = "Required with the refresh cookie")),
    responses(
        (status = 204, description = "Session ended, or nothing to end"),
        (status = 400, description = "Malformed request", body = super::openapi::ErrorBody),
        (status = 403, description = "CSRF token or origin rejected", body = super::openapi::ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = super::openapi::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::openapi::ErrorBody)))]
pub async fn log_out(
    req: HttpRequest,
    payload: web::Payload,
    grants: web::Data<Grants>,
) -> Result<HttpResponse, ApiError> {
    let body = body::read_body(&req, payload).await?;
    let context = client_context(&req);
    // A page on a foreign origin gets 403 whether or not its browser sent
    // the cookie; native clients send no Origin.
    if !origin_allowed(&req, &grants.settings.allowed_origins) {
        return Err(forbidden("origin not allowed"));
    }
    if let Some(presented) = presented_refresh_token(&req) {
        if let Ok(token) = RefreshToken::parse(&grants.token_keys, &presented) {
            let csrf_ok =
                presented_csrf_token(&req).is_some_and(|h| grants.csrf_matches(&token.session, h));
            if !csrf_ok {
                return Err(forbidden("missing or invalid CSRF token"));
            }
            grants.log_out(&presented, &context).await?;
        }
        let mut response = HttpResponse::NoContent();
        no_store(&mut response);
        for cookie in cookies::cleared() {
            response.cookie(cookie);
        }
        return Ok(response.finish());
    }
    if !body.is_empty() {
        let params = body::form(&req, &body)?;
        let presented = params.require("refresh_token")?;
        grants.log_out(presented, &context).await?;
    }
    let mut response = HttpResponse::NoContent();
    no_store(&mut response);
    Ok(response.finish())
}

#[derive(Serialize)]
struct CsrfBody {
    csrf_token: String,
}

/// `GET /csrf`: the session's CSRF token, for a page that reloaded and
/// cannot read the auth server's cookie.
#[utoipa::path(get, path = "/csrf", tag = "browser",
    responses(
        (status = 200, description = "The session's CSRF token", body = super::openapi::CsrfResponse),
        (status = 401, description = "No or invalid refresh cookie", body = super::openapi::ErrorBody),
        (status = 403, description = "Origin not allowed", body = super::openapi::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::openapi::ErrorBody)))]
pub async fn csrf(req: HttpRequest, grants: web::Data<Grants>) -> Result<HttpResponse, ApiError> {
    if !origin_allowed(&req, &grants.settings.allowed_origins) {
        return Err(forbidden("origin not allowed"));
    }
    let Some(presented) = presented_refresh_token(&req) else {
        return Err(ApiError::NoRefreshCookie);
    };
    let Ok(token) = RefreshToken::parse(&grants.token_keys, &presented) else {
        return Ok(rejected_with_cleared_cookies("invalid refresh token"));
    };
    if !grants.session_is_live(&token).await? {
        return Ok(rejected_with_cleared_cookies("invalid refresh token"));
    }
    let mut response = HttpResponse::Ok();
    no_store(&mut response);
    Ok(response.json(CsrfBody {
        csrf_token: grants.csrf_token(&token.session),
    }))
}

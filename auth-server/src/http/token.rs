//! `POST /signup` and `POST /token`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::body::{self, Params};
use super::client_auth;
use super::context::{client_context, origin_allowed};
use super::cookies;
use super::error::ApiError;
use crate::config::Client;
use crate::grant::{GrantError, Grants, Issued};

#[derive(Serialize)]
struct TokenBody<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<&'a str>,
}

/// Builds a token response: the refresh token goes in the body for native
/// clients and only in a cookie for browser clients.
pub fn token_response(status: StatusCode, issued: &Issued) -> HttpResponse {
    let browser = Grants::uses_cookies(&issued.client);
    let mut response = HttpResponse::build(status);
    no_store(&mut response);
    if browser {
        let token = issued.refresh_token.expose();
        response.cookie(cookies::refresh_cookie(token, issued.refresh_max_age));
        response.cookie(cookies::csrf_cookie(
            &issued.csrf_token,
            issued.refresh_max_age,
        ));
    }
    response.json(TokenBody {
        access_token: &issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: &issued.scope,
        refresh_token: (!browser).then(|| issued.refresh_token.expose()),
        csrf_token: browser.then_some(issued.csrf_token.as_str()),
    })
}

/// Sets the headers RFC 6749 section 5.1 requires on token responses.
pub fn no_store(response: &mut actix_web::HttpResponseBuilder) {
    response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    response.insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
}

/// Refuses browser-client requests from origins outside the allowed list,
/// so that a foreign page cannot log a victim into another account.
fn check_origin(req: &HttpRequest, grants: &Grants, client: &Client) -> Result<(), ApiError> {
    if Grants::uses_cookies(client) && !origin_allowed(req, &grants.settings.allowed_origins) {
        return Err(GrantError::Forbidden("origin not allowed").into());
    }
    Ok(())
}

fn client<'a>(grants: &'a Grants, params: &Params) -> Result<&'a Client, ApiError> {
    Ok(grants.client(params.require("client_id")?)?)
}

/// `POST /signup`: creates an account and returns 201 with a token response.
#[utoipa::path(post, path = "/signup", tag = "tokens",
    request_body(content(
        (super::openapi::SignupRequest = "application/json"),
        (super::openapi::SignupRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 201, description = "Account created and logged in", body = super::openapi::TokenResponse),
        (status = 400, description = "Invalid input", body = super::openapi::ErrorBody),
        (status = 401, description = "Unknown client", body = super::openapi::ErrorBody),
        (status = 403, description = "Origin not allowed", body = super::openapi::ErrorBody),
        (status = 409, description = "Username taken", body = super::openapi::ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = super::openapi::ErrorBody),
        (status = 429, description = "Too many sign-ups from this address", body = super::openapi::ErrorBody),
        (status = 503, description = "Store unavailable or busy", body = super::openapi::ErrorBody)))]
pub async fn sign_up(
    req: HttpRequest,
    payload: web::Payload,
    grants: web::Data<Grants>,
) -> Result<HttpResponse, ApiError> {
    let body = body::read_body(&req, payload).await?;
    let params = body::form_or_json(&req, &body)?;
    let client = client(&grants, &params)?;
    check_origin(&req, &grants, client)?;
    let username = params.require("username")?;
    let password = params.secret("password")?;
    let issued = grants
        .sign_up(username, password, client, client_context(&req))
        .await?;
    Ok(token_response(StatusCode::CREATED, &issued))
}

/// `POST /token`: the password, refresh_token and client_credentials grants
/// (RFC 6749).
#[utoipa::path(post, path = "/token", tag = "tokens",
    request_body(content = super::openapi::TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "Tokens issued", body = super::openapi::TokenResponse),
        (status = 400, description = "Invalid request, grant or scope", body = super::openapi::ErrorBody),
        (status = 401, description = "Client authentication failed", body = super::openapi::ErrorBody),
        (status = 403, description = "Origin not allowed", body = super::openapi::ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = super::openapi::ErrorBody),
        (status = 429, description = "Too many failed logins", body = super::openapi::ErrorBody),
        (status = 503, description = "Store unavailable or busy", body = super::openapi::ErrorBody)))]
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    grants: web::Data<Grants>,
) -> Result<HttpResponse, ApiError> {
    let body = body::read_body(&req, payload).await?;
    let params = body::form(&req, &body)?;
    let grant_type = params.require("grant_type")?;
    if !matches!(
        grant_type,
        "password" | "refresh_token" | "client_credentials"
    ) {
        return Err(GrantError::UnsupportedGrantType.into());
    }
    let client = client_auth::authenticate(&req, &params, &grants)?;
    check_origin(&req, &grants, client)?;
    let context = client_context(&req);
    let scope = params.get("scope");
    let issued = match grant_type {
        "password" => {
            let username = params.require("username")?;
            let password = params.secret("password")?;
            grants
                .log_in(username, password, client, scope, context)
                .await?
        }
        "refresh_token" => {
            if Grants::uses_cookies(client) {
                // A browser client's refresh token lives in an HttpOnly
                // cookie; it refreshes through /refresh with a CSRF header.
                return Err(GrantError::UnauthorizedClient.into());
            }
            let token = params.require("refresh_token")?;
            grants.refresh(token, client, scope, context).await?
        }
        _ => {
            let (access_token, scope) = grants.client_credentials(client, scope)?;
            let mut response = HttpResponse::Ok();
            no_store(&mut response);
            return Ok(response.json(TokenBody {
                access_token: &access_token,
                token_type: "Bearer",
                expires_in: grants.settings.access_ttl_secs,
                scope: &scope,
                refresh_token: None,
                csrf_token: None,
            }));
        }
    };
    Ok(token_response(StatusCode::OK, &issued))
}

//! Self-service session management for a signed-in user: `GET /sessions`,
//! `DELETE /sessions/{id}`, `POST /logout-all`.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use resource_guard::Authenticated;
use serde::Serialize;

use super::account::live_subject;
use super::error::ApiError;
use crate::grant::{GrantError, Grants};
use crate::store::{SessionId, Store};

#[derive(Serialize)]
struct SessionView {
    id: String,
    client_id: String,
    created_at: i64,
    last_used_at: i64,
    ip: String,
    user_agent: String,
    current: bool,
}

#[derive(Serialize)]
struct SessionList {
    sessions: Vec<SessionView>,
}

fn no_store() -> (header::HeaderName, &'static str) {
    (header::CACHE_CONTROL, "no-store")
}

/// `GET /sessions`: the user's live sessions, newest first.
#[utoipa::path(get, path = "/sessions", tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Live sessions", body = super::openapi::SessionListResponse),
        (status = 400, description = "Malformed Authorization header or body", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not a user's token", body = super::openapi::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::openapi::ErrorBody)))]
pub async fn list(
    claims: Authenticated,
    grants: web::Data<Grants>,
) -> Result<HttpResponse, ApiError> {
    let (user, current) = live_subject(&claims, &grants).await?;
    let now_ms = grants.clock.now_ms();
    let mut sessions = grants
        .store
        .list_sessions(&user, now_ms)
        .await
        .map_err(GrantError::from)?;
    sessions.sort_by_key(|s| std::cmp::Reverse(s.created_ms));
    let sessions = sessions
        .into_iter()
        .map(|s| SessionView {
            current: s.id == current,
            id: s.id.to_string(),
            client_id: s.client_id,
            created_at: s.created_ms.div_euclid(1000),
            last_used_at: s.last_used_ms.div_euclid(1000),
            ip: s.last_context.ip,
            user_agent: s.last_context.user_agent,
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(no_store())
        .json(SessionList { sessions }))
}

/// `DELETE /sessions/{id}`: revokes one of the user's sessions. Another
/// user's session id is 404, like an unknown one.
#[utoipa::path(delete, path = "/sessions/{id}", tag = "account",
    params(("id" = String, Path, description = "Session id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Session revoked"),
        (status = 400, description = "Malformed Authorization header or body", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not a user's token", body = super::openapi::ErrorBody),
        (status = 404, description = "No such session of this user", body = super::openapi::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::openapi::ErrorBody)))]
pub async fn revoke(
    claims: Authenticated,
    path: web::Path<String>,
    grants: web::Data<Grants>,
) -> Result<HttpResponse, ApiError> {
    let (user, _) = live_subject(&claims, &grants).await?;
    let Some(session) = SessionId::parse(&path.into_inner()) else {
        return Err(ApiError::NoSuchSession);
    };
    // The session key lives under the user's own hash tag, so another
    // user's session id finds nothing here.
    if !grants
        .store
        .revoke_session(&user, &session)
        .await
        .map_err(GrantError::from)?
    {
        return Err(ApiError::NoSuchSession);
    }
    crate::audit::session_revoked(&user, &session, "user_request");
    Ok(HttpResponse::NoContent().insert_header(no_store()).finish())
}

/// `POST /logout-all`: revokes every session of the user, including the
/// current one.
#[utoipa::path(post, path = "/logout-all", tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session revoked"),
        (status = 400, description = "Malformed Authorization header or body", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not a user's token", body = super::openapi::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::openapi::ErrorBody)))]
pub async fn logout_all(
    claims: Authenticated,
    grants: web::Data<Grants>,
) -> Result<HttpResponse, ApiError> {
    let (user, _) = live_subject(&claims, &grants).await?;
    let now_ms = grants.clock.now_ms();
    let revoked = grants
        .store
        .revoke_all(&user, now_ms)
        .await
        .map_err(GrantError::from)?;
    tracing::info!(target: "audit", event = "logout_all", user = %user, revoked_sessions = revoked);
    Ok(HttpResponse::NoContent().insert_header(no_store()).finish())
}

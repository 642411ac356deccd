//! Endpoints for a signed-in user, authenticated by this server's own access
//! tokens through `resource_guard` with the in-process keys.

use actix_web::{HttpRequest, HttpResponse, web};
use resource_guard::Authenticated;

use super::body;
use super::context::client_context;
use super::error::ApiError;
use crate::grant::{GrantError, Grants};
use crate::store::{SessionId, Store, UserId};

/// The user and session an access token names, once the session is known
/// to be live: an access token outlives its session (it cannot be revoked),
/// but these endpoints act on the account, so a token of an ended session
/// gets 401 here.
pub(super) async fn live_subject(
    claims: &Authenticated,
    grants: &Grants,
) -> Result<(UserId, SessionId), ApiError> {
    // Client-credentials tokens name a client, not a user: nothing here
    // applies to them.
    let user = UserId::parse(&claims.sub).ok_or(GrantError::Forbidden(
        "the access token does not belong to a user",
    ))?;
    let session = claims
        .sid
        .as_deref()
        .and_then(SessionId::parse)
        .ok_or(ApiError::SessionEnded)?;
    let now_ms = grants.clock.now_ms();
    let live = grants
        .store
        .get_session(&user, &session, now_ms)
        .await
        .map_err(GrantError::from)?;
    if live.is_none() {
        return Err(ApiError::SessionEnded);
    }
    Ok((user, session))
}

/// `POST /password`: JSON `{"current_password", "new_password"}`. Changes the
/// password and revokes every other session of the user; 204 on success.
#[utoipa::path(post, path = "/password", tag = "account",
    request_body(content(
        (super::openapi::PasswordChange = "application/json"),
        (super::openapi::PasswordChange = "application/x-www-form-urlencoded"))),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Password changed; other sessions ended"),
        (status = 400, description = "Wrong current password or invalid new one", body = super::openapi::ErrorBody),
        (status = 400, description = "Malformed Authorization header or body", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = super::openapi::ErrorBody),
        (status = 403, description = "Not a user's token", body = super::openapi::ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = super::openapi::ErrorBody),
        (status = 503, description = "Store unavailable or busy", body = super::openapi::ErrorBody)))]
pub async fn change_password(
    req: HttpRequest,
    claims: Authenticated,
    payload: web::Payload,
    grants: web::Data<Grants>,
) -> Result<HttpResponse, ApiError> {
    let (user, session) = live_subject(&claims, &grants).await?;
    let body = body::read_body(&req, payload).await?;
    let params = body::form_or_json(&req, &body)?;
    let current = params.secret("current_password")?;
    let new = params.secret("new_password")?;
    let context = client_context(&req);
    grants
        .change_password(&user, Some(&session), current, new, &context)
        .await?;
    Ok(HttpResponse::NoContent()
        .insert_header(("cache-control", "no-store"))
        .finish())
}

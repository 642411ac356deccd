//! Endpoints for a signed-in user, authenticated by this server's own access
//! tokens through `resource_guard` with the in-process keys.

use actix_web::{HttpRequest, HttpResponse, web};
use resource_guard::Authenticated;

use super::body;
use super::context::client_context;
use super::error::ApiError;
use crate::grant::{GrantError, Grants};
use crate::store::{SessionId, UserId};

/// The user and session an access token names.
fn subject(claims: &Authenticated) -> Result<(UserId, Option<SessionId>), ApiError> {
    // Client-credentials tokens name a client, not a user: nothing here
    // applies to them.
    let user = UserId::parse(&claims.sub).ok_or(GrantError::Forbidden(
        "the access token does not belong to a user",
    ))?;
    let session = claims.sid.as_deref().and_then(SessionId::parse);
    Ok((user, session))
}

/// `POST /password`: JSON `{"current_password", "new_password"}`. Changes the
/// password and revokes every other session of the user; 204 on success.
pub async fn change_password(
    req: HttpRequest,
    claims: Authenticated,
    payload: web::Payload,
    grants: web::Data<Grants>,
) -> Result<HttpResponse, ApiError> {
    let (user, session) = subject(&claims)?;
    let body = body::read_body(&req, payload).await?;
    let params = body::form_or_json(&req, &body)?;
    let current = params.secret("current_password")?;
    let new = params.secret("new_password")?;
    let context = client_context(&req);
    grants
        .change_password(&user, session.as_ref(), current, new, &context)
        .await?;
    Ok(HttpResponse::NoContent()
        .insert_header(("cache-control", "no-store"))
        .finish())
}

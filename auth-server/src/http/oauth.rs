//! RFC 8414 metadata, RFC 7009 revocation and RFC 7662 introspection.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::body;
use super::client_auth;
use super::error::ApiError;
use crate::config::{ClientKind, GrantType};
use crate::grant::{GrantError, Grants};

/// `POST /revoke` (RFC 7009): ends the session of a refresh or access token
/// issued to the calling client. Unknown tokens get 200 as well.
#[utoipa::path(post, path = "/revoke", tag = "tokens",
    request_body(content = super::openapi::TokenParameter, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "Revoked, or unknown token"),
        (status = 400, description = "Invalid request or token of another client", body = super::openapi::ErrorBody),
        (status = 401, description = "Client authentication failed", body = super::openapi::ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = super::openapi::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::openapi::ErrorBody)))]
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    grants: web::Data<Grants>,
) -> Result<HttpResponse, ApiError> {
    let body = body::read_body(&req, payload).await?;
    let params = body::form(&req, &body)?;
    let client = client_auth::authenticate(&req, &params, &grants)?;
    let token = params.require("token")?;
    grants
        .revoke(client, token, params.get("token_type_hint"))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// `POST /introspect` (RFC 7662), for confidential clients only.
#[utoipa::path(post, path = "/introspect", tag = "tokens",
    request_body(content = super::openapi::TokenParameter, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = [])),
    responses(
        (status = 200, description = "Token description", body = super::openapi::IntrospectionResponse),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "Client authentication failed", body = super::openapi::ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = super::openapi::ErrorBody),
        (status = 503, description = "Store unavailable", body = super::openapi::ErrorBody)))]
pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    grants: web::Data<Grants>,
) -> Result<HttpResponse, ApiError> {
    let body = body::read_body(&req, payload).await?;
    let params = body::form(&req, &body)?;
    let client = client_auth::authenticate(&req, &params, &grants)?;
    if client.kind != ClientKind::Confidential {
        return Err(GrantError::InvalidClient.into());
    }
    let token = params.require("token")?;
    let answer = grants
        .introspect(token, params.get("token_type_hint"))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(answer))
}

/// Builds the RFC 8414 metadata document once at start-up.
pub fn metadata_document(grants: &Grants) -> web::Bytes {
    let issuer = &grants.settings.issuer;
    let mut grant_types: Vec<&str> = Vec::new();
    let mut scopes: Vec<&str> = Vec::new();
    for client in &grants.settings.clients {
        for grant in &client.grants {
            let name = match grant {
                GrantType::Password => "password",
                GrantType::RefreshToken => "refresh_token",
                GrantType::ClientCredentials => "client_credentials",
            };
            if !grant_types.contains(&name) {
                grant_types.push(name);
            }
        }
        for scope in &client.scopes {
            if !scopes.contains(&scope.as_str()) {
                scopes.push(scope);
            }
        }
    }
    let document = json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}{}", shared::JWKS_PATH),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        // RFC 8414 requires this member. There is no authorization
        // endpoint, so no response type is usable; "token" and "code" are
        // not offered.
        "response_types_supported": [],
        "grant_types_supported": grant_types,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes,
    });
    #[allow(clippy::expect_used)]
    serde_json::to_vec(&document)
        .expect("metadata serializes")
        .into()
}

/// `GET /.well-known/oauth-authorization-server`.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "meta",
    responses((status = 200, description = "RFC 8414 metadata", content_type = "application/json")))]
pub async fn metadata(document: web::Data<MetadataDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ))
        .content_type("application/json")
        .body(document.0.clone())
}

/// The pre-encoded metadata document.
pub struct MetadataDocument(pub web::Bytes);

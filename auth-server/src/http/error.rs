//! The one place where failures become HTTP responses: RFC 6749 section 5.2
//! error bodies, with descriptions that carry no internal detail.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::grant::GrantError;

/// Seconds a client should wait after a 503.
const RETRY_AFTER_SECS: &str = "2";

/// An error response.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A grant or session operation failed.
    #[error(transparent)]
    Grant(#[from] GrantError),
    /// The body exceeds the size limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// No such route.
    #[error("not found")]
    NotFound,
    /// No session with this id belongs to the caller.
    #[error("no such session")]
    NoSuchSession,
    /// The access token's session has ended.
    #[error("the session has ended")]
    SessionEnded,
    /// Refresh cookie missing on a browser endpoint.
    #[error("no refresh token cookie")]
    NoRefreshCookie,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        use GrantError as G;
        match self {
            ApiError::Grant(grant) => {
                let description = grant.to_string();
                let (status, code) = match grant {
                    G::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
                    G::InvalidClient | G::InvalidClientBasic => {
                        (StatusCode::UNAUTHORIZED, "invalid_client")
                    }
                    G::NotIssuedToClient => (StatusCode::BAD_REQUEST, "unauthorized_client"),
                    G::UnsupportedTokenType => (StatusCode::BAD_REQUEST, "unsupported_token_type"),
                    G::InvalidGrant(_) => (StatusCode::BAD_REQUEST, "invalid_grant"),
                    G::UnauthorizedClient => (StatusCode::BAD_REQUEST, "unauthorized_client"),
                    G::UnsupportedGrantType => (StatusCode::BAD_REQUEST, "unsupported_grant_type"),
                    G::InvalidScope => (StatusCode::BAD_REQUEST, "invalid_scope"),
                    G::UsernameTaken => (StatusCode::CONFLICT, "username_taken"),
                    G::Forbidden(_) => (StatusCode::FORBIDDEN, "access_denied"),
                    G::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
                    G::Unavailable(_) => {
                        (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
                    }
                };
                (status, code, description)
            }
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "the request body exceeds 64 KiB".into(),
            ),
            ApiError::SessionEnded => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the session has ended".into(),
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint".into(),
            ),
            ApiError::NoSuchSession => (
                StatusCode::NOT_FOUND,
                "not_found",
                "no such session of this user".into(),
            ),
            ApiError::NoRefreshCookie => (
                StatusCode::UNAUTHORIZED,
                "invalid_grant",
                "no refresh token cookie".into(),
            ),
        }
    }
}

/// Builds an RFC 6749 error response.
pub fn error_response(status: StatusCode, code: &str, description: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.insert_header((
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        ));
    }
    response.json(ErrorBody {
        error: code,
        error_description: description,
    })
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, description) = self.parts();
        let mut response = error_response(status, code, &description);
        if let ApiError::SessionEnded = self {
            let challenge =
                "Bearer error=\"invalid_token\", error_description=\"the session has ended\"";
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let ApiError::Grant(GrantError::InvalidClientBasic) = self {
            // RFC 6749 section 5.2: a client that authenticated with the
            // Authorization header gets a challenge for the same scheme.
            let challenge = HeaderValue::from_static("Basic realm=\"auth-server\"");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let ApiError::Grant(GrantError::TooManyRequests(secs)) = self
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

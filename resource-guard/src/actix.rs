//! actix-web integration: the [`Guard`] middleware, the [`Authenticated`]
//! extractor and per-route scope checks.
//!
//! Responses follow RFC 6750:
//!
//! | case | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no bearer token | 401 | `Bearer` |
//! | malformed `Authorization` header | 400 | `Bearer error="invalid_request"` |
//! | bad token | 401 | `Bearer error="invalid_token"` |
//! | missing scope | 403 | `Bearer error="insufficient_scope", scope="..."` |
//! | no usable signing key | 503 | none; `Retry-After` instead |
//!
//! Bodies are small JSON objects with `error` and `error_description`,
//! whose text is fixed per case and never echoes the token.

use std::future::{Ready, ready};
use std::ops::Deref;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::EitherBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use shared::AccessClaims;

use crate::error::{ErrorKind, ValidationError};
use crate::validator::Validator;

/// The validated claims of the request's access token, for handlers.
///
/// Extracting it on a route that no [`Guard`] protects is a configuration
/// error: the request fails with 500 and the error is logged.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Arc<AccessClaims>);

impl Authenticated {
    /// The claims.
    pub fn claims(&self) -> &AccessClaims {
        &self.0
    }

    /// Checks inside a handler that the token grants `scope`. Without it,
    /// the error becomes a 403 `insufficient_scope` response.
    pub fn require_scope(&self, scope: &str) -> Result<(), ValidationError> {
        if self.0.has_scope(scope) {
            Ok(())
        } else {
            Err(ValidationError::insufficient_scope(scope))
        }
    }
}

impl Deref for Authenticated {
    type Target = AccessClaims;

    fn deref(&self) -> &AccessClaims {
        &self.0
    }
}

impl FromRequest for Authenticated {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Authenticated>()
                .cloned()
                .ok_or_else(not_guarded),
        )
    }
}

fn not_guarded() -> actix_web::Error {
    tracing::error!("route reads access-token claims but no resource_guard::Guard wraps it");
    actix_web::error::ErrorInternalServerError("internal error")
}

impl ResponseError for ValidationError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.kind().status()).unwrap_or(StatusCode::UNAUTHORIZED)
    }

    fn error_response(&self) -> HttpResponse {
        let kind = self.kind();
        let description = kind.description();
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        let code = match kind {
            ErrorKind::KeysUnavailable => {
                let secs = self.retry_after().map_or(1, |d| d.as_secs().max(1));
                res.insert_header((header::RETRY_AFTER, secs));
                "temporarily_unavailable"
            }
            ErrorKind::InsufficientScope => {
                let scope = self.missing_scope().unwrap_or_default();
                let challenge = format!(
                    "Bearer error=\"insufficient_scope\", \
                     error_description=\"{description}\", scope=\"{}\"",
                    quoted(scope)
                );
                res.insert_header((header::WWW_AUTHENTICATE, challenge));
                "insufficient_scope"
            }
            _ => {
                let challenge =
                    format!("Bearer error=\"invalid_token\", error_description=\"{description}\"");
                res.insert_header((header::WWW_AUTHENTICATE, challenge));
                "invalid_token"
            }
        };
        res.json(serde_json::json!({ "error": code, "error_description": description }))
    }
}

/// Drops characters a quoted-string cannot hold; scope names from
/// configuration never have them, but a header must stay well formed.
fn quoted(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
        .collect()
}

/// The reason no bearer token could be taken from a request.
enum NoToken {
    /// No credentials for this scheme, so the response is a bare challenge.
    Missing,
    /// The `Authorization` header breaks the RFC 6750 syntax.
    Malformed,
}

impl NoToken {
    fn response(&self) -> HttpResponse {
        match self {
            NoToken::Missing => HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(serde_json::json!({
                    "error": "unauthorized",
                    "error_description": "bearer token required",
                })),
            NoToken::Malformed => HttpResponse::BadRequest()
                .insert_header((
                    header::WWW_AUTHENTICATE,
                    "Bearer error=\"invalid_request\", \
                     error_description=\"malformed Authorization header\"",
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(serde_json::json!({
                    "error": "invalid_request",
                    "error_description": "malformed Authorization header",
                })),
        }
    }
}

/// Takes the token from `Authorization: Bearer <token>` (RFC 6750 section
/// 2.1). Another scheme counts as no token; two headers, a missing token or
/// characters outside the `b64token` syntax are malformed.
fn bearer_token(headers: &HeaderMap) -> Result<&str, NoToken> {
    let mut values = headers.get_all(header::AUTHORIZATION);
    let value: &HeaderValue = values.next().ok_or(NoToken::Missing)?;
    if values.next().is_some() {
        return Err(NoToken::Malformed);
    }
    let value = value.to_str().map_err(|_| NoToken::Malformed)?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(if scheme.is_empty() {
            NoToken::Malformed
        } else {
            NoToken::Missing
        });
    }
    let token = rest.trim_start_matches(' ');
    if is_b64token(token) {
        Ok(token)
    } else {
        Err(NoToken::Malformed)
    }
}

fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Middleware that lets a request through only with a valid access token,
/// and hands its claims to handlers ([`Authenticated`]).
///
/// Use it on an app, a scope or a resource:
/// `App::new().service(web::scope("/api").wrap(Guard::new(validator)))`.
#[derive(Debug, Clone)]
pub struct Guard {
    validator: Validator,
    scopes: Arc<[String]>,
}

impl Guard {
    /// Protects with `validator`.
    pub fn new(validator: Validator) -> Self {
        Self {
            validator,
            scopes: Arc::from([]),
        }
    }

    /// Also requires `scope` of every request this guard protects.
    pub fn require_scope(self, scope: impl Into<String>) -> Self {
        let mut scopes = self.scopes.to_vec();
        scopes.push(scope.into());
        Self {
            scopes: Arc::from(scopes),
            ..self
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Guard
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = GuardService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GuardService {
            service: Rc::new(service),
            validator: self.validator.clone(),
            scopes: Arc::clone(&self.scopes),
        }))
    }
}

/// The service [`Guard`] wraps around the protected one.
pub struct GuardService<S> {
    service: Rc<S>,
    validator: Validator,
    scopes: Arc<[String]>,
}

impl<S, B> Service<ServiceRequest> for GuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let validator = self.validator.clone();
        let scopes = Arc::clone(&self.scopes);
        Box::pin(async move {
            let outcome = match bearer_token(req.headers()) {
                Err(no_token) => Err(no_token.response()),
                Ok(token) => {
                    let token = token.to_owned();
                    authorize(&validator, &token, &scopes)
                        .await
                        .map_err(|e| e.error_response())
                }
            };
            match outcome {
                Ok(claims) => {
                    req.extensions_mut().insert(Authenticated(Arc::new(claims)));
                    service
                        .call(req)
                        .await
                        .map(ServiceResponse::map_into_left_body)
                }
                Err(answer) => Ok(req.into_response(answer).map_into_right_body()),
            }
        })
    }
}

async fn authorize(
    validator: &Validator,
    token: &str,
    scopes: &[String],
) -> Result<AccessClaims, ValidationError> {
    let claims = validator.validate_async(token).await.inspect_err(|e| {
        tracing::debug!(kind = ?e.kind(), "access token rejected");
    })?;
    if let Some(missing) = scopes.iter().find(|s| !claims.has_scope(s)) {
        return Err(ValidationError::insufficient_scope(missing));
    }
    Ok(claims)
}

/// Middleware for a route or scope inside a [`Guard`]: requires `scope` of
/// the already validated token, and responds 403 `insufficient_scope` without it.
///
/// `web::resource("/admin").wrap(RequireScope::new("admin"))`
#[derive(Debug, Clone)]
pub struct RequireScope {
    scope: Arc<str>,
}

impl RequireScope {
    /// Requires `scope`.
    pub fn new(scope: impl Into<String>) -> Self {
        Self {
            scope: Arc::from(scope.into()),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireScope
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireScopeService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireScopeService {
            service,
            scope: Arc::clone(&self.scope),
        }))
    }
}

/// The service [`RequireScope`] wraps around the protected one.
pub struct RequireScopeService<S> {
    service: S,
    scope: Arc<str>,
}

impl<S, B> Service<ServiceRequest> for RequireScopeService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let granted = req
            .extensions()
            .get::<Authenticated>()
            .map(|a| a.has_scope(&self.scope));
        match granted {
            Some(true) => {
                let fut = self.service.call(req);
                Box::pin(async move { fut.await.map(ServiceResponse::map_into_left_body) })
            }
            Some(false) => {
                let answer = ValidationError::insufficient_scope(&self.scope).error_response();
                Box::pin(ready(Ok(req.into_response(answer).map_into_right_body())))
            }
            None => {
                let answer = not_guarded().error_response();
                Box::pin(ready(Ok(req.into_response(answer).map_into_right_body())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderName;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(
                HeaderName::from_static("authorization"),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn bearer_header_syntax() {
        assert!(matches!(
            bearer_token(&headers(&["Bearer a.b.c"])),
            Ok("a.b.c")
        ));
        assert!(matches!(
            bearer_token(&headers(&["bearer  a.b.c"])),
            Ok("a.b.c")
        ));
        assert!(matches!(bearer_token(&headers(&[])), Err(NoToken::Missing)));
        assert!(matches!(
            bearer_token(&headers(&["Basic dXNlcg=="])),
            Err(NoToken::Missing)
        ));
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a,b",
            " Bearer x",
            "Bearer ===",
        ] {
            assert!(
                matches!(bearer_token(&headers(&[bad])), Err(NoToken::Malformed)),
                "{bad}"
            );
        }
        let two = headers(&["Bearer a", "Bearer b"]);
        assert!(matches!(bearer_token(&two), Err(NoToken::Malformed)));
    }
}

//! The OpenAPI 3 document, generated from the handlers' annotations and
//! the schema types below, served at `/openapi.json`.
//!
//! The schema types describe request bodies that the handlers parse by
//! hand (to reject repeated parameters and to keep secrets in zeroizing
//! buffers), so they exist for documentation only.

use actix_web::HttpResponse;
use actix_web::web;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// An RFC 6749 error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Error code, such as `invalid_grant`.
    pub error: String,
    /// Human-readable description without internal detail.
    pub error_description: String,
}

/// A token response (RFC 6749 section 5.1).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// JWT access token (RFC 9068).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
    /// Granted scope.
    pub scope: String,
    /// Refresh token; native and confidential clients only.
    pub refresh_token: Option<String>,
    /// CSRF token of the session; browser clients only.
    pub csrf_token: Option<String>,
}

/// `POST /token` parameters (form-encoded).
#[derive(Serialize, ToSchema)]
pub struct TokenRequest {
    /// `password`, `refresh_token` or `client_credentials`.
    #[schema(pattern = "^(password|refresh_token|client_credentials)$")]
    pub grant_type: String,
    /// Client id; with HTTP Basic authentication it must match.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._-]+$")]
    pub client_id: String,
    /// Secret of a confidential client (`client_secret_post`).
    pub client_secret: Option<String>,
    /// Username, for the password grant.
    pub username: Option<String>,
    /// Password, for the password grant.
    pub password: Option<String>,
    /// Refresh token, for the refresh_token grant.
    pub refresh_token: Option<String>,
    /// Space-separated scopes.
    pub scope: Option<String>,
}

/// `POST /signup` parameters (JSON or form-encoded).
#[derive(Serialize, ToSchema)]
pub struct SignupRequest {
    /// 3 to 64 characters; compared after NFKC and lowercasing.
    #[schema(min_length = 3, max_length = 64)]
    pub username: String,
    /// 8 to 128 characters, not a common password.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// Client id.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._-]+$")]
    pub client_id: String,
}

/// `POST /revoke` and `POST /introspect` parameters (form-encoded).
#[derive(Serialize, ToSchema)]
pub struct TokenParameter {
    /// The token.
    #[schema(min_length = 1)]
    pub token: String,
    /// `access_token` or `refresh_token`.
    pub token_type_hint: Option<String>,
    /// Client id; with HTTP Basic authentication it must match.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._-]+$")]
    pub client_id: String,
    /// Client secret (`client_secret_post`).
    pub client_secret: Option<String>,
}

/// `POST /logout` parameters for native clients (form-encoded).
#[derive(Serialize, ToSchema)]
pub struct LogoutRequest {
    /// The refresh token of the session to end.
    pub refresh_token: Option<String>,
}

/// `POST /password` body.
#[derive(Serialize, ToSchema)]
pub struct PasswordChange {
    /// The current password.
    #[schema(min_length = 1, max_length = 128)]
    pub current_password: String,
    /// The new password, under the sign-up rules.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// `GET /csrf` response.
#[derive(Serialize, ToSchema)]
pub struct CsrfResponse {
    /// The session's CSRF token, for the `X-CSRF-Token` header.
    pub csrf_token: String,
}

/// An RFC 7662 introspection response.
#[derive(Serialize, ToSchema)]
pub struct IntrospectionResponse {
    /// Whether the token is usable now.
    pub active: bool,
    /// Granted scope.
    pub scope: Option<String>,
    /// Client the token belongs to.
    pub client_id: Option<String>,
    /// Subject.
    pub sub: Option<String>,
    /// `access_token` or `refresh_token`.
    pub token_type: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: Option<i64>,
    /// Issue time, seconds since the Unix epoch.
    pub iat: Option<i64>,
    /// Issuer.
    pub iss: Option<String>,
    /// Audience.
    pub aud: Option<String>,
    /// Session id.
    pub sid: Option<String>,
}

/// One session of the signed-in user.
#[derive(Serialize, ToSchema)]
pub struct SessionEntry {
    /// Session id.
    pub id: String,
    /// Client the session belongs to.
    pub client_id: String,
    /// Login time, seconds since the Unix epoch.
    pub created_at: i64,
    /// Last login or refresh, seconds since the Unix epoch.
    pub last_used_at: i64,
    /// IP address of the last use.
    pub ip: String,
    /// User agent of the last use.
    pub user_agent: String,
    /// Whether the access token of this request belongs to it.
    pub current: bool,
}

/// `GET /sessions` response.
#[derive(Serialize, ToSchema)]
pub struct SessionListResponse {
    /// Live sessions, newest first.
    pub sessions: Vec<SessionEntry>,
}

/// A public JWK (RFC 7517).
#[derive(Serialize, ToSchema)]
pub struct JwkDoc {
    /// `OKP`, `EC` or `RSA`.
    pub kty: String,
    /// Key id.
    pub kid: String,
    /// `EdDSA`, `ES256` or `RS256`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// Curve of `OKP` and `EC` keys.
    pub crv: Option<String>,
    /// Public key or x coordinate.
    pub x: Option<String>,
    /// y coordinate of `EC` keys.
    pub y: Option<String>,
    /// RSA modulus.
    pub n: Option<String>,
    /// RSA exponent.
    pub e: Option<String>,
}

/// A JWK set.
#[derive(Serialize, ToSchema)]
pub struct JwksDoc {
    /// The published keys.
    pub keys: Vec<JwkDoc>,
}

/// Process status.
#[derive(Serialize, ToSchema)]
pub struct StatusBody {
    /// `ok`, `ready` or `unavailable`.
    pub status: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "auth-server",
        description = "Token server: sign-up, login, rotating refresh tokens, JWT access tokens."
    ),
    paths(
        super::token::sign_up,
        super::token::token,
        super::session::refresh,
        super::session::log_out,
        super::session::csrf,
        super::oauth::revoke,
        super::oauth::introspect,
        super::oauth::metadata,
        super::account::change_password,
        super::sessions::list,
        super::sessions::revoke,
        super::sessions::logout_all,
        super::meta::jwks,
        super::meta::healthz,
        super::meta::readyz,
        super::meta::metrics,
        openapi_json,
    ),
    components(schemas(
        ErrorBody, TokenResponse, TokenRequest, SignupRequest, TokenParameter, LogoutRequest,
        PasswordChange, CsrfResponse, IntrospectionResponse, SessionEntry, SessionListResponse,
        JwkDoc, JwksDoc, StatusBody
    )),
    modifiers(&BearerScheme, &OptionalLogoutBody)
)]
struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let basic = HttpBuilder::new().scheme(HttpAuthScheme::Basic).build();
        components.add_security_scheme("client_basic", SecurityScheme::Http(basic));
    }
}

/// A browser logout sends no body (the refresh token is in its cookie),
/// so the form body of `/logout` is optional; the annotation cannot express that.
struct OptionalLogoutBody;

impl utoipa::Modify for OptionalLogoutBody {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let body = openapi
            .paths
            .paths
            .get_mut("/logout")
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.request_body.as_mut());
        if let Some(body) = body {
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
}

/// The document, encoded once.
pub struct OpenApiDocument(pub web::Bytes);

impl OpenApiDocument {
    /// Builds the document.
    pub fn build() -> Self {
        let json = ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|_| "{}".to_owned());
        Self(json.into())
    }
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json")))]
pub async fn openapi_json(document: web::Data<OpenApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}

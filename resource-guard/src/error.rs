//! Error types: why a token was rejected, and why a validator could not be built.

use std::fmt;
use std::time::Duration;

/// The reason a token was rejected.
///
/// Each kind maps to one RFC 6750 response (see [`ErrorKind::status`]). New kinds
/// may be added, so match with a wildcard arm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The token is longer than the size limit (8 KiB).
    TooLarge,
    /// The token is not three canonical base64url segments of JSON objects.
    Malformed,
    /// The token is a JWE (five segments, or an `enc` or `zip` header).
    Encrypted,
    /// A JSON member appears twice in the header or the claims.
    DuplicateMember,
    /// The header names `crit`, `b64`, or a key-carrying member
    /// (`jwk`, `jku`, `x5u`, `x5c`), none of which is accepted.
    ForbiddenHeader,
    /// The `typ` header is missing or is not `at+jwt`.
    InvalidType,
    /// The `alg` header is missing, `none`, an HMAC or otherwise unsupported.
    UnsupportedAlgorithm,
    /// No key in the key set matches the token's `kid` and `alg`.
    UnknownKey,
    /// Several keys match the token's `kid` and `alg`; none is chosen.
    AmbiguousKey,
    /// The key the token's `kid` names verifies another algorithm than the
    /// token's `alg`.
    AlgorithmMismatch,
    /// The signature does not verify with the selected key.
    InvalidSignature,
    /// A required claim is missing.
    MissingClaim,
    /// A claim has the wrong JSON type, or a time is out of range.
    InvalidClaimType,
    /// The token has expired (`exp`, allowing for the leeway).
    Expired,
    /// `nbf` or `iat` lies in the future beyond the leeway.
    NotYetValid,
    /// `iss` is not exactly the configured issuer.
    InvalidIssuer,
    /// `aud` names none of the expected audiences.
    InvalidAudience,
    /// The token is valid but lacks a required scope.
    InsufficientScope,
    /// No usable signing key: never loaded, or older than the maximum staleness.
    KeysUnavailable,
}

impl ErrorKind {
    /// Returns the HTTP status RFC 6750 gives this kind: 401, 403 or 503.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InsufficientScope => 403,
            ErrorKind::KeysUnavailable => 503,
            _ => 401,
        }
    }

    /// Returns a short fixed description that is safe to show a client,
    /// because it names the rule and nothing taken from the token.
    pub fn description(self) -> &'static str {
        match self {
            ErrorKind::TooLarge => "token too large",
            ErrorKind::Malformed => "malformed token",
            ErrorKind::Encrypted => "encrypted tokens are not accepted",
            ErrorKind::DuplicateMember => "duplicate JSON member",
            ErrorKind::ForbiddenHeader => "forbidden header parameter",
            ErrorKind::InvalidType => "token type is not at+jwt",
            ErrorKind::UnsupportedAlgorithm => "unsupported algorithm",
            ErrorKind::UnknownKey => "unknown signing key",
            ErrorKind::AmbiguousKey => "ambiguous signing key",
            ErrorKind::AlgorithmMismatch => "algorithm does not match the key",
            ErrorKind::InvalidSignature => "invalid signature",
            ErrorKind::MissingClaim => "missing claim",
            ErrorKind::InvalidClaimType => "invalid claim",
            ErrorKind::Expired => "token expired",
            ErrorKind::NotYetValid => "token not yet valid",
            ErrorKind::InvalidIssuer => "invalid issuer",
            ErrorKind::InvalidAudience => "invalid audience",
            ErrorKind::InsufficientScope => "insufficient scope",
            ErrorKind::KeysUnavailable => "signing keys unavailable",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// A rejected token.
///
/// `Display` and `Debug` show only the fixed description of the kind (plus
/// the missing scope, which comes from configuration), never token content.
#[derive(Clone, PartialEq, Eq)]
pub struct ValidationError {
    kind: ErrorKind,
    scope: Option<String>,
    retry_after: Option<Duration>,
}

impl ValidationError {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            scope: None,
            retry_after: None,
        }
    }

    pub(crate) fn insufficient_scope(scope: &str) -> Self {
        Self {
            scope: Some(scope.to_owned()),
            ..Self::new(ErrorKind::InsufficientScope)
        }
    }

    pub(crate) fn keys_unavailable(retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(ErrorKind::KeysUnavailable)
        }
    }

    /// Returns the reason the token was rejected.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Returns the configured scope that was missing, for
    /// [`ErrorKind::InsufficientScope`].
    pub fn missing_scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Returns how long to wait before retrying, for
    /// [`ErrorKind::KeysUnavailable`].
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl From<ErrorKind> for ValidationError {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

impl fmt::Debug for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ValidationError");
        d.field("kind", &self.kind);
        if let Some(scope) = &self.scope {
            d.field("scope", scope);
        }
        d.finish()
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope {
            Some(scope) => write!(f, "{}: {scope}", self.kind),
            None => f.write_str(self.kind.description()),
        }
    }
}

impl std::error::Error for ValidationError {}

/// A validator or key-source setting that cannot be used.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The issuer or JWKS URL does not parse, has credentials, a query or a
    /// fragment, or (for the JWKS) is plain `http` on a non-loopback host
    /// without [`allow_http`](crate::JwksCacheBuilder::allow_http).
    #[error(
        "invalid {0} URL: use https (http only on a loopback host), without credentials, query or fragment"
    )]
    InvalidUrl(&'static str),
    /// No expected audience was configured; RFC 9068 requires the check.
    #[error("at least one expected audience is required")]
    NoAudience,
    /// The leeway exceeds 300 seconds.
    #[error("leeway must be at most 300 seconds")]
    LeewayTooLarge,
    /// A duration or size setting is zero or out of its documented range.
    #[error("setting out of range: {0}")]
    OutOfRange(&'static str),
    /// The remote JWKS cache was requested outside a Tokio runtime.
    #[error("the JWKS cache must be started inside a Tokio runtime")]
    NoRuntime,
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built")]
    HttpClient,
}

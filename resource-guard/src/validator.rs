//! The framework-neutral validator.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use shared::AccessClaims;
use url::Url;

use crate::clock::{Clock, SystemClock};
use crate::error::{ConfigError, ErrorKind, ValidationError};
use crate::jwks::JwksCache;
use crate::keys::Miss;
use crate::source::KeySource;
use crate::token::{self, Unverified};

/// Default allowance for clock skew between issuer and resource server.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Largest leeway the builder accepts.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// The maximum length of a `kid` that may trigger a key refetch; longer ones cannot name
/// a real key of ours and are rejected without one.
const MAX_REFETCH_KID_LEN: usize = 256;

/// Validates access tokens offline: structure, then one signature check
/// with a key from the configured [`KeySource`], then the claims.
///
/// Cloning is cheap; clones share configuration and keys.
#[derive(Clone)]
pub struct Validator {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    audiences: Vec<String>,
    leeway_secs: i64,
    required_scopes: Vec<String>,
    source: Arc<dyn KeySource>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("issuer", &self.inner.issuer)
            .field("audiences", &self.inner.audiences)
            .field("leeway_secs", &self.inner.leeway_secs)
            .field("required_scopes", &self.inner.required_scopes)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// Starts configuring a validator for tokens from `issuer`, which is
    /// compared exactly with each token's `iss`.
    pub fn builder(issuer: impl Into<String>) -> ValidatorBuilder {
        ValidatorBuilder {
            issuer: issuer.into(),
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            required_scopes: Vec::new(),
            source: None,
            jwks_url: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Validates `token` without waiting: an unknown `kid` fails at once
    /// (the key source may refetch in the background for later calls).
    pub fn validate(&self, token: &str) -> Result<AccessClaims, ValidationError> {
        self.check(token).map_err(|(error, refetch)| {
            if refetch {
                drop(self.inner.source.unknown_kid());
            }
            error
        })
    }

    /// Validates `token`, waiting for a key refetch on an unknown `kid`.
    /// When the key source starts or joins a refetch (single flight, bounded
    /// by its timeout), this waits for it and validates once more.
    pub async fn validate_async(&self, token: &str) -> Result<AccessClaims, ValidationError> {
        match self.check(token) {
            Ok(claims) => Ok(claims),
            Err((error, false)) => Err(error),
            Err((error, true)) => match self.inner.source.unknown_kid() {
                Some(refetch) => {
                    refetch.await;
                    self.check(token).map_err(|(error, _)| error)
                }
                None => Err(error),
            },
        }
    }

    /// Returns the configured issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Returns the key source in use.
    pub fn key_source(&self) -> &Arc<dyn KeySource> {
        &self.inner.source
    }

    /// Validates `token`. An error comes with whether a key refetch may help.
    fn check(&self, token: &str) -> Result<AccessClaims, (ValidationError, bool)> {
        let parsed = token::parse(token).map_err(|kind| (kind.into(), false))?;
        let keys = self.inner.source.key_set().map_err(|e| (e, false))?;
        let kid = parsed.header.kid.as_deref();
        let key = keys
            .select(kid, parsed.header.alg)
            .map_err(|miss| match miss {
                Miss::NoSuchKid => (ErrorKind::UnknownKey.into(), may_refetch(kid)),
                Miss::WrongAlgorithm => (ErrorKind::AlgorithmMismatch.into(), false),
                Miss::Ambiguous => (ErrorKind::AmbiguousKey.into(), false),
            })?;
        key.verify(parsed.signing_input, &parsed.signature)
            .map_err(|k| (k.into(), false))?;
        self.check_claims(parsed).map_err(|e| (e, false))
    }

    fn check_claims(&self, parsed: Unverified<'_>) -> Result<AccessClaims, ValidationError> {
        let c = parsed.claims;
        let cfg = &self.inner;
        if c.iss != cfg.issuer {
            return Err(ErrorKind::InvalidIssuer.into());
        }
        if !cfg.audiences.iter().any(|aud| c.aud.contains(aud)) {
            return Err(ErrorKind::InvalidAudience.into());
        }

        let now = cfg.clock.now_secs();
        if c.exp <= now.saturating_sub(cfg.leeway_secs) {
            return Err(ErrorKind::Expired.into());
        }
        let latest_start = now.saturating_add(cfg.leeway_secs);
        if c.iat > latest_start || c.nbf.is_some_and(|nbf| nbf > latest_start) {
            return Err(ErrorKind::NotYetValid.into());
        }

        if let Some(missing) = cfg.required_scopes.iter().find(|s| !c.has_scope(s)) {
            return Err(ValidationError::insufficient_scope(missing));
        }
        Ok(c)
    }
}

fn may_refetch(kid: Option<&str>) -> bool {
    kid.is_none_or(|kid| !kid.is_empty() && kid.len() <= MAX_REFETCH_KID_LEN)
}

/// Configures a [`Validator`]. Every setting has a safe default except the
/// audience, which must be given.
pub struct ValidatorBuilder {
    issuer: String,
    audiences: Vec<String>,
    leeway: Duration,
    required_scopes: Vec<String>,
    source: Option<Arc<dyn KeySource>>,
    jwks_url: Option<String>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ValidatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatorBuilder")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl ValidatorBuilder {
    /// Accepts tokens whose `aud` is, or contains, `audience`. Call again
    /// to accept several; at least one is required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Allowance for clock skew when checking `exp`, `nbf` and `iat`.
    /// Default 30 seconds; at most 300 seconds.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Requires every token to grant `scope`; call again for more. Missing
    /// scopes give [`ErrorKind::InsufficientScope`] (HTTP 403). Default: none.
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        self.required_scopes.push(scope.into());
        self
    }

    /// Takes keys from `source` (for example an [`InProcessKeys`] or a
    /// [`JwksCache`] you configured). Default: a [`JwksCache`] with default
    /// settings for the issuer's `/.well-known/jwks.json`.
    ///
    /// [`InProcessKeys`]: crate::InProcessKeys
    pub fn key_source<S: KeySource>(mut self, source: Arc<S>) -> Self {
        self.source = Some(source);
        self
    }

    /// Fetches keys from `url` instead of the issuer's
    /// `/.well-known/jwks.json`; ignored when a key source is given.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Sets the clock for `exp`/`nbf`/`iat` checks. Default: the system clock.
    pub fn clock<C: Clock>(mut self, clock: Arc<C>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the settings and builds the validator. Without a key source,
    /// this starts a [`JwksCache`], which needs a Tokio runtime.
    pub fn build(self) -> Result<Validator, ConfigError> {
        // The issuer is only compared with `iss`; the JWKS URL derived from
        // it gets the stricter transport check when the cache starts.
        let issuer_url = check_url(&self.issuer, "issuer", true)?;
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::NoAudience);
        }
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::LeewayTooLarge);
        }
        let source = match self.source {
            Some(source) => source,
            None => {
                let url = match &self.jwks_url {
                    Some(url) => url.clone(),
                    None => jwks_url_for(&issuer_url),
                };
                JwksCache::builder(url).start()? as Arc<dyn KeySource>
            }
        };
        Ok(Validator {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                audiences: self.audiences,
                leeway_secs: self.leeway.as_secs() as i64,
                required_scopes: self.required_scopes,
                source,
                clock: self.clock,
            }),
        })
    }
}

/// Builds the issuer's JWKS URL by appending [`shared::JWKS_PATH`] to it.
fn jwks_url_for(issuer: &Url) -> String {
    let base = issuer.as_str().trim_end_matches('/');
    format!("{base}{}", shared::JWKS_PATH)
}

/// Parses a configured URL: `http` or `https` with a host, and no
/// credentials, query or fragment. Plain `http` passes only on a loopback
/// host unless `any_http` is set.
pub(crate) fn check_url(raw: &str, what: &'static str, any_http: bool) -> Result<Url, ConfigError> {
    let bad = ConfigError::InvalidUrl(what);
    let url = Url::parse(raw).map_err(|_| bad.clone())?;

    let plain_ok = url.scheme() == "http" && (any_http || is_loopback(&url));
    let scheme_ok = url.scheme() == "https" || plain_ok;
    let clean = url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none();
    if scheme_ok && clean && url.host().is_some() {
        Ok(url)
    } else {
        Err(bad)
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_url_transport_rules() {
        assert!(check_url("https://auth.example.com", "x", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080", "x", false).is_ok());
        assert!(check_url("http://[::1]:8080/jwks", "x", false).is_ok());
        assert!(check_url("http://localhost/jwks", "x", false).is_ok());
        assert!(check_url("http://auth.internal/jwks", "x", false).is_err());
        assert!(check_url("http://auth.internal/jwks", "x", true).is_ok());
        assert!(check_url("https://auth.example.com/?a=1", "x", true).is_err());
        assert!(check_url("https://auth.example.com/#f", "x", true).is_err());
        assert!(check_url("https://user@auth.example.com/", "x", true).is_err());
        assert!(check_url("file:///etc/passwd", "x", true).is_err());
        assert!(check_url("not a url", "x", true).is_err());
    }

    #[test]
    fn jwks_url_appends_well_known_path() {
        let url = |s| jwks_url_for(&Url::parse(s).unwrap());
        assert_eq!(
            url("https://a.example"),
            "https://a.example/.well-known/jwks.json"
        );
        assert_eq!(
            url("https://a.example/t1/"),
            "https://a.example/t1/.well-known/jwks.json"
        );
    }
}

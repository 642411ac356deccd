//! The OAuth grants and session operations, independent of HTTP: sign-up,
//! password login, refresh rotation and logout.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use shared::{AccessClaims, Audience};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::audit;
use crate::backend::AnyStore;
use crate::clock::Clock;
use crate::config::{Binding, Client, ClientKind, GrantType, Settings};
use crate::crypto::{TokenKeys, random_array};
use crate::keys::Keys;
use crate::password::{CredentialError, HashError, PasswordHasherPool, normalize_username};
use crate::refresh_token::RefreshToken;
use crate::store::*;
use crate::throttle;

/// Failure of a grant. The HTTP layer maps each kind to one status and
/// RFC 6749 error code; the descriptions are safe to show a client.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// A parameter is missing, repeated or malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// Unknown client.
    #[error("client authentication failed")]
    InvalidClient,
    /// Bad credentials or refresh token.
    #[error("{0}")]
    InvalidGrant(&'static str),
    /// Client authentication through `Authorization: Basic` failed.
    #[error("client authentication failed")]
    InvalidClientBasic,
    /// The token to revoke was issued to another client.
    #[error("the token was not issued to this client")]
    NotIssuedToClient,
    /// The token cannot be revoked: a client-credentials token has no
    /// session and lives until it expires.
    #[error("client-credentials access tokens cannot be revoked; they expire on their own")]
    UnsupportedTokenType,
    /// The client may not use this grant.
    #[error("the client may not use this grant type")]
    UnauthorizedClient,
    /// The grant type is not implemented.
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    /// The requested scope exceeds what the client or user may have.
    #[error("the requested scope is not allowed")]
    InvalidScope,
    /// The username is taken.
    #[error("the username is taken")]
    UsernameTaken,
    /// The request's origin or CSRF token does not match.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Too many attempts from this client; retry after the given seconds.
    #[error("too many attempts; retry later")]
    TooManyRequests(u64),
    /// A dependency is down or overloaded; retry later.
    #[error("{0}")]
    Unavailable(&'static str),
}

impl From<StoreError> for GrantError {
    fn from(error: StoreError) -> Self {
        tracing::error!(error = %error, "store call failed");
        GrantError::Unavailable("the service is temporarily unavailable")
    }
}

impl From<HashError> for GrantError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy => tracing::warn!("password hashing queue full; shedding a request"),
            HashError::Internal(ref detail) => tracing::error!(%detail, "password hashing failed"),
        }
        GrantError::Unavailable("the service is busy; retry shortly")
    }
}

impl From<CredentialError> for GrantError {
    fn from(error: CredentialError) -> Self {
        GrantError::InvalidRequest(error.to_string())
    }
}

/// Tokens handed out by a successful grant.
pub struct Issued {
    /// Signed JWT access token.
    pub access_token: String,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
    /// Granted scope.
    pub scope: String,
    /// The session's current refresh token.
    pub refresh_token: RefreshToken,
    /// CSRF token of the session.
    pub csrf_token: String,
    /// Seconds the refresh cookie may live: the smaller of the idle and
    /// the remaining absolute lifetime.
    pub refresh_max_age: i64,
    /// The client the tokens belong to.
    pub client: Client,
}

/// Everything a grant needs, shared by all workers.
pub struct Grants {
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Users, sessions and keys.
    pub store: AnyStore,
    /// Signing keys in force.
    pub keys: Keys,
    /// Keys derived from the refresh pepper.
    pub token_keys: TokenKeys,
    /// argon2id pool.
    pub hasher: PasswordHasherPool,
    /// Time source.
    pub clock: Clock,
    /// Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Seals the signing keys in the store.
    pub key_encryption_key: crate::secret::SecretBytes,
    /// Checks this server's own access tokens, with the keys in process.
    pub validator: resource_guard::Validator,
    /// The key source behind `validator`, updated when keys change.
    pub verifying_keys: Arc<resource_guard::InProcessKeys>,
}

impl Grants {
    /// Looks up a configured client.
    pub fn client(&self, client_id: &str) -> Result<&Client, GrantError> {
        self.settings
            .clients
            .iter()
            .find(|c| c.id == client_id)
            .ok_or(GrantError::InvalidClient)
    }

    /// Creates an account and logs it in.
    pub async fn sign_up(
        &self,
        username: &str,
        password: Zeroizing<String>,
        client: &Client,
        context: ClientContext,
    ) -> Result<Issued, GrantError> {
        require_grant(client, GrantType::Password)?;
        let limits = &self.settings.throttle;
        if let Err(limited) = throttle::sign_up(&self.store, limits, &context.ip).await? {
            return Err(GrantError::TooManyRequests(limited.retry_after_secs));
        }
        let name = crate::password::validate_username(username)?;
        crate::password::validate_password(&password, &name)?;
        let scope = grant_scope(None, client, &self.settings.default_user_scopes)?;
        let password_hash = self.hasher.hash(password).await?;
        let user = UserRecord {
            id: UserId::random(),
            username: name,
            password_hash,
            scopes: self.settings.default_user_scopes.clone(),
            created_ms: self.clock.now_ms(),
            revoked_before_ms: 0,
        };
        if !self.store.create_user(&user).await? {
            return Err(GrantError::UsernameTaken);
        }
        audit::sign_up(&user.id, &client.id, &context);
        let issued = self.start_session(&user, client, scope, context).await?;
        self.metrics.issued("signup");
        Ok(issued)
    }

    /// The password grant: first-party login.
    pub async fn log_in(
        &self,
        username: &str,
        password: Zeroizing<String>,
        client: &Client,
        requested_scope: Option<&str>,
        context: ClientContext,
    ) -> Result<Issued, GrantError> {
        require_grant(client, GrantType::Password)?;
        let name = normalize_username(username.trim());
        let limits = &self.settings.throttle;
        match throttle::before_login(&self.store, limits, &name, &context.ip).await? {
            Err(limited) => {
                audit::login_throttled(&name, &client.id, &context);
                return Err(GrantError::TooManyRequests(limited.retry_after_secs));
            }
            Ok(delay) if !delay.is_zero() => tokio::time::sleep(delay).await,
            Ok(_) => {}
        }
        let user = if name.is_empty() || name.len() > 256 {
            None
        } else {
            self.store.find_user_by_name(&name).await?
        };
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        // An unknown user costs one verification against a dummy hash, so
        // timing does not tell which usernames exist.
        let verified = match self.hasher.verify(password, hash).await {
            Ok(verified) => verified,
            Err(error) => {
                throttle::release_attempt(&self.store, limits, &name, &context.ip).await?;
                return Err(error.into());
            }
        };
        let user = match user {
            Some(user) if verified => user,
            _ => {
                audit::login_failed(&name, &client.id, &context);
                throttle::login_failed(&self.store, limits, &name).await?;
                return Err(GrantError::InvalidGrant("invalid username or password"));
            }
        };
        throttle::login_succeeded(&self.store, limits, &name, &context.ip).await?;
        let scope = grant_scope(requested_scope, client, &user.scopes)?;
        audit::login(&user.id, &client.id, &context);
        let issued = self.start_session(&user, client, scope, context).await?;
        self.metrics.issued("password");
        Ok(issued)
    }

    async fn start_session(
        &self,
        user: &UserRecord,
        client: &Client,
        scope: String,
        context: ClientContext,
    ) -> Result<Issued, GrantError> {
        let now_ms = self.clock.now_ms();
        let session_id = SessionId::random();
        let token = RefreshToken::mint(&self.token_keys, user.id, session_id, 1);
        let absolute_expiry_ms = now_ms + self.settings.session_max_ttl_secs * 1000;
        let session = NewSession {
            user: user.id,
            id: session_id,
            client_id: client.id.clone(),
            scope: scope.clone(),
            token_hash: token.hash(&self.token_keys),
            now_ms,
            absolute_expiry_ms,
            idle_ttl_ms: self.settings.refresh_idle_ttl_secs * 1000,
            context,
        };
        if !self.store.create_session(&session).await? {
            // The account was deleted or logged out everywhere while this
            // login was being checked.
            return Err(GrantError::InvalidGrant("invalid username or password"));
        }
        Ok(self.issue(
            &user.id,
            &session_id,
            client,
            scope,
            token,
            absolute_expiry_ms,
        ))
    }

    /// Rotates a refresh token.
    pub async fn refresh(
        &self,
        presented: &str,
        client: &Client,
        requested_scope: Option<&str>,
        context: ClientContext,
    ) -> Result<Issued, GrantError> {
        require_grant(client, GrantType::RefreshToken)?;
        let Ok(token) = RefreshToken::parse(&self.token_keys, presented) else {
            self.metrics.refresh("malformed");
            return Err(GrantError::InvalidGrant("invalid refresh token"));
        };
        let secret = Zeroizing::new(random_array::<32>());
        let successor = RefreshToken::from_secret(
            &self.token_keys,
            token.user,
            token.session,
            token.generation.saturating_add(1),
            &secret,
        );
        let request = RotateRequest {
            user: token.user,
            session: token.session,
            client_id: client.id.clone(),
            presented_generation: token.generation,
            presented_hash: token.hash(&self.token_keys),
            new_hash: successor.hash(&self.token_keys),
            sealed_successor: self
                .token_keys
                .seal_successor(presented.as_bytes(), &secret)
                .to_vec(),
            now_ms: self.clock.now_ms(),
            context: context.clone(),
            grace_ms: self.settings.reuse_grace_secs * 1000,
            idle_ttl_ms: self.settings.refresh_idle_ttl_secs * 1000,
            max_replays: self.settings.max_grace_replays,
        };
        let outcome = match self.store.rotate(&request).await {
            Ok(outcome) => outcome,
            Err(error) => {
                self.metrics.refresh("unavailable");
                return Err(error.into());
            }
        };
        let label = match &outcome {
            RotateOutcome::Rotated(_) => "rotated",
            RotateOutcome::Replayed { .. } => "grace_replay",
            RotateOutcome::Reused { .. } => "reuse_detected",
            RotateOutcome::WrongClient => "wrong_client",
            RotateOutcome::Invalid => "invalid",
        };
        self.metrics.refresh(label);
        let (session, current) = match outcome {
            RotateOutcome::Rotated(session) => (session, successor),
            RotateOutcome::Replayed {
                session,
                sealed_successor,
                successor_hash,
            } => {
                let replayed =
                    self.open_replayed(&token, presented, &sealed_successor, &successor_hash)?;
                audit::refresh_replayed(&token.user, &token.session, &client.id, &context);
                (session, replayed)
            }
            RotateOutcome::Reused {
                rotated_by,
                client_id,
            } => {
                audit::refresh_reused(
                    &token.user,
                    &token.session,
                    &client_id,
                    &rotated_by,
                    &context,
                );
                return Err(GrantError::InvalidGrant("invalid refresh token"));
            }
            RotateOutcome::WrongClient => {
                return Err(GrantError::InvalidGrant(
                    "the refresh token was issued to another client",
                ));
            }
            RotateOutcome::Invalid => {
                return Err(GrantError::InvalidGrant("invalid refresh token"));
            }
        };
        self.check_binding(&token, &session.previous_context, &context)
            .await?;
        let scope = narrow_scope(requested_scope, &session.scope)?;
        self.metrics.issued("refresh_token");
        Ok(self.issue(
            &token.user,
            &token.session,
            client,
            scope,
            current,
            session.absolute_expiry_ms,
        ))
    }

    /// Applies the binding setting when the session last saw another IP
    /// address or user agent.
    async fn check_binding(
        &self,
        token: &RefreshToken,
        previous: &ClientContext,
        current: &ClientContext,
    ) -> Result<(), GrantError> {
        let binding = self.settings.binding;
        if binding == Binding::Off || previous == current {
            return Ok(());
        }
        let strict = binding == Binding::Strict;
        audit::context_changed(&token.user, &token.session, previous, current, strict);
        if strict {
            self.store
                .revoke_session(&token.user, &token.session)
                .await?;
            audit::session_revoked(&token.user, &token.session, "context_change");
            return Err(GrantError::InvalidGrant("invalid refresh token"));
        }
        Ok(())
    }

    /// Changes a user's password after checking the current one, and
    /// revokes every other session of the user.
    pub async fn change_password(
        &self,
        user_id: &UserId,
        session: Option<&SessionId>,
        current: Zeroizing<String>,
        new: Zeroizing<String>,
        context: &ClientContext,
    ) -> Result<(), GrantError> {
        let wrong = || GrantError::InvalidGrant("the current password is wrong");
        let Some(user) = self.store.get_user(user_id).await? else {
            return Err(wrong());
        };
        // A stolen access token must not become an unthrottled password
        // oracle: the check counts against the same limits as a login.
        let limits = &self.settings.throttle;
        match throttle::before_login(&self.store, limits, &user.username, &context.ip).await? {
            Err(limited) => {
                audit::login_throttled(&user.username, "password_change", context);
                return Err(GrantError::TooManyRequests(limited.retry_after_secs));
            }
            Ok(delay) if !delay.is_zero() => tokio::time::sleep(delay).await,
            Ok(_) => {}
        }
        let hash = Some(user.password_hash.clone());
        let verified = match self.hasher.verify(current, hash).await {
            Ok(verified) => verified,
            Err(error) => {
                throttle::release_attempt(&self.store, limits, &user.username, &context.ip).await?;
                return Err(error.into());
            }
        };
        if !verified {
            audit::password_change_failed(user_id, context);
            throttle::login_failed(&self.store, limits, &user.username).await?;
            return Err(wrong());
        }
        throttle::login_succeeded(&self.store, limits, &user.username, &context.ip).await?;
        crate::password::validate_password(&new, &user.username)?;
        let hash = self.hasher.hash(new).await?;
        let revoked = self
            .store
            .set_password(user_id, &hash, session, self.clock.now_ms())
            .await?;
        let Some(revoked) = revoked else {
            return Err(wrong());
        };
        audit::password_changed(user_id, session, revoked, context);
        Ok(())
    }

    fn open_replayed(
        &self,
        token: &RefreshToken,
        presented: &str,
        sealed: &[u8],
        successor_hash: &[u8; 32],
    ) -> Result<RefreshToken, GrantError> {
        let replayed = self
            .token_keys
            .open_successor(presented.as_bytes(), sealed)
            .map(|secret| {
                RefreshToken::from_secret(
                    &self.token_keys,
                    token.user,
                    token.session,
                    token.generation.saturating_add(1),
                    &secret,
                )
            });
        match replayed {
            Some(successor)
                if bool::from(successor.hash(&self.token_keys).ct_eq(successor_hash)) =>
            {
                Ok(successor)
            }
            _ => {
                tracing::error!(session = %token.session, "stored successor does not open");
                Err(GrantError::InvalidGrant("invalid refresh token"))
            }
        }
    }

    /// Revokes the session a refresh token names. Unknown and malformed
    /// tokens are not an error (RFC 7009 section 2.2).
    pub async fn log_out(
        &self,
        presented: &str,
        context: &ClientContext,
    ) -> Result<(), GrantError> {
        let Ok(token) = RefreshToken::parse(&self.token_keys, presented) else {
            return Ok(());
        };
        if self
            .store
            .revoke_session(&token.user, &token.session)
            .await?
        {
            audit::logout(&token.user, &token.session, context);
        }
        Ok(())
    }

    /// The client-credentials grant: a token for a service, with no refresh
    /// token and no session; `sub` is the client id.
    pub fn client_credentials(
        &self,
        client: &Client,
        requested_scope: Option<&str>,
    ) -> Result<(String, String), GrantError> {
        require_grant(client, GrantType::ClientCredentials)?;
        let scope = grant_scope(requested_scope, client, &client.scopes)?;
        let now = self.clock.now_secs();
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: client.id.clone(),
            aud: Audience::One(self.settings.audience.clone()),
            exp: now + self.settings.access_ttl_secs,
            iat: now,
            nbf: None,
            jti: URL_SAFE_NO_PAD.encode(random_array::<16>()),
            client_id: client.id.clone(),
            scope: scope.clone(),
            sid: None,
        };
        self.metrics.issued("client_credentials");
        Ok((self.sign(&claims), scope))
    }

    /// Whether the session a refresh token names still exists.
    pub async fn session_is_live(&self, token: &RefreshToken) -> Result<bool, GrantError> {
        let now_ms = self.clock.now_ms();
        Ok(self
            .store
            .get_session(&token.user, &token.session, now_ms)
            .await?
            .is_some())
    }

    /// The CSRF token for the session a refresh token names.
    pub fn csrf_token(&self, session: &SessionId) -> String {
        csrf_token(&self.token_keys, session)
    }

    /// Checks a presented CSRF token against the session's, in constant time.
    pub fn csrf_matches(&self, session: &SessionId, presented: &str) -> bool {
        csrf_matches(&self.token_keys, session, presented)
    }

    fn issue(
        &self,
        user: &UserId,
        session: &SessionId,
        client: &Client,
        scope: String,
        refresh_token: RefreshToken,
        absolute_expiry_ms: i64,
    ) -> Issued {
        let now = self.clock.now_secs();
        let ttl = self.settings.access_ttl_secs;
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: user.to_string(),
            aud: Audience::One(self.settings.audience.clone()),
            exp: now + ttl,
            iat: now,
            nbf: None,
            jti: URL_SAFE_NO_PAD.encode(random_array::<16>()),
            client_id: client.id.clone(),
            scope: scope.clone(),
            sid: Some(session.to_string()),
        };
        let access_token = self.sign(&claims);
        let remaining = (absolute_expiry_ms - self.clock.now_ms())
            .div_euclid(1000)
            .max(0);
        Issued {
            access_token,
            expires_in: ttl,
            scope,
            refresh_token,
            csrf_token: self.csrf_token(session),
            refresh_max_age: remaining.min(self.settings.refresh_idle_ttl_secs),
            client: client.clone(),
        }
    }

    fn sign(&self, claims: &AccessClaims) -> String {
        #[allow(clippy::expect_used)]
        let json = serde_json::to_vec(claims).expect("claims serialize");
        self.keys.current().active().sign_jwt(&json)
    }

    /// Whether the client receives its refresh token in a cookie.
    pub fn uses_cookies(client: &Client) -> bool {
        client.kind == ClientKind::Browser
    }
}

/// Computes the CSRF token of `session`, the base64url form of an HMAC of
/// the session id under the CSRF key derived from the pepper.
pub fn csrf_token(keys: &TokenKeys, session: &SessionId) -> String {
    URL_SAFE_NO_PAD.encode(keys.csrf_token(&session.0))
}

/// Checks a presented CSRF token against the session's, in constant time.
pub fn csrf_matches(keys: &TokenKeys, session: &SessionId, presented: &str) -> bool {
    let expected = csrf_token(keys, session);
    expected.len() == presented.len() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

fn require_grant(client: &Client, grant: GrantType) -> Result<(), GrantError> {
    if client.allows(grant) {
        Ok(())
    } else {
        Err(GrantError::UnauthorizedClient)
    }
}

/// Splits a `scope` parameter (RFC 6749 section 3.3) into tokens.
fn parse_scope(text: &str) -> Result<Vec<&str>, GrantError> {
    let tokens: Vec<&str> = text.split(' ').filter(|s| !s.is_empty()).collect();
    let valid = tokens.iter().all(|t| {
        t.len() <= 128
            && t.bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
    });
    if !valid || tokens.len() > 64 {
        return Err(GrantError::InvalidRequest("scope is malformed".into()));
    }
    Ok(tokens)
}

/// The requested scope (or the client's default), which must lie within
/// both what the client and what the user may have.
fn grant_scope(
    requested: Option<&str>,
    client: &Client,
    user_scopes: &[String],
) -> Result<String, GrantError> {
    let allowed =
        |s: &str| client.scopes.iter().any(|c| c == s) && user_scopes.iter().any(|u| u == s);
    let mut granted: Vec<&str> = Vec::new();
    match requested.filter(|s| !s.trim().is_empty()) {
        Some(text) => {
            for scope in parse_scope(text)? {
                if !allowed(scope) {
                    return Err(GrantError::InvalidScope);
                }
                if !granted.contains(&scope) {
                    granted.push(scope);
                }
            }
        }
        None => granted.extend(
            client
                .default_scopes
                .iter()
                .map(String::as_str)
                .filter(|s| allowed(s)),
        ),
    }
    if granted.is_empty() {
        return Err(GrantError::InvalidScope);
    }
    Ok(granted.join(" "))
}

/// On refresh, a requested scope may only narrow the session's scope
/// (RFC 6749 section 6).
fn narrow_scope(requested: Option<&str>, session_scope: &str) -> Result<String, GrantError> {
    let Some(text) = requested.filter(|s| !s.trim().is_empty()) else {
        return Ok(session_scope.to_owned());
    };
    let original: Vec<&str> = session_scope.split(' ').collect();
    let mut granted: Vec<&str> = Vec::new();
    for scope in parse_scope(text)? {
        if !original.contains(&scope) {
            return Err(GrantError::InvalidScope);
        }
        if !granted.contains(&scope) {
            granted.push(scope);
        }
    }
    Ok(granted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(scopes: &[&str], defaults: &[&str]) -> Client {
        Client {
            id: "cli".into(),
            kind: ClientKind::Native,
            grants: vec![GrantType::Password],
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            default_scopes: defaults.iter().map(|s| s.to_string()).collect(),
            secret_sha256: None,
        }
    }

    #[test]
    fn scope_is_intersection_of_client_and_user() {
        let client = client(&["api", "admin"], &["api"]);
        let user = vec!["api".to_string()];
        assert_eq!(grant_scope(None, &client, &user).unwrap(), "api");
        assert_eq!(grant_scope(Some("api api"), &client, &user).unwrap(), "api");
        assert!(matches!(
            grant_scope(Some("admin"), &client, &user),
            Err(GrantError::InvalidScope)
        ));
        let admin = vec!["api".to_string(), "admin".to_string()];
        assert_eq!(
            grant_scope(Some("api admin"), &client, &admin).unwrap(),
            "api admin"
        );
        assert!(matches!(
            grant_scope(Some("other"), &client, &admin),
            Err(GrantError::InvalidScope)
        ));
        assert!(matches!(
            grant_scope(Some("a\"b"), &client, &admin),
            Err(GrantError::InvalidRequest(_))
        ));
    }

    #[test]
    fn refresh_scope_only_narrows() {
        assert_eq!(narrow_scope(None, "api admin").unwrap(), "api admin");
        assert_eq!(narrow_scope(Some("admin"), "api admin").unwrap(), "admin");
        assert!(matches!(
            narrow_scope(Some("root"), "api"),
            Err(GrantError::InvalidScope)
        ));
    }

    #[test]
    fn csrf_token_matches_only_itself() {
        let keys = TokenKeys::derive(&crate::secret::SecretBytes::new(vec![7; 32]));
        let mut session = [0u8; 16];
        for (byte, value) in session.iter_mut().zip(16u8..) {
            *byte = value;
        }
        let session = SessionId(session);
        let expected = "-aHOdKGOfH9S_ycpxUpcFF1QeWOuhwsU2pkkXECuJ8k";
        assert_eq!(csrf_token(&keys, &session), expected);
        assert!(csrf_matches(&keys, &session, expected));

        let last = expected.len() - 1;
        let cases = [
            String::new(),
            expected[..last].to_owned(),
            format!("{expected}="),
            format!("{}l", &expected[..last]),
            format!(" {expected}"),
            csrf_token(&keys, &SessionId([0; 16])),
        ];
        for case in cases {
            assert!(!csrf_matches(&keys, &session, &case), "accepted {case:?}");
        }
    }
}

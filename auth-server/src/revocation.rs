//! Token revocation (RFC 7009) and introspection (RFC 7662).
//!
//! Both accept either kind of token. A refresh token names its session
//! directly; an access token names it in its `sid` claim after it validates.
//! Revoking either ends the session, so every refresh token of it fails at
//! once. Access tokens themselves stay valid at resource servers until they
//! expire, which is why they are short-lived.

use serde::Serialize;

use crate::config::Client;
use crate::grant::{GrantError, Grants};
use crate::refresh_token::RefreshToken;
use crate::store::{SessionId, Store, UserId};

/// A presented token, recognized.
enum Presented {
    /// A refresh token with a valid tag.
    Refresh(RefreshToken),
    /// A valid access token and, for user tokens, its session.
    Access(Box<shared::AccessClaims>, Option<(UserId, SessionId)>),
}

/// An RFC 7662 introspection response.
#[derive(Debug, Default, Serialize)]
pub struct Introspection {
    /// Whether the token is currently usable.
    pub active: bool,
    /// Granted scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// User id, or the client id for service tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Expiry, seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience of an access token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl Grants {
    fn recognize(&self, token: &str, hint: Option<&str>) -> Option<Presented> {
        let as_refresh = || {
            RefreshToken::parse(&self.token_keys, token)
                .ok()
                .map(Presented::Refresh)
        };
        let as_access = || {
            let claims = self.validator.validate(token).ok()?;
            let user = UserId::parse(&claims.sub);
            let session = claims.sid.as_deref().and_then(SessionId::parse);
            Some(Presented::Access(Box::new(claims), user.zip(session)))
        };
        // The hint only orders the attempts (RFC 7009 section 2.1).
        if hint == Some("access_token") {
            as_access().or_else(as_refresh)
        } else {
            as_refresh().or_else(as_access)
        }
    }

    /// Revokes the session of `token` when it was issued to `client`.
    /// Unknown and invalid tokens succeed without effect (RFC 7009 section
    /// 2.2); a token of another client is `unauthorized_client`.
    pub async fn revoke(
        &self,
        client: &Client,
        token: &str,
        hint: Option<&str>,
    ) -> Result<(), GrantError> {
        let (user, session) = match self.recognize(token, hint) {
            None => return Ok(()),
            Some(Presented::Refresh(token)) => (token.user, token.session),
            Some(Presented::Access(claims, found)) => {
                if claims.client_id != client.id {
                    return Err(GrantError::NotIssuedToClient);
                }
                // A client-credentials token has no session to end
                // (RFC 7009 section 2.2.1).
                let Some(found) = found else {
                    return Err(GrantError::UnsupportedTokenType);
                };
                found
            }
        };
        let now_ms = self.clock.now_ms();
        let Some(info) = self.store.get_session(&user, &session, now_ms).await? else {
            return Ok(());
        };
        if info.client_id != client.id {
            return Err(GrantError::NotIssuedToClient);
        }
        if self.store.revoke_session(&user, &session).await? {
            crate::audit::session_revoked(&user, &session, "revocation");
        }
        Ok(())
    }

    /// Describes `token` (RFC 7662). A token is active only while its
    /// session is live, even when the JWT itself has not expired.
    pub async fn introspect(
        &self,
        token: &str,
        hint: Option<&str>,
    ) -> Result<Introspection, GrantError> {
        let now_ms = self.clock.now_ms();
        match self.recognize(token, hint) {
            None => Ok(Introspection::default()),
            Some(Presented::Access(claims, None)) if claims.sid.is_none() => {
                Ok(access_introspection(&claims))
            }
            Some(Presented::Access(_, None)) => Ok(Introspection::default()),
            Some(Presented::Access(claims, Some((user, session)))) => {
                let live = self
                    .store
                    .get_session(&user, &session, now_ms)
                    .await?
                    .is_some();
                Ok(if live {
                    access_introspection(&claims)
                } else {
                    Introspection::default()
                })
            }
            Some(Presented::Refresh(token)) => {
                let info = self
                    .store
                    .get_session(&token.user, &token.session, now_ms)
                    .await?;
                let Some(info) = info.filter(|i| i.generation == token.generation) else {
                    return Ok(Introspection::default());
                };
                let idle_expiry = info.last_used_ms + self.settings.refresh_idle_ttl_secs * 1000;
                Ok(Introspection {
                    active: true,
                    scope: Some(info.scope),
                    client_id: Some(info.client_id),
                    sub: Some(token.user.to_string()),
                    token_type: Some("refresh_token"),
                    exp: Some(idle_expiry.min(info.absolute_expiry_ms).div_euclid(1000)),
                    iat: Some(info.last_used_ms.div_euclid(1000)),
                    iss: Some(self.settings.issuer.clone()),
                    aud: None,
                    sid: Some(token.session.to_string()),
                })
            }
        }
    }
}

fn access_introspection(claims: &shared::AccessClaims) -> Introspection {
    let aud = match &claims.aud {
        shared::Audience::One(one) => Some(one.clone()),
        shared::Audience::Many(many) => many.first().cloned(),
    };
    Introspection {
        active: true,
        scope: Some(claims.scope.clone()),
        client_id: Some(claims.client_id.clone()),
        sub: Some(claims.sub.clone()),
        token_type: Some("access_token"),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        iss: Some(claims.iss.clone()),
        aud,
        sid: claims.sid.clone(),
    }
}

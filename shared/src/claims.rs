use serde::{Deserialize, Serialize};

/// Claims of an access token (RFC 9068 section 2.2).
///
/// Times are seconds since the Unix epoch. `sid` is absent for tokens that
/// belong to no session, such as those from the client-credentials grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: the token server's URL, compared exactly.
    pub iss: String,
    /// Subject: the user id, or the client id for service tokens.
    pub sub: String,
    /// Audience: the resource servers that may accept the token.
    pub aud: Audience,
    /// Expiry time.
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// Not-before time, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Unique token id.
    pub jti: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// Space-separated granted scopes.
    pub scope: String,
    /// Session (refresh-token family) the token came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl AccessClaims {
    /// Iterates over the granted scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// Returns whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }
}

/// The `aud` claim: one string or an array of strings (RFC 7519 section 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences; an empty array matches nothing.
    Many(Vec<String>),
}

impl Audience {
    /// Returns whether `aud` is, or is contained in, this audience.
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::One(one) => one == aud,
            Audience::Many(many) => many.iter().any(|a| a == aud),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_matches_string_or_array() {
        assert!(Audience::One("api".into()).contains("api"));
        assert!(Audience::Many(vec!["x".into(), "api".into()]).contains("api"));
        assert!(!Audience::Many(vec![]).contains("api"));
        assert!(!Audience::One("api2".into()).contains("api"));
    }

    #[test]
    fn claims_round_trip_without_sid() {
        let claims = AccessClaims {
            iss: "https://auth.example".into(),
            sub: "svc".into(),
            aud: Audience::One("api".into()),
            exp: 2,
            iat: 1,
            nbf: None,
            jti: "j".into(),
            client_id: "svc".into(),
            scope: "api admin".into(),
            sid: None,
        };
        let json = serde_json::to_string(&claims).unwrap();
        assert!(!json.contains("sid"));
        let back: AccessClaims = serde_json::from_str(&json).unwrap();
        assert_eq!(back, claims);
        assert!(back.has_scope("admin"));
        assert!(!back.has_scope("ad"));
    }
}

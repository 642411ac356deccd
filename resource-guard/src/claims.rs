//! Strict reading of access-token claims: every member's JSON type is
//! checked, duplicates are rejected, and required claims must be present.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use shared::{AccessClaims, Audience};

use crate::error::ErrorKind;
use crate::json::{Name, Reason, Seen, Skip, fail};

/// Claims as read, before the rules about missing ones apply.
#[derive(Default)]
pub(crate) struct RawClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    sid: Option<String>,
}

impl RawClaims {
    /// Applies the presence rules of RFC 9068 section 2.2; `scope` may be
    /// absent (no scopes granted).
    pub(crate) fn finish(self) -> Result<AccessClaims, ErrorKind> {
        let missing = ErrorKind::MissingClaim;
        Ok(AccessClaims {
            iss: self.iss.ok_or(missing)?,
            sub: self.sub.ok_or(missing)?,
            aud: self.aud.ok_or(missing)?,
            exp: self.exp.ok_or(missing)?,
            iat: self.iat.ok_or(missing)?,
            nbf: self.nbf,
            jti: self.jti.ok_or(missing)?,
            client_id: self.client_id.ok_or(missing)?,
            scope: self.scope.unwrap_or_default(),
            sid: self.sid,
        })
    }
}

/// Reads a claims object; see the module docs.
pub(crate) struct StrictClaims<'r>(pub &'r Reason);

impl<'de> DeserializeSeed<'de> for StrictClaims<'_> {
    type Value = RawClaims;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawClaims, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StrictClaims<'_> {
    type Value = RawClaims;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawClaims, A::Error> {
        let mut seen = Seen::default();
        let mut c = RawClaims::default();
        while let Some(Name(name)) = map.next_key()? {
            let fresh = match &*name {
                "iss" => seen.known(0) && set(&mut c.iss, map.next_value()?),
                "sub" => seen.known(1) && set(&mut c.sub, map.next_value()?),
                "aud" => seen.known(2) && set(&mut c.aud, map.next_value_seed(Aud)?),
                "exp" => seen.known(3) && set(&mut c.exp, map.next_value()?),
                "iat" => seen.known(4) && set(&mut c.iat, map.next_value()?),
                "nbf" => seen.known(5) && set(&mut c.nbf, map.next_value()?),
                "jti" => seen.known(6) && set(&mut c.jti, map.next_value()?),
                "client_id" => seen.known(7) && set(&mut c.client_id, map.next_value()?),
                "scope" => seen.known(8) && set(&mut c.scope, map.next_value()?),
                "sid" => seen.known(9) && set(&mut c.sid, map.next_value()?),
                other => {
                    if !seen.other(other) {
                        return Err(fail(self.0, ErrorKind::DuplicateMember));
                    }
                    map.next_value_seed(Skip(self.0))?;
                    true
                }
            };
            if !fresh {
                return Err(fail(self.0, ErrorKind::DuplicateMember));
            }
        }
        Ok(c)
    }
}

fn set<T>(slot: &mut Option<T>, value: T) -> bool {
    *slot = Some(value);
    true
}

/// `aud`: one string or an array of strings.
struct Aud;

impl<'de> DeserializeSeed<'de> for Aud {
    type Value = Audience;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Audience, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Aud {
    type Value = Audience;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
        Ok(Audience::One(v.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
        let mut all = Vec::new();
        while let Some(one) = seq.next_element::<String>()? {
            all.push(one);
        }
        Ok(Audience::Many(all))
    }
}

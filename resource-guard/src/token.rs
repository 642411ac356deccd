//! Structural parsing of a JWS compact token, before any signature work.
//!
//! Everything here is cheap and bounded: the size is checked first, the
//! three segments are decoded as canonical base64url, and header and claims
//! are read by strict visitors (see [`crate::json`]).

use std::fmt;

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use shared::AccessClaims;

use crate::claims::StrictClaims;
use crate::error::ErrorKind;
use crate::json::{Name, Reason, Seen, Skip, classify, fail, is_object};
use crate::keys::Algorithm;

/// The maximum token length accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// base64url without padding, refusing padding and non-zero trailing bits,
/// so each byte string has exactly one accepted encoding.
pub(crate) const B64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// A token whose structure has been checked but whose signature has not.
pub(crate) struct Unverified<'t> {
    pub header: Header,
    /// `base64url(header) "." base64url(claims)`: what the signature covers.
    pub signing_input: &'t [u8],
    pub signature: Vec<u8>,
    pub claims: AccessClaims,
}

/// The header members the validator uses.
#[derive(Debug)]
pub(crate) struct Header {
    pub alg: Algorithm,
    pub kid: Option<String>,
}

/// Checks a token's structure and reads its header and claims.
pub(crate) fn parse(token: &str) -> Result<Unverified<'_>, ErrorKind> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(ErrorKind::TooLarge);
    }
    let bytes = token.as_bytes();
    let (first, second) = match find_dots(bytes) {
        (2, [a, b, ..]) => (a, b),
        (4, _) => return Err(ErrorKind::Encrypted),
        _ => return Err(ErrorKind::Malformed),
    };

    let header_json = decode(&bytes[..first])?;
    let header = parse_header(&header_json)?;
    let claims_json = decode(&bytes[first + 1..second])?;
    let claims = parse_claims(&claims_json)?;
    let signature = decode(&bytes[second + 1..])?;

    Ok(Unverified {
        header,
        signing_input: &bytes[..second],
        signature,
        claims,
    })
}

/// Counts the dots (stopping past five) and returns the first two positions.
fn find_dots(bytes: &[u8]) -> (usize, [usize; 2]) {
    let mut count = 0;
    let mut first_two = [0; 2];
    for (i, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'.') {
        if let Some(slot) = first_two.get_mut(count) {
            *slot = i;
        }
        count += 1;
        if count > 5 {
            break;
        }
    }
    (count, first_two)
}

/// Decodes one segment as canonical unpadded base64url.
pub(crate) fn decode(segment: &[u8]) -> Result<Vec<u8>, ErrorKind> {
    B64.decode(segment).map_err(|_| ErrorKind::Malformed)
}

fn parse_header(json: &[u8]) -> Result<Header, ErrorKind> {
    if !is_object(json) {
        return Err(ErrorKind::Malformed);
    }
    let reason = Reason::default();
    let mut de = serde_json::Deserializer::from_slice(json);
    let raw = HeaderSeed(&reason)
        .deserialize(&mut de)
        .and_then(|h| de.end().map(|()| h))
        .map_err(|e| classify(&e, &reason, ErrorKind::Malformed))?;
    raw.finish()
}

fn parse_claims(json: &[u8]) -> Result<AccessClaims, ErrorKind> {
    if !is_object(json) {
        return Err(ErrorKind::Malformed);
    }
    let reason = Reason::default();
    let mut de = serde_json::Deserializer::from_slice(json);
    let claims = StrictClaims(&reason)
        .deserialize(&mut de)
        .and_then(|c| de.end().map(|()| c))
        .map_err(|e| classify(&e, &reason, ErrorKind::InvalidClaimType))?;
    claims.finish()
}

/// Header members as read, before the rules about missing ones apply.
#[derive(Default)]
struct RawHeader {
    alg: Option<String>,
    typ: Option<String>,
    kid: Option<String>,
}

impl RawHeader {
    fn finish(self) -> Result<Header, ErrorKind> {
        let alg = match self.alg.as_deref() {
            Some(name) => Algorithm::from_name(name).ok_or(ErrorKind::UnsupportedAlgorithm)?,
            None => return Err(ErrorKind::UnsupportedAlgorithm),
        };
        match self.typ.as_deref() {
            Some(typ) if is_access_token_typ(typ) => {}
            _ => return Err(ErrorKind::InvalidType),
        }
        Ok(Header { alg, kid: self.kid })
    }
}

/// `typ` is a media type, so it compares without regard to ASCII case
/// (RFC 7515 section 4.1.9).
fn is_access_token_typ(typ: &str) -> bool {
    typ.eq_ignore_ascii_case(shared::ACCESS_TOKEN_TYP)
        || typ.eq_ignore_ascii_case(shared::ACCESS_TOKEN_TYP_LONG)
}

struct HeaderSeed<'r>(&'r Reason);

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = RawHeader;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawHeader, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_> {
    type Value = RawHeader;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
        let mut seen = Seen::default();
        let mut raw = RawHeader::default();
        while let Some(Name(name)) = map.next_key()? {
            let (bit, slot) = match &*name {
                "alg" => (0, &mut raw.alg),
                "typ" => (1, &mut raw.typ),
                "kid" => (2, &mut raw.kid),
                other => {
                    check_other_member(self.0, other)?;
                    if !seen.other(other) {
                        return Err(fail(self.0, ErrorKind::DuplicateMember));
                    }
                    map.next_value_seed(Skip(self.0))?;
                    continue;
                }
            };
            if !seen.known(bit) {
                return Err(fail(self.0, ErrorKind::DuplicateMember));
            }
            *slot = Some(map.next_value()?);
        }
        Ok(raw)
    }
}

/// Rejects header members that would change how the token is read or
/// where its key comes from.
fn check_other_member<E: de::Error>(reason: &Reason, name: &str) -> Result<(), E> {
    match name {
        "enc" | "zip" => Err(fail(reason, ErrorKind::Encrypted)),
        "crit" | "b64" | "jwk" | "jku" | "x5u" | "x5c" => {
            Err(fail(reason, ErrorKind::ForbiddenHeader))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(json: &str) -> String {
        B64.encode(json)
    }

    fn header(json: &str) -> Result<Header, ErrorKind> {
        parse_header(json.as_bytes())
    }

    #[test]
    fn header_accepts_the_token_server_form() {
        let h = header(r#"{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}"#).unwrap();
        assert_eq!(h.alg, Algorithm::EdDSA);
        assert_eq!(h.kid.as_deref(), Some("k1"));
        assert!(header(r#"{"alg":"ES256","typ":"application/AT+JWT"}"#).is_ok());
    }

    #[test]
    fn header_rules() {
        let cases = [
            (r#"{"alg":"EdDSA","typ":"JWT"}"#, ErrorKind::InvalidType),
            (r#"{"alg":"EdDSA"}"#, ErrorKind::InvalidType),
            (
                r#"{"alg":"none","typ":"at+jwt"}"#,
                ErrorKind::UnsupportedAlgorithm,
            ),
            (
                r#"{"alg":"HS256","typ":"at+jwt"}"#,
                ErrorKind::UnsupportedAlgorithm,
            ),
            (r#"{"typ":"at+jwt"}"#, ErrorKind::UnsupportedAlgorithm),
            (
                r#"{"alg":"EdDSA","alg":"EdDSA","typ":"at+jwt"}"#,
                ErrorKind::DuplicateMember,
            ),
            (
                r#"{"alg":"EdDSA","\u0061lg":"EdDSA","typ":"at+jwt"}"#,
                ErrorKind::DuplicateMember,
            ),
            (
                r#"{"x":1,"x":2,"alg":"EdDSA","typ":"at+jwt"}"#,
                ErrorKind::DuplicateMember,
            ),
            (
                r#"{"x":{"y":1,"y":2},"alg":"EdDSA","typ":"at+jwt"}"#,
                ErrorKind::DuplicateMember,
            ),
            (
                r#"{"alg":"EdDSA","typ":"at+jwt","crit":["exp"]}"#,
                ErrorKind::ForbiddenHeader,
            ),
            (
                r#"{"alg":"EdDSA","typ":"at+jwt","crit":[]}"#,
                ErrorKind::ForbiddenHeader,
            ),
            (
                r#"{"alg":"EdDSA","typ":"at+jwt","b64":true}"#,
                ErrorKind::ForbiddenHeader,
            ),
            (
                r#"{"alg":"EdDSA","typ":"at+jwt","jku":"x"}"#,
                ErrorKind::ForbiddenHeader,
            ),
            (
                r#"{"alg":"EdDSA","typ":"at+jwt","enc":"A128GCM"}"#,
                ErrorKind::Encrypted,
            ),
            (r#"{"alg":1,"typ":"at+jwt"}"#, ErrorKind::Malformed),
            (r#"{"alg":"EdDSA","typ":"at+jwt""#, ErrorKind::Malformed),
            (r#"["alg"]"#, ErrorKind::Malformed),
            (r#"{"alg":"EdDSA","typ":"at+jwt"} x"#, ErrorKind::Malformed),
        ];
        for (json, kind) in cases {
            assert_eq!(header(json).err(), Some(kind), "{json}");
        }
    }

    #[test]
    fn structure_rules() {
        let h = seg(r#"{"alg":"EdDSA","typ":"at+jwt"}"#);
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(parse(&long).err(), Some(ErrorKind::TooLarge));
        assert_eq!(parse(&format!("{h}.e30")).err(), Some(ErrorKind::Malformed));
        assert_eq!(
            parse(&format!("{h}.e30.a.b")).err(),
            Some(ErrorKind::Malformed)
        );
        assert_eq!(
            parse(&format!("{h}.a.b.c.d")).err(),
            Some(ErrorKind::Encrypted)
        );
        assert_eq!(
            parse(&format!("{h}=.e30.")).err(),
            Some(ErrorKind::Malformed)
        );
    }

    #[test]
    fn base64url_must_be_canonical() {
        assert_eq!(decode(b"AQ").unwrap(), vec![1]);
        assert!(decode(b"AQ==").is_err());
        assert!(decode(b"AR").is_err(), "non-zero trailing bits");
        assert!(decode(b"+/8").is_err());
        assert!(decode(b"A").is_err());
        assert_eq!(decode(b"-_8").unwrap(), vec![0xfb, 0xff]);
    }
}

//! Client authentication at the token, revocation and introspection
//! endpoints (RFC 6749 section 2.3): `client_secret_basic`,
//! `client_secret_post`, or a bare `client_id` for public clients.

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::body::Params;
use super::error::ApiError;
use crate::config::{Client, ClientKind};
use crate::grant::{GrantError, Grants};

/// A client id and the secret presented with it. The type does not
/// implement `Debug` because it contains the secret.
pub struct Credentials {
    /// The client id.
    pub id: String,
    /// The client secret, when the client sent one.
    pub secret: Option<Zeroizing<String>>,
}

fn invalid_request(description: &str) -> ApiError {
    GrantError::InvalidRequest(description.to_owned()).into()
}

/// Reads `Authorization: Basic` when the request has that header. Two
/// `Authorization` headers are rejected rather than one of them chosen.
fn basic(req: &HttpRequest) -> Result<Option<Credentials>, ApiError> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let first = values.next();
    if values.next().is_some() {
        return Err(invalid_request("repeated Authorization header"));
    }
    first.map(parse_basic).transpose()
}

/// Parses an `Authorization: Basic` header value, whose parts are
/// form-encoded before base64 (RFC 6749 section 2.3.1).
pub fn parse_basic(value: &HeaderValue) -> Result<Credentials, ApiError> {
    let text = value
        .to_str()
        .map_err(|_| invalid_request("malformed Authorization header"))?;
    let Some((scheme, encoded)) = text.split_once(' ') else {
        return Err(invalid_request("malformed Authorization header"));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid_request(
            "client authentication must use the Basic scheme",
        ));
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map(Zeroizing::new)
        .ok_or_else(|| invalid_request("malformed Authorization header"))?;
    let Some((id, secret)) = decoded.split_once(':') else {
        return Err(invalid_request("malformed Authorization header"));
    };
    let decode = |part: &str| {
        form_urlencoded_decode(part)
            .ok_or_else(|| invalid_request("malformed Authorization header"))
    };
    Ok(Credentials {
        id: decode(id)?.to_string(),
        secret: Some(decode(secret)?),
    })
}

/// Decodes one form-encoded value, in which `+` is a space and `%XX` a
/// byte. Unlike in a form body, `&` is data here and does not end the value.
/// Returns `None` when the decoded bytes are not UTF-8.
fn form_urlencoded_decode(text: &str) -> Option<Zeroizing<String>> {
    let spaced = Zeroizing::new(text.replace('+', " "));
    let decoded = percent_decode_str(&spaced).decode_utf8().ok()?;
    Some(Zeroizing::new(decoded.into_owned()))
}

/// Authenticates the client of a request. Confidential clients must prove
/// their secret; public clients name themselves and must send no secret.
/// Using two methods at once is `invalid_request`.
pub fn authenticate<'a>(
    req: &HttpRequest,
    params: &Params,
    grants: &'a Grants,
) -> Result<&'a Client, ApiError> {
    let from_header = basic(req)?;
    let body_secret = params.get("client_secret");
    let used_basic = from_header.is_some();
    let credentials = match from_header {
        Some(header) => {
            if body_secret.is_some() {
                return Err(invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            if params.get("client_id").is_some_and(|id| id != header.id) {
                return Err(invalid_request(
                    "client_id does not match the Authorization header",
                ));
            }
            header
        }
        None => Credentials {
            // No client authentication at all is invalid_client (RFC 6749
            // section 5.2), not a missing parameter.
            id: params
                .get("client_id")
                .ok_or(GrantError::InvalidClient)?
                .to_owned(),
            secret: body_secret.map(|s| Zeroizing::new(s.to_owned())),
        },
    };
    let from_basic = used_basic;
    let failed = || -> ApiError {
        if from_basic {
            GrantError::InvalidClientBasic.into()
        } else {
            GrantError::InvalidClient.into()
        }
    };
    let client = grants.client(&credentials.id).map_err(|_| failed())?;
    match (client.kind, client.secret_sha256, credentials.secret) {
        (ClientKind::Confidential, Some(expected), Some(secret)) => {
            let presented = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
            if bool::from(presented.as_ref().ct_eq(&expected)) {
                Ok(client)
            } else {
                tracing::warn!(client_id = %client.id, "client authentication failed");
                Err(failed())
            }
        }
        (ClientKind::Confidential, _, _) => Err(failed()),
        (_, _, Some(_)) => Err(failed()),
        (_, _, None) => Ok(client),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(credentials: &str) -> HeaderValue {
        let value = format!("Basic {}", STANDARD.encode(credentials));
        HeaderValue::from_str(&value).expect("base64 is a valid header value")
    }

    fn secret(credentials: &Credentials) -> Option<&str> {
        credentials.secret.as_deref().map(String::as_str)
    }

    #[test]
    fn basic_parts_are_form_decoded() {
        let credentials = parse_basic(&header("my%20client:p%40ss+word%3A1")).expect("parses");
        assert_eq!(credentials.id, "my client");
        assert_eq!(secret(&credentials), Some("p@ss word:1"));
    }

    #[test]
    fn basic_secret_may_contain_colons() {
        let credentials = parse_basic(&header("svc:a:b")).expect("parses");
        assert_eq!(credentials.id, "svc");
        assert_eq!(secret(&credentials), Some("a:b"));
    }

    #[test]
    fn basic_ampersand_is_data() {
        // Parsing each part as a form body cut it at `&`, so "&:7" (found
        // by cargo-fuzz) named the client "" and "svc:s&x" passed as "s".
        let credentials = parse_basic(&header("&:7")).expect("parses");
        assert_eq!(credentials.id, "&");
        assert_eq!(secret(&credentials), Some("7"));

        let credentials = parse_basic(&header("svc:s&x=y%26z")).expect("parses");
        assert_eq!(credentials.id, "svc");
        assert_eq!(secret(&credentials), Some("s&x=y&z"));
    }

    #[test]
    fn basic_part_not_utf8_is_rejected() {
        assert!(parse_basic(&header("svc:%ff")).is_err());
        assert!(parse_basic(&header("%c3%28:s")).is_err());
    }

    #[test]
    fn scheme_is_case_insensitive() {
        let value = HeaderValue::from_static("bAsIc c3ZjOnM=");
        let credentials = parse_basic(&value).expect("parses");
        assert_eq!(credentials.id, "svc");
        assert_eq!(secret(&credentials), Some("s"));
    }

    #[test]
    fn malformed_basic_headers_are_rejected() {
        let cases: [&[u8]; 7] = [
            b"Basic",
            b"Bearer c3ZjOnM=",
            b"Basic c3ZjOnM",
            b"Basic !!!!",
            // "svc" without a colon.
            b"Basic c3Zj",
            // Base64 of the bytes ff fe 3a 73, which are not UTF-8.
            b"Basic //46cw==",
            b"Basic \xff",
        ];
        for case in cases {
            let value = HeaderValue::from_bytes(case).expect("no control bytes");
            assert!(
                parse_basic(&value).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(case)
            );
        }
    }
}

//! Request bodies: a hard size limit, and form or JSON parameters with no
//! parameter repeated (RFC 6749 section 3.2).

use std::collections::HashSet;
use std::fmt;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes, BytesMut};
use futures_util::StreamExt;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use zeroize::Zeroizing;

use super::error::ApiError;
use crate::grant::GrantError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Reads the whole body, or fails with 413 past [`MAX_BODY_BYTES`].
pub async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| bad_request("the request body could not be read"))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn bad_request(description: &str) -> ApiError {
    ApiError::Grant(GrantError::InvalidRequest(description.to_owned()))
}

/// Request parameters, decoded from a form or a flat JSON object. Values
/// are zeroized on drop because they may be passwords or tokens.
pub struct Params(Vec<(String, Zeroizing<String>)>);

impl Params {
    /// The value of `name`, when present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The value of `name`, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| bad_request(&format!("missing parameter: {name}")))
    }

    /// A copy of `name`'s value that is zeroized on drop.
    pub fn secret(&self, name: &str) -> Result<Zeroizing<String>, ApiError> {
        self.require(name).map(|v| Zeroizing::new(v.to_owned()))
    }
}

fn media_type(content_type: Option<&HeaderValue>) -> String {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn from_pairs(pairs: Vec<(String, String)>) -> Result<Params, ApiError> {
    let params: Vec<(String, Zeroizing<String>)> = pairs
        .into_iter()
        .map(|(key, value)| (key, Zeroizing::new(value)))
        .collect();
    // A set keeps this check linear. Comparing each name with all before
    // it is quadratic, and a 64 KiB body can contain 16,000 distinct names.
    let mut names = HashSet::with_capacity(params.len());
    for (key, _) in &params {
        if !names.insert(key.as_str()) {
            return Err(bad_request(&format!(
                "parameter repeated: {}",
                printable(key)
            )));
        }
    }
    Ok(Params(params))
}

fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(40).collect()
}

/// Parses an `application/x-www-form-urlencoded` body.
pub fn form(req: &HttpRequest, body: &[u8]) -> Result<Params, ApiError> {
    form_body(req.headers().get(header::CONTENT_TYPE), body)
}

/// Parses `body` as [`form`] does, given the request's `Content-Type`.
pub fn form_body(content_type: Option<&HeaderValue>, body: &[u8]) -> Result<Params, ApiError> {
    if media_type(content_type) != "application/x-www-form-urlencoded" {
        return Err(bad_request(
            "expected Content-Type application/x-www-form-urlencoded",
        ));
    }
    parse_form(body)
}

/// Parses a form body whatever its `Content-Type`.
pub fn parse_form(body: &[u8]) -> Result<Params, ApiError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| bad_request("malformed form body"))?;
    from_pairs(pairs)
}

/// Parses a form body, or a JSON object whose values are all strings.
pub fn form_or_json(req: &HttpRequest, body: &[u8]) -> Result<Params, ApiError> {
    form_or_json_body(req.headers().get(header::CONTENT_TYPE), body)
}

/// Parses `body` as [`form_or_json`] does, given the request's
/// `Content-Type`.
pub fn form_or_json_body(
    content_type: Option<&HeaderValue>,
    body: &[u8],
) -> Result<Params, ApiError> {
    match media_type(content_type).as_str() {
        "application/x-www-form-urlencoded" => parse_form(body),
        "application/json" => {
            let JsonMembers(members) =
                serde_json::from_slice(body).map_err(|_| bad_request("malformed JSON body"))?;
            let mut pairs = Vec::with_capacity(members.len());
            for (key, value) in members {
                match value {
                    serde_json::Value::String(text) => pairs.push((key, text)),
                    _ => {
                        return Err(bad_request(&format!(
                            "{}: must be a string",
                            printable(&key)
                        )));
                    }
                }
            }
            from_pairs(pairs)
        }
        _ => Err(bad_request(
            "expected Content-Type application/json or application/x-www-form-urlencoded",
        )),
    }
}

/// The members of a JSON object in document order. Unlike
/// `serde_json::Map`, which keeps only the last value of a repeated name,
/// it keeps every member, so that [`from_pairs`] can reject repeats.
struct JsonMembers(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for JsonMembers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(JsonMembersVisitor)
    }
}

struct JsonMembersVisitor;

impl<'de> Visitor<'de> for JsonMembersVisitor {
    type Value = JsonMembers;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonMembers, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry()? {
            members.push(member);
        }
        Ok(JsonMembers(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameter_is_rejected() {
        assert!(parse_form(b"a=1&a=2").is_err());
        let params = parse_form(b"a=1&b=").expect("parses");
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("b"), None);
        assert!(params.require("b").is_err());
    }

    fn json(body: &str) -> Result<Params, ApiError> {
        let content_type = HeaderValue::from_static("application/json");
        form_or_json_body(Some(&content_type), body.as_bytes())
    }

    #[test]
    fn repeated_json_member_is_rejected() {
        // A `serde_json::Map` keeps only the last member of a repeated name,
        // which let these bodies through. The first is the input that
        // cargo-fuzz minimized.
        assert!(json(r#"{"":"","":""}"#).is_err());
        assert!(json(r#"{"username":"alice","username":"bob"}"#).is_err());
        assert!(json(r#"{"a":"1","b":"2","a":"1"}"#).is_err());

        let params = json(r#"{"username":"alice","password":"s3cret"}"#).expect("parses");
        assert_eq!(params.get("username"), Some("alice"));
        assert_eq!(params.get("password"), Some("s3cret"));
    }

    #[test]
    fn json_must_be_flat_object_of_strings() {
        for body in [
            r#"{"a":1}"#,
            r#"{"a":null}"#,
            r#"{"a":{"b":"c"}}"#,
            r#"["a"]"#,
            "\"a\"",
        ] {
            assert!(json(body).is_err(), "accepted {body}");
        }
    }

    #[test]
    fn full_body_of_distinct_names_parses() {
        // Three-letter names fill 64 KiB with over 16,000 parameters.
        let letters = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut body = Vec::with_capacity(MAX_BODY_BYTES);
        let mut count = 0;
        'fill: for a in letters {
            for b in letters {
                for c in letters {
                    if body.len() + 4 > MAX_BODY_BYTES {
                        break 'fill;
                    }
                    body.extend_from_slice(&[*a, *b, *c, b'&']);
                    count += 1;
                }
            }
        }
        assert!(count > 16_000);

        let params = parse_form(&body).expect("parses");
        assert_eq!(params.0.len(), count);
        body.extend_from_slice(b"aaa");
        assert!(parse_form(&body).is_err(), "a repeat after the last name");
    }

    #[test]
    fn invalid_utf8_form_does_not_panic() {
        let _ = parse_form(b"a=%ff%fe");
        let _ = parse_form(&[0xff, 0xfe, b'=', b'1']);
        let _ = parse_form(b"%%%=&&&==");
    }
}

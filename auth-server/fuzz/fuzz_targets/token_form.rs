//! Fuzzes the request parameter parsing of `POST /token` and the other
//! form endpoints, and the `Authorization: Basic` client authentication.
//!
//! The first byte of an input, modulo 4, selects a mode:
//! - 0: `<Content-Type>\n<body>`, given to `form_body` and
//!   `form_or_json_body` as the server receives them;
//! - 1: an `Authorization` header value, given to `parse_basic`;
//! - 2: parameter pairs built from the rest of the input, encoded as a form
//!   and as a JSON object. Both must parse back to the same values, and
//!   both must be rejected when a name repeats;
//! - 3: a client id and secret built from the rest of the input, sent in a
//!   Basic header both form-encoded and as they are.
//!
//! The seeds in `seeds/token_form` start with the digit of their mode.

#![no_main]

use std::collections::HashSet;

use actix_web::http::header::HeaderValue;
use auth_server::http::{form_body, form_or_json_body, parse_basic, parse_form};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const FORM: &str = "application/x-www-form-urlencoded";

/// Media types the parsers accept, then two they must reject.
const CONTENT_TYPES: [&str; 4] = [
    "application/x-www-form-urlencoded",
    "application/json",
    "text/plain",
    "multipart/form-data",
];

fn check_body(data: &[u8]) {
    let (content_type, body) = match data.iter().position(|&b| b == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (data, &[][..]),
    };
    // The HTTP layer never delivers a header value with control bytes.
    let content_type = HeaderValue::from_bytes(content_type).ok();
    let form = form_body(content_type.as_ref(), body);
    let either = form_or_json_body(content_type.as_ref(), body);
    if form.is_ok() {
        assert!(
            either.is_ok(),
            "form_body accepted a body that form_or_json_body rejects"
        );
    }
    let _ = parse_form(body);
}

fn check_basic_header(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    if let Ok(credentials) = parse_basic(&value) {
        assert!(
            credentials.secret.is_some(),
            "Basic always carries a secret"
        );
    }
}

/// Encodes `pairs` as a JSON object, keeping repeated names.
fn json_object(pairs: &[(String, String)]) -> Vec<u8> {
    let members: Vec<String> = pairs
        .iter()
        .map(|(name, value)| {
            let name = serde_json::to_string(name).expect("strings serialize");
            let value = serde_json::to_string(value).expect("strings serialize");
            format!("{name}:{value}")
        })
        .collect();
    format!("{{{}}}", members.join(",")).into_bytes()
}

fn check_pairs(input: &mut Unstructured) -> Result<()> {
    let pairs: Vec<(String, String)> = input.arbitrary()?;
    let names: HashSet<&str> = pairs.iter().map(|(name, _)| name.as_str()).collect();
    let unique = names.len() == pairs.len();

    let form = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    let json = json_object(&pairs);
    let form_type = HeaderValue::from_static(FORM);
    let json_type = HeaderValue::from_static("application/json");
    let encodings = [
        ("form", form_body(Some(&form_type), form.as_bytes())),
        ("form", form_or_json_body(Some(&form_type), form.as_bytes())),
        ("JSON", form_or_json_body(Some(&json_type), &json)),
    ];
    for (encoding, parsed) in encodings {
        match parsed {
            Ok(params) => {
                assert!(unique, "{encoding} with a repeated name was accepted");
                for (name, value) in &pairs {
                    let expected = Some(value.as_str()).filter(|v| !v.is_empty());
                    assert_eq!(params.get(name), expected, "{encoding} value of {name:?}");
                }
            }
            Err(error) => assert!(!unique, "{encoding} rejected unique names: {error}"),
        }
    }

    let content_type = CONTENT_TYPES[input.choose_index(CONTENT_TYPES.len())?];
    let content_type = HeaderValue::from_static(content_type);
    let _ = form_or_json_body(Some(&content_type), &json);
    Ok(())
}

fn basic_header(id: &str, secret: &str) -> HeaderValue {
    let encoded = STANDARD.encode(format!("{id}:{secret}"));
    HeaderValue::from_str(&format!("Basic {encoded}")).expect("base64 is a valid header value")
}

fn form_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn check_basic_round_trip(input: &mut Unstructured) -> Result<()> {
    let id: String = input.arbitrary()?;
    let secret: String = input.arbitrary()?;

    // A client that follows RFC 6749 section 2.3.1 form-encodes both parts.
    let header = basic_header(&form_encode(&id), &form_encode(&secret));
    let credentials = parse_basic(&header).expect("form-encoded credentials parse");
    assert_eq!(credentials.id, id);
    assert_eq!(
        credentials.secret.as_deref().map(String::as_str),
        Some(secret.as_str())
    );

    // Characters that form decoding would change are `%` and `+`, and the
    // first `:` ends the id. Any other text must come back as it was sent.
    let verbatim = |text: &str| !text.contains(['%', '+']);
    if verbatim(&id) && !id.contains(':') && verbatim(&secret) {
        let credentials =
            parse_basic(&basic_header(&id, &secret)).expect("credentials without escapes parse");
        assert_eq!(credentials.id, id, "id changed by decoding");
        assert_eq!(
            credentials.secret.as_deref().map(String::as_str),
            Some(secret.as_str()),
            "secret changed by decoding"
        );
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => check_body(rest),
        1 => check_basic_header(rest),
        2 => {
            let _ = check_pairs(&mut Unstructured::new(rest));
        }
        _ => {
            let _ = check_basic_round_trip(&mut Unstructured::new(rest));
        }
    }
});

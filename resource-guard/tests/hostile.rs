//! Table-driven hostile-token suite. Each case names the rule it breaks,
//! the error kind the validator must return, and the HTTP response the
//! middleware must send for it.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::{App, HttpResponse, test, web};
use aws_lc_rs::hmac;
use common::server::JwksServer;
use common::*;
use resource_guard::{
    Authenticated, ErrorKind, Guard, InProcessKeys, KeySet, ManualClock, Validator,
};
use serde_json::{Value, json};

/// The response the middleware must send.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    /// 401 with `Bearer error="invalid_token"`.
    InvalidToken,
    /// 400 with `Bearer error="invalid_request"`: the token is not even a
    /// syntactically valid bearer credential.
    InvalidRequest,
}

struct Case {
    name: &'static str,
    token: String,
    kind: ErrorKind,
    answer: Answer,
}

fn case(name: &'static str, token: String, kind: ErrorKind) -> Case {
    Case {
        name,
        token,
        kind,
        answer: Answer::InvalidToken,
    }
}

fn validator_with(keys: &[&TestKey]) -> Validator {
    let source = Arc::new(InProcessKeys::from_jwk_set(&jwks(keys)));
    Validator::builder(ISSUER)
        .audience(AUDIENCE)
        .audience("other-api")
        .key_source(source)
        .clock(Arc::new(ManualClock::new(NOW)))
        .build()
        .unwrap()
}

fn header_with(key: &TestKey, name: &str, value: Value) -> String {
    let mut h = key.header();
    h[name] = value;
    h.to_string()
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

/// Sets non-zero trailing bits in the last character of a segment whose
/// length leaves spare bits.
fn with_trailing_bits(segment: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert_ne!(segment.len() % 4, 0, "segment has no spare bits");
    let last = segment.as_bytes()[segment.len() - 1];
    let index = ALPHABET.iter().position(|c| *c == last).unwrap();
    let mut out = segment[..segment.len() - 1].to_owned();
    out.push(ALPHABET[index | 1] as char);
    out
}

fn structural_cases(key: &TestKey) -> Vec<Case> {
    let good = key.token(&claims());
    let s = segments(&good);
    let sig = &s[2];
    let padded_header = format!("{}==", s[0].trim_end_matches('='));
    // A header whose encoding contains '-', to swap for '+'.
    let dashed = key.token_raw(&header_with(key, "x", json!("~~~")), &claims().to_string());
    let d = segments(&dashed);
    assert!(d[0].contains('-'));
    let odd_header = (0..4)
        .map(|n| header_with(key, "pad", json!("p".repeat(n))))
        .find(|h| b64(h).len() % 4 != 0)
        .unwrap();
    let odd = key.token_raw(&odd_header, &claims().to_string());
    let o = segments(&odd);
    let big = with("pad", json!("x".repeat(8 * 1024)));
    vec![
        case("over 8 KiB", key.token(&big), ErrorKind::TooLarge),
        case(
            "two segments",
            format!("{}.{}", s[0], s[1]),
            ErrorKind::Malformed,
        ),
        case(
            "four segments",
            format!("{good}.{sig}"),
            ErrorKind::Malformed,
        ),
        case(
            "five segments (JWE)",
            format!("{good}.{sig}.{sig}"),
            ErrorKind::Encrypted,
        ),
        Case {
            answer: Answer::InvalidRequest,
            ..case("empty token", String::new(), ErrorKind::Malformed)
        },
        case("three empty segments", "..".into(), ErrorKind::Malformed),
        Case {
            answer: Answer::InvalidRequest,
            ..case(
                "padded header",
                format!("{padded_header}.{}.{sig}", s[1]),
                ErrorKind::Malformed,
            )
        },
        case(
            "'+' instead of '-'",
            format!("{}.{}.{}", d[0].replace('-', "+"), d[1], d[2]),
            ErrorKind::Malformed,
        ),
        case(
            "'/' instead of '_'",
            format!("{}.{}.{}", d[0].replace('-', "/"), d[1], d[2]),
            ErrorKind::Malformed,
        ),
        case(
            "non-zero trailing bits",
            format!("{}.{}.{}", with_trailing_bits(&o[0]), o[1], o[2]),
            ErrorKind::Malformed,
        ),
        case(
            "header not JSON",
            key.token_raw("alg", &claims().to_string()),
            ErrorKind::Malformed,
        ),
        case(
            "claims not an object",
            key.token_raw(&key.header().to_string(), "[1]"),
            ErrorKind::Malformed,
        ),
        case(
            "trailing data after claims",
            key.token_raw(&key.header().to_string(), &format!("{} 1", claims())),
            ErrorKind::Malformed,
        ),
    ]
}

fn header_cases(key: &TestKey, attacker: &TestKey, jku: &str) -> Vec<Case> {
    let c = claims().to_string();
    let none_input = format!(
        "{}.{}",
        b64(json!({"alg":"none","typ":"at+jwt","kid":key.kid}).to_string()),
        b64(&c)
    );
    let hs_header = json!({"alg":"HS256","typ":"at+jwt","kid":key.kid}).to_string();
    let hs_input = format!("{}.{}", b64(&hs_header), b64(&c));
    let public = key.jwk().x.unwrap();
    let mac = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, public.as_bytes()),
        hs_input.as_bytes(),
    );
    let mut attacker_header = attacker.header();
    attacker_header["kid"] = json!(key.kid);
    attacker_header["jwk"] = serde_json::to_value(attacker.jwk()).unwrap();
    let mut jku_header = attacker.header();
    jku_header["jku"] = json!(jku);
    let dup = format!(
        r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{}","kid":"x"}}"#,
        key.kid
    );
    let escaped_dup = format!(
        r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{}","\u0074yp":"x"}}"#,
        key.kid
    );
    vec![
        case(
            "alg none, empty signature",
            format!("{none_input}."),
            ErrorKind::UnsupportedAlgorithm,
        ),
        case(
            "alg none, signed",
            key.token_raw(&header_with(key, "alg", json!("none")), &c),
            ErrorKind::UnsupportedAlgorithm,
        ),
        case(
            "alg NONE",
            key.token_raw(&header_with(key, "alg", json!("NONE")), &c),
            ErrorKind::UnsupportedAlgorithm,
        ),
        case(
            "HS256 MAC'd with the public key",
            format!("{hs_input}.{}", b64(mac.as_ref())),
            ErrorKind::UnsupportedAlgorithm,
        ),
        case(
            "alg missing",
            key.token_raw(&json!({"typ":"at+jwt","kid":key.kid}).to_string(), &c),
            ErrorKind::UnsupportedAlgorithm,
        ),
        case(
            "jwk header with the attacker's key",
            attacker.token_raw(&attacker_header.to_string(), &c),
            ErrorKind::ForbiddenHeader,
        ),
        case(
            "jku header pointing at a server",
            attacker.token_raw(&jku_header.to_string(), &c),
            ErrorKind::ForbiddenHeader,
        ),
        case(
            "x5u header",
            key.token_raw(&header_with(key, "x5u", json!(jku)), &c),
            ErrorKind::ForbiddenHeader,
        ),
        case(
            "x5c header",
            key.token_raw(&header_with(key, "x5c", json!(["MIIB"])), &c),
            ErrorKind::ForbiddenHeader,
        ),
        case(
            "crit naming exp",
            key.token_raw(&header_with(key, "crit", json!(["exp"])), &c),
            ErrorKind::ForbiddenHeader,
        ),
        case(
            "crit empty",
            key.token_raw(&header_with(key, "crit", json!([])), &c),
            ErrorKind::ForbiddenHeader,
        ),
        case(
            "b64 false",
            key.token_raw(&header_with(key, "b64", json!(false)), &c),
            ErrorKind::ForbiddenHeader,
        ),
        case(
            "enc header (JWE)",
            key.token_raw(&header_with(key, "enc", json!("A256GCM")), &c),
            ErrorKind::Encrypted,
        ),
        case(
            "typ JWT",
            key.token_raw(&header_with(key, "typ", json!("JWT")), &c),
            ErrorKind::InvalidType,
        ),
        case(
            "typ missing",
            key.token_raw(&json!({"alg":key.alg(),"kid":key.kid}).to_string(), &c),
            ErrorKind::InvalidType,
        ),
        case(
            "typ not a string",
            key.token_raw(&header_with(key, "typ", json!(["at+jwt"])), &c),
            ErrorKind::Malformed,
        ),
        case(
            "duplicate kid in header",
            key.token_raw(&dup, &c),
            ErrorKind::DuplicateMember,
        ),
        case(
            "duplicate typ spelled with an escape",
            key.token_raw(&escaped_dup, &c),
            ErrorKind::DuplicateMember,
        ),
        case(
            "kid ../../etc/passwd",
            key.token_raw(&header_with(key, "kid", json!("../../etc/passwd")), &c),
            ErrorKind::UnknownKey,
        ),
        case(
            "kid empty",
            key.token_raw(&header_with(key, "kid", json!("")), &c),
            ErrorKind::UnknownKey,
        ),
        case(
            "kid of 10 KB",
            key.token_raw(&header_with(key, "kid", json!("k".repeat(10 * 1024))), &c),
            ErrorKind::TooLarge,
        ),
        case(
            "kid of 5 KB",
            key.token_raw(&header_with(key, "kid", json!("k".repeat(5 * 1024))), &c),
            ErrorKind::UnknownKey,
        ),
        case(
            "kid not a string",
            key.token_raw(&header_with(key, "kid", json!(1)), &c),
            ErrorKind::Malformed,
        ),
    ]
}

fn signature_cases(key: &TestKey, stranger: &TestKey, ec: &TestKey, rsa: &TestKey) -> Vec<Case> {
    let good = key.token(&claims());
    let s = segments(&good);
    let mut flipped = key.sign(format!("{}.{}", s[0], s[1]).as_bytes());
    flipped[10] ^= 1;
    let tampered_claims = b64(with("sub", json!("admin")).to_string());
    let ec_input = {
        let t = ec.token(&claims());
        let parts = segments(&t);
        format!("{}.{}", parts[0], parts[1])
    };
    const N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
    let n = hex(N);
    let one = {
        let mut v = vec![0u8; 32];
        v[31] = 1;
        v
    };
    let ec_sig = |r: &[u8], s: &[u8]| format!("{ec_input}.{}", b64([r, s].concat()));
    let mut n_plus = n.clone();
    n_plus[31] += 1;
    vec![
        case(
            "signed by a key not in the set (same kid)",
            stranger.token_raw(&key.header().to_string(), &claims().to_string()),
            ErrorKind::InvalidSignature,
        ),
        case(
            "one signature bit flipped",
            format!("{}.{}.{}", s[0], s[1], b64(flipped)),
            ErrorKind::InvalidSignature,
        ),
        case(
            "claims changed after signing",
            format!("{}.{tampered_claims}.{}", s[0], s[2]),
            ErrorKind::InvalidSignature,
        ),
        case(
            "signature empty",
            format!("{}.{}.", s[0], s[1]),
            ErrorKind::InvalidSignature,
        ),
        case(
            "signature truncated",
            format!("{}.{}.{}", s[0], s[1], &s[2][..40]),
            ErrorKind::InvalidSignature,
        ),
        case(
            "ECDSA r = 0",
            ec_sig(&[0; 32], &one),
            ErrorKind::InvalidSignature,
        ),
        case(
            "ECDSA s = 0",
            ec_sig(&one, &[0; 32]),
            ErrorKind::InvalidSignature,
        ),
        case("ECDSA r = n", ec_sig(&n, &one), ErrorKind::InvalidSignature),
        case("ECDSA s = n", ec_sig(&one, &n), ErrorKind::InvalidSignature),
        case(
            "ECDSA s = n + 1",
            ec_sig(&one, &n_plus),
            ErrorKind::InvalidSignature,
        ),
        case(
            "ECDSA r = s = 2^256 - 1",
            ec_sig(&[0xff; 32], &[0xff; 32]),
            ErrorKind::InvalidSignature,
        ),
        case(
            "ES256 token naming the EdDSA key",
            ec.token_raw(
                &header_with(ec, "kid", json!(key.kid)),
                &claims().to_string(),
            ),
            ErrorKind::AlgorithmMismatch,
        ),
        case(
            "EdDSA header naming the RSA key",
            key.token_raw(
                &header_with(key, "kid", json!(rsa.kid)),
                &claims().to_string(),
            ),
            ErrorKind::AlgorithmMismatch,
        ),
    ]
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn claims_cases(key: &TestKey) -> Vec<Case> {
    let t = |c: Value| key.token(&c);
    let raw = |c: String| key.token_raw(&key.header().to_string(), &c);
    let claims_text = claims().to_string();
    let body = &claims_text[1..claims_text.len() - 1];
    vec![
        case(
            "expired",
            t(with("exp", json!(NOW - 31))),
            ErrorKind::Expired,
        ),
        case(
            "expired exactly at the leeway",
            t(with("exp", json!(NOW - 30))),
            ErrorKind::Expired,
        ),
        case(
            "nbf beyond the leeway",
            t(with("nbf", json!(NOW + 31))),
            ErrorKind::NotYetValid,
        ),
        case(
            "iat beyond the leeway",
            t(with("iat", json!(NOW + 31))),
            ErrorKind::NotYetValid,
        ),
        case(
            "wrong issuer",
            t(with("iss", json!("https://evil.example.com"))),
            ErrorKind::InvalidIssuer,
        ),
        case(
            "issuer is a prefix of the right one",
            t(with("iss", json!(&ISSUER[..ISSUER.len() - 1]))),
            ErrorKind::InvalidIssuer,
        ),
        case(
            "right issuer is a prefix of the token's",
            t(with("iss", json!(format!("{ISSUER}.evil")))),
            ErrorKind::InvalidIssuer,
        ),
        case(
            "issuer with trailing slash",
            t(with("iss", json!(format!("{ISSUER}/")))),
            ErrorKind::InvalidIssuer,
        ),
        case(
            "wrong audience",
            t(with("aud", json!("billing-api"))),
            ErrorKind::InvalidAudience,
        ),
        case(
            "empty audience array",
            t(with("aud", json!([]))),
            ErrorKind::InvalidAudience,
        ),
        case(
            "audience prefix",
            t(with("aud", json!("orders"))),
            ErrorKind::InvalidAudience,
        ),
        case(
            "exp as a string",
            t(with("exp", json!((NOW + 600).to_string()))),
            ErrorKind::InvalidClaimType,
        ),
        case(
            "exp as a float",
            t(with("exp", json!(1.8e9))),
            ErrorKind::InvalidClaimType,
        ),
        case(
            "exp beyond 64 bits",
            raw(format!("{{{body},\"x\":0}}").replace(
                &format!("\"exp\":{}", NOW + 600),
                "\"exp\":18446744073709551616",
            )),
            ErrorKind::InvalidClaimType,
        ),
        case(
            "exp beyond i64",
            raw(claims_text.replace(
                &format!("\"exp\":{}", NOW + 600),
                "\"exp\":9223372036854775808",
            )),
            ErrorKind::InvalidClaimType,
        ),
        case(
            "iat as a bool",
            t(with("iat", json!(true))),
            ErrorKind::InvalidClaimType,
        ),
        case(
            "nbf null",
            t(with("nbf", Value::Null)),
            ErrorKind::InvalidClaimType,
        ),
        case(
            "sub as a number",
            t(with("sub", json!(7))),
            ErrorKind::InvalidClaimType,
        ),
        case(
            "aud as a number",
            t(with("aud", json!(7))),
            ErrorKind::InvalidClaimType,
        ),
        case(
            "aud array holding a number",
            t(with("aud", json!([AUDIENCE, 7]))),
            ErrorKind::InvalidClaimType,
        ),
        case(
            "scope as an array",
            t(with("scope", json!(["admin"]))),
            ErrorKind::InvalidClaimType,
        ),
        case(
            "sid null",
            t(with("sid", Value::Null)),
            ErrorKind::InvalidClaimType,
        ),
        case("exp missing", t(without("exp")), ErrorKind::MissingClaim),
        case("iat missing", t(without("iat")), ErrorKind::MissingClaim),
        case("sub missing", t(without("sub")), ErrorKind::MissingClaim),
        case("iss missing", t(without("iss")), ErrorKind::MissingClaim),
        case("aud missing", t(without("aud")), ErrorKind::MissingClaim),
        case(
            "duplicate exp",
            raw(format!("{{{body},\"exp\":{}}}", NOW + 9999)),
            ErrorKind::DuplicateMember,
        ),
        case(
            "duplicate aud",
            raw(format!("{{\"aud\":\"x\",{body}}}")),
            ErrorKind::DuplicateMember,
        ),
        case(
            "duplicate unknown claim",
            raw(format!("{{{body},\"x\":1,\"x\":1}}")),
            ErrorKind::DuplicateMember,
        ),
        case(
            "duplicate member in a nested claim",
            raw(format!("{{{body},\"cnf\":{{\"a\":1,\"a\":2}}}}")),
            ErrorKind::DuplicateMember,
        ),
        case(
            "duplicate exp spelled with an escape",
            raw(format!("{{{body},\"\\u0065xp\":1}}")),
            ErrorKind::DuplicateMember,
        ),
    ]
}

#[actix_rt::test]
async fn hostile_tokens_rejected_with_kind_and_status() {
    let key = TestKey::ed25519("k1");
    let ec = TestKey::es256("k-ec");
    let rsa = TestKey::rs256("k-rsa");
    let stranger = TestKey::ed25519("k1");
    let attacker = TestKey::ed25519("attacker");
    let v = validator_with(&[&key, &ec, &rsa]);

    let attacker_jwks = JwksServer::start(&jwks(&[&attacker])).await;
    let app = test::init_service(App::new().service(
        web::scope("/api").wrap(Guard::new(v.clone())).route(
            "/me",
            web::get().to(|a: Authenticated| async move { HttpResponse::Ok().body(a.sub.clone()) }),
        ),
    ))
    .await;

    let mut cases = structural_cases(&key);
    cases.extend(header_cases(&key, &attacker, &attacker_jwks.url()));
    cases.extend(signature_cases(&key, &stranger, &ec, &rsa));
    cases.extend(claims_cases(&key));
    for case in &cases {
        let err = v.validate(&case.token).expect_err(case.name);
        assert_eq!(err.kind(), case.kind, "{}", case.name);
        let same = v.validate_async(&case.token).await.expect_err(case.name);
        assert_eq!(same.kind(), case.kind, "{} (async)", case.name);

        let req = test::TestRequest::get()
            .uri("/api/me")
            .insert_header((AUTHORIZATION, format!("Bearer {}", case.token)))
            .to_request();
        let res = test::call_service(&app, req).await;
        let challenge = res
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|h| h.to_str().unwrap().to_owned());
        let (status, prefix) = match case.answer {
            Answer::InvalidToken => (401, "Bearer error=\"invalid_token\""),
            Answer::InvalidRequest => (400, "Bearer error=\"invalid_request\""),
        };
        assert_eq!(res.status().as_u16(), status, "{}", case.name);
        let challenge = challenge.unwrap_or_default();
        assert!(challenge.starts_with(prefix), "{}: {challenge}", case.name);
        let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        for part in case.token.split('.').filter(|p| p.len() > 8) {
            assert!(
                !body.contains(part) && !challenge.contains(part),
                "{} leaks",
                case.name
            );
        }
    }
    assert!(cases.len() > 70);
    assert_eq!(
        attacker_jwks.hits(),
        0,
        "a token header made the guard fetch keys"
    );
}

#[actix_rt::test]
async fn two_keys_sharing_a_kid_are_ambiguous() {
    let a = TestKey::ed25519("same");
    let b = TestKey::ed25519("same");
    let v = validator_with(&[&a, &b]);
    for key in [&a, &b] {
        let err = v.validate(&key.token(&claims())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AmbiguousKey);
        assert_invalid_token_response(&err);
    }
}

#[actix_rt::test]
async fn tokens_the_server_would_issue_are_accepted() {
    let ed = TestKey::ed25519("k1");
    let ec = TestKey::es256("k2");
    let rsa = TestKey::rs256("k3");
    let v = validator_with(&[&ed, &ec, &rsa]);
    for key in [&ed, &ec, &rsa] {
        let claims = v.validate(&key.token(&claims())).unwrap();
        assert_eq!(claims.sub, "user-1");
        assert_eq!(claims.sid.as_deref(), Some("session-1"));
    }
    let accepted = [
        with("aud", json!(["x", "other-api"])),
        with("exp", json!(NOW - 29)),
        with("nbf", json!(NOW + 30)),
        with("iat", json!(NOW + 30)),
        without("scope"),
        without("sid"),
        with("cnf", json!({"jkt": "abc", "list": [{"a": 1}, {"a": 2}]})),
    ];
    for c in accepted {
        v.validate(&ed.token(&c))
            .unwrap_or_else(|e| panic!("{c}: {e}"));
    }
    let long_typ = ed.token_raw(
        &header_with(&ed, "typ", json!("application/at+jwt")),
        &claims().to_string(),
    );
    v.validate(&long_typ).unwrap();
    let no_kid = ed.token_raw(
        &json!({"alg":"EdDSA","typ":"at+jwt"}).to_string(),
        &claims().to_string(),
    );
    v.validate(&no_kid).unwrap();
}

#[actix_rt::test]
async fn unusable_jwks_entries_are_left_out() {
    let ed = TestKey::ed25519("ok");
    let mut enc = TestKey::ed25519("enc").jwk();
    enc.key_use = Some(shared::KeyUse::Enc);
    let mut wrong_alg = TestKey::ed25519("wrong-alg").jwk();
    wrong_alg.alg = Some("RS256".into());
    let mut hmac_key = TestKey::ed25519("oct").jwk();
    hmac_key.kty = "oct".into();
    let mut small_rsa = TestKey::rs256("rsa-1024").jwk();
    small_rsa.n = Some(b64([0xc1u8; 128]));
    let mut padded = TestKey::ed25519("padded").jwk();
    padded.x = Some(format!("{}=", padded.x.unwrap()));
    let set = shared::JwkSet {
        keys: vec![ed.jwk(), enc, wrong_alg, hmac_key, small_rsa, padded],
    };
    let keys = KeySet::from_jwk_set(&set);
    assert_eq!(
        keys.keys().iter().map(|k| k.kid()).collect::<Vec<_>>(),
        ["ok"]
    );
    assert!(KeySet::try_from_jwk_set(&set).is_err());
}

#[actix_rt::test]
async fn no_keys_gives_503_with_retry_after() {
    let source = Arc::new(InProcessKeys::new());
    let v = Validator::builder(ISSUER)
        .audience(AUDIENCE)
        .key_source(source.clone())
        .build()
        .unwrap();
    let key = TestKey::ed25519("k1");
    let token = key.token(&claims());
    assert_eq!(
        v.validate(&token).unwrap_err().kind(),
        ErrorKind::KeysUnavailable
    );

    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = test::init_service(App::new().wrap(Guard::new(v.clone())).route(
        "/",
        web::get().to(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { HttpResponse::Ok().finish() }
        }),
    ))
    .await;
    let req = test::TestRequest::get()
        .insert_header((AUTHORIZATION, format!("Bearer {token}")))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status().as_u16(), 503);
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    source.set_jwk_set(&jwks(&[&key]));
    // This validator uses the system clock.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let now = now.as_secs() as i64;
    let mut fresh = claims();
    fresh["exp"] = json!(now + 60);
    fresh["iat"] = json!(now);
    let fresh = key.token(&fresh);
    let req = test::TestRequest::get()
        .insert_header((AUTHORIZATION, format!("Bearer {fresh}")))
        .to_request();
    assert_eq!(test::call_service(&app, req).await.status().as_u16(), 200);
}

//! Criterion benchmarks: validating a fresh token against a bare
//! `jsonwebtoken` decode of the same token, and the middleware's overhead
//! against an unprotected handler.
//!
//! `cargo bench -p resource-guard --bench validation`

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header::AUTHORIZATION;
use actix_web::{App, HttpResponse, test, web};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use resource_guard::{AccessClaims, Guard, InProcessKeys, Jwk, JwkSet, Validator};
use serde_json::json;
use shared::KeyUse;

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "orders-api";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// One key pair, its JWK, the matching `jsonwebtoken` key, and a token.
struct Fixture {
    name: &'static str,
    jwk: Jwk,
    decoding: DecodingKey,
    alg: Algorithm,
    token: String,
}

fn jwk(kty: &str, kid: &str, alg: &str) -> Jwk {
    Jwk {
        kty: kty.into(),
        kid: kid.into(),
        alg: Some(alg.into()),
        key_use: Some(KeyUse::Sig),
        crv: None,
        x: None,
        y: None,
        n: None,
        e: None,
    }
}

fn token(kid: &str, alg: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
    let claims = json!({
        "iss": ISSUER, "sub": "user-1", "aud": AUDIENCE, "exp": now + 3600, "iat": now,
        "jti": "3f1c7a52-8f7e-4b8e-9d6a-0c2d4b1e7f90", "client_id": "web",
        "scope": "orders:read orders:write", "sid": "b8d1e0f2-4c3a-4b7e-8a1d-5e6f7a8b9c0d",
    });
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(sig))
}

fn eddsa() -> Fixture {
    let pair = Ed25519KeyPair::generate().unwrap();
    let x = b64(pair.public_key().as_ref());
    let mut j = jwk("OKP", "ed", "EdDSA");
    j.crv = Some("Ed25519".into());
    j.x = Some(x.clone());
    Fixture {
        name: "EdDSA",
        decoding: DecodingKey::from_ed_components(&x).unwrap(),
        alg: Algorithm::EdDSA,
        token: token("ed", "EdDSA", |m| pair.sign(m).as_ref().to_vec()),
        jwk: j,
    }
}

fn es256() -> Fixture {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let (x, y) = (b64(&point[1..33]), b64(&point[33..]));
    let mut j = jwk("EC", "ec", "ES256");
    j.crv = Some("P-256".into());
    j.x = Some(x.clone());
    j.y = Some(y.clone());
    let rng = SystemRandom::new();
    Fixture {
        name: "ES256",
        decoding: DecodingKey::from_ec_components(&x, &y).unwrap(),
        alg: Algorithm::ES256,
        token: token("ec", "ES256", |m| {
            pair.sign(&rng, m).unwrap().as_ref().to_vec()
        }),
        jwk: j,
    }
}

fn rs256() -> Fixture {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let public = pair.public_key();
    let n = b64(public.modulus().big_endian_without_leading_zero());
    let e = b64(public.exponent().big_endian_without_leading_zero());
    let mut j = jwk("RSA", "rsa", "RS256");
    j.n = Some(n.clone());
    j.e = Some(e.clone());
    let rng = SystemRandom::new();
    let sign = |m: &[u8]| {
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &rng, m, &mut sig).unwrap();
        sig
    };
    Fixture {
        name: "RS256",
        decoding: DecodingKey::from_rsa_components(&n, &e).unwrap(),
        alg: Algorithm::RS256,
        token: token("rsa", "RS256", sign),
        jwk: j,
    }
}

fn validator(jwks: &JwkSet) -> Validator {
    Validator::builder(ISSUER)
        .audience(AUDIENCE)
        .key_source(Arc::new(InProcessKeys::from_jwk_set(jwks)))
        .build()
        .unwrap()
}

fn bench_validation(c: &mut Criterion) {
    for f in [eddsa(), es256(), rs256()] {
        let v = validator(&JwkSet {
            keys: vec![f.jwk.clone()],
        });
        let mut expected = Validation::new(f.alg);
        expected.set_issuer(&[ISSUER]);
        expected.set_audience(&[AUDIENCE]);
        expected.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        expected.leeway = 30;
        v.validate(&f.token).unwrap();
        jsonwebtoken::decode::<AccessClaims>(&f.token, &f.decoding, &expected).unwrap();

        let mut group = c.benchmark_group(format!("validate/{}", f.name));
        group.bench_function("resource_guard", |b| {
            b.iter(|| v.validate(black_box(&f.token)).unwrap())
        });
        group.bench_function("jsonwebtoken_decode", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<AccessClaims>(black_box(&f.token), &f.decoding, &expected)
                    .unwrap()
            })
        });
        group.finish();
    }
}

fn bench_middleware(c: &mut Criterion) {
    let f = eddsa();
    let v = validator(&JwkSet {
        keys: vec![f.jwk.clone()],
    });
    let system = actix_rt::System::new();
    let handler = || async { HttpResponse::Ok().body("ok") };
    let open = system.block_on(test::init_service(
        App::new().route("/", web::get().to(handler)),
    ));
    let guarded = system.block_on(test::init_service(
        App::new()
            .wrap(Guard::new(v))
            .route("/", web::get().to(handler)),
    ));
    let bearer = format!("Bearer {}", f.token);
    let request = || {
        test::TestRequest::get()
            .uri("/")
            .insert_header((AUTHORIZATION, bearer.as_str()))
    };

    let mut group = c.benchmark_group("middleware/EdDSA");
    group.bench_function("unprotected", |b| {
        b.iter(|| {
            let res = system.block_on(test::call_service(&open, request().to_request()));
            assert!(res.status().is_success());
        })
    });
    group.bench_function("guarded", |b| {
        b.iter(|| {
            let res = system.block_on(test::call_service(&guarded, request().to_request()));
            assert!(res.status().is_success());
        })
    });
    group.finish();
}

criterion_group!(benches, bench_validation, bench_middleware);
criterion_main!(benches);

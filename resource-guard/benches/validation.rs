//! Criterion benchmarks: validating a fresh token against a bare
//! `jsonwebtoken` decode of the same token, and the middleware's overhead
//! against an unprotected handler.
//!
//! `cargo bench -p resource-guard --bench validation`

#![allow(clippy::unwrap_used)]

mod fixtures;

use std::hint::black_box;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{App, HttpResponse, test, web};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use criterion::{Criterion, criterion_group, criterion_main};
use fixtures::*;
use resource_guard::{AccessClaims, Guard, JwkSet};

fn bench_validation(c: &mut Criterion) {
    for f in [eddsa(), es256(), rs256()] {
        let v = validator(&JwkSet {
            keys: vec![f.jwk.clone()],
        });
        let expected = jwt_validation(f.alg);
        v.validate(&f.token).unwrap();
        jsonwebtoken::decode::<AccessClaims>(&f.token, &f.decoding, &expected).unwrap();

        let mut group = c.benchmark_group(format!("validate/{}", f.name));
        group.bench_function("resource_guard", |b| {
            b.iter(|| v.validate(black_box(&f.token)).unwrap())
        });
        // Everything but the signature: a token whose kid names no key.
        let header = format!(r#"{{"alg":"{}","typ":"at+jwt","kid":"none"}}"#, f.name);
        let (_, rest) = f.token.split_once('.').unwrap();
        let unknown = format!("{}.{rest}", b64(header));
        assert!(v.validate(&unknown).is_err());
        group.bench_function("resource_guard_structure_only", |b| {
            b.iter(|| v.validate(black_box(&unknown)).unwrap_err())
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

/// Compares the two ways aws-lc-rs verifies Ed25519: with a key parsed once
/// into an `EVP_PKEY`, or from the 32 key bytes parsed on each call.
fn bench_ed25519_primitive(c: &mut Criterion) {
    use aws_lc_rs::signature::{ED25519, ParsedPublicKey, VerificationAlgorithm};
    let pair = Ed25519KeyPair::generate().unwrap();
    let public = pair.public_key().as_ref().to_vec();
    let message = vec![b'x'; 600];
    let sig = pair.sign(&message).as_ref().to_vec();
    let parsed = ParsedPublicKey::new(&ED25519, &public).unwrap();

    let mut group = c.benchmark_group("ed25519_verify");
    group.bench_function("parsed_key", |b| {
        b.iter(|| {
            parsed
                .verify_sig(black_box(&message), black_box(&sig))
                .unwrap()
        })
    });
    group.bench_function("raw_key", |b| {
        b.iter(|| {
            ED25519
                .verify_sig(black_box(&public), black_box(&message), &sig)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_ed25519_primitive,
    bench_validation,
    bench_middleware
);
criterion_main!(benches);

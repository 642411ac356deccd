//! Property tests: any change to a valid token's text is refused, and no
//! input makes the validator panic.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, OnceLock};

use common::*;
use proptest::prelude::*;
use resource_guard::{InProcessKeys, ManualClock, Validator};

struct Fixture {
    validator: Validator,
    tokens: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let keys = [
            TestKey::ed25519("ed"),
            TestKey::es256("ec"),
            TestKey::rs256("rsa"),
        ];
        let set = jwks(&keys.iter().collect::<Vec<_>>());
        let validator = Validator::builder(ISSUER)
            .audience(AUDIENCE)
            .key_source(Arc::new(InProcessKeys::from_jwk_set(&set)))
            .clock(Arc::new(ManualClock::new(NOW)))
            .build()
            .unwrap();
        let tokens: Vec<String> = keys.iter().map(|k| k.token(&claims())).collect();
        for t in &tokens {
            validator.validate(t).unwrap();
        }
        Fixture { validator, tokens }
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit { at: usize, bit: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize, len: usize },
    Replace { at: usize, byte: u8 },
    Truncate { at: usize },
    SwapSegments { a: usize, b: usize },
    Duplicate { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![
        prop::sample::select(b"ABCXYZabcxyz0189-_.=+/ {}\"".to_vec()),
        any::<u8>()
    ];
    prop_oneof![
        (any::<usize>(), 0u8..7).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (any::<usize>(), byte.clone()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), byte).prop_map(|(at, byte)| Mutation::Replace { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (0usize..3, 0usize..3).prop_map(|(a, b)| Mutation::SwapSegments { a, b }),
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

fn apply(token: &str, m: &Mutation) -> Vec<u8> {
    let mut b = token.as_bytes().to_vec();
    let n = b.len();
    match *m {
        Mutation::FlipBit { at, bit } => b[at % n] ^= 1 << bit,
        Mutation::Insert { at, byte } => b.insert(at % (n + 1), byte),
        Mutation::Delete { at, len } => {
            let start = at % n;
            b.drain(start..(start + len).min(n));
        }
        Mutation::Replace { at, byte } => b[at % n] = byte,
        Mutation::Truncate { at } => b.truncate(at % n),
        Mutation::SwapSegments { a, b: c } => {
            let mut parts: Vec<&str> = token.split('.').collect();
            let len = parts.len();
            parts.swap(a % len, c % len);
            b = parts.join(".").into_bytes();
        }
        Mutation::Duplicate { at, len } => {
            let start = at % n;
            let piece = b[start..(start + len).min(n)].to_vec();
            b.splice(start..start, piece);
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_tokens_are_refused(which in 0usize..3, mutations in prop::collection::vec(mutation(), 1..4)) {
        let f = fixture();
        let original = &f.tokens[which];
        let mut current = original.clone().into_bytes();
        for m in &mutations {
            let text = String::from_utf8_lossy(&current).into_owned();
            if text.is_empty() {
                break;
            }
            current = apply(&text, m);
        }
        if let Ok(text) = std::str::from_utf8(&current) {
            prop_assume!(text != original);
            prop_assert!(f.validator.validate(text).is_err(), "accepted {:?}", mutations);
        }
    }

    #[test]
    fn arbitrary_text_never_panics_and_is_refused(text in "\\PC{0,300}") {
        prop_assert!(fixture().validator.validate(&text).is_err());
    }

    #[test]
    fn dotted_base64_never_panics_and_is_refused(
        parts in prop::collection::vec("[A-Za-z0-9_-]{0,120}", 1..6)
    ) {
        prop_assert!(fixture().validator.validate(&parts.join(".")).is_err());
    }
}

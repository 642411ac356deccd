//! Interleaved comparison of `Validator::validate` with a bare
//! `jsonwebtoken::decode` of the same EdDSA token.
//!
//! Criterion measures one function after the other, so on a busy machine
//! a change in load between the two skews their ratio. This runs both in
//! alternating rounds and reports the median of the per-round ratios.
//!
//! `cargo bench -p resource-guard --bench ratio`

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod fixtures;

use std::hint::black_box;
use std::time::Instant;

use fixtures::*;
use resource_guard::{AccessClaims, JwkSet};

const ROUNDS: usize = 200;
const PER_ROUND: u32 = 200;

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    for f in [eddsa(), es256(), rs256()] {
        let v = validator(&JwkSet {
            keys: vec![f.jwk.clone()],
        });
        let expected = jwt_validation(f.alg);
        let ours = || {
            v.validate(black_box(&f.token)).unwrap();
        };
        let theirs = || {
            jsonwebtoken::decode::<AccessClaims>(black_box(&f.token), &f.decoding, &expected)
                .unwrap();
        };
        let time = |op: &dyn Fn()| {
            let start = Instant::now();
            for _ in 0..PER_ROUND {
                op();
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(PER_ROUND)
        };
        for _ in 0..20 {
            ours();
            theirs();
        }
        let mut ratios = Vec::with_capacity(ROUNDS);
        let (mut a_all, mut b_all) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let (a, b) = if round % 2 == 0 {
                let a = time(&ours);
                (a, time(&theirs))
            } else {
                let b = time(&theirs);
                (time(&ours), b)
            };
            ratios.push(a / b);
            a_all.push(a);
            b_all.push(b);
        }
        println!(
            "{}: resource_guard {:.2} µs, jsonwebtoken {:.2} µs, median ratio {:.3} \
             ({} rounds of {} each)",
            f.name,
            median(&mut a_all),
            median(&mut b_all),
            median(&mut ratios),
            ROUNDS,
            PER_ROUND
        );
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

//! Helpers shared by the integration tests: signing keys of each supported
//! type, token minting from raw JSON, and a JWKS server on loopback.

#![allow(dead_code, clippy::unwrap_used)]

pub mod server;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use shared::{Jwk, JwkSet, KeyUse};

pub const ISSUER: &str = "https://auth.example.com";
pub const AUDIENCE: &str = "orders-api";
pub const NOW: i64 = 1_800_000_000;

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A private key of one of the supported types.
pub enum Material {
    Ed(Ed25519KeyPair),
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A signing key with its `kid`.
pub struct TestKey {
    pub kid: String,
    pub material: Material,
}

impl TestKey {
    pub fn ed25519(kid: &str) -> Self {
        Self {
            kid: kid.into(),
            material: Material::Ed(Ed25519KeyPair::generate().unwrap()),
        }
    }

    pub fn es256(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        Self {
            kid: kid.into(),
            material: Material::Ec(pair),
        }
    }

    pub fn rs256(kid: &str) -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        Self {
            kid: kid.into(),
            material: Material::Rsa(pair),
        }
    }

    pub fn alg(&self) -> &'static str {
        match self.material {
            Material::Ed(_) => "EdDSA",
            Material::Ec(_) => "ES256",
            Material::Rsa(_) => "RS256",
        }
    }

    /// Returns the public JWK, as the token server publishes it.
    pub fn jwk(&self) -> Jwk {
        let mut jwk = Jwk {
            kty: String::new(),
            kid: self.kid.clone(),
            alg: Some(self.alg().into()),
            key_use: Some(KeyUse::Sig),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        };
        match &self.material {
            Material::Ed(pair) => {
                jwk.kty = "OKP".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(b64(pair.public_key().as_ref()));
            }
            Material::Ec(pair) => {
                let point = pair.public_key().as_ref();
                jwk.kty = "EC".into();
                jwk.crv = Some("P-256".into());
                jwk.x = Some(b64(&point[1..33]));
                jwk.y = Some(b64(&point[33..65]));
            }
            Material::Rsa(pair) => {
                let public = pair.public_key();
                jwk.kty = "RSA".into();
                jwk.n = Some(b64(public.modulus().big_endian_without_leading_zero()));
                jwk.e = Some(b64(public.exponent().big_endian_without_leading_zero()));
            }
        }
        jwk
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.material {
            Material::Ed(pair) => pair.sign(message).as_ref().to_vec(),
            Material::Ec(pair) => pair.sign(&rng, message).unwrap().as_ref().to_vec(),
            Material::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .unwrap();
                sig
            }
        }
    }

    /// Returns the header the token server writes.
    pub fn header(&self) -> Value {
        json!({ "alg": self.alg(), "typ": "at+jwt", "kid": self.kid })
    }

    /// Signs a token with the usual header and `claims`.
    pub fn token(&self, claims: &Value) -> String {
        self.token_raw(&self.header().to_string(), &claims.to_string())
    }

    /// Signs a token from header and claims JSON exactly as given.
    pub fn token_raw(&self, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        let sig = self.sign(input.as_bytes());
        format!("{input}.{}", b64(sig))
    }
}

pub fn jwks(keys: &[&TestKey]) -> JwkSet {
    JwkSet {
        keys: keys.iter().map(|k| k.jwk()).collect(),
    }
}

/// Claims the token server would issue at [`NOW`].
pub fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "exp": NOW + 600,
        "iat": NOW,
        "jti": "jti-1",
        "client_id": "web",
        "scope": "orders:read admin",
        "sid": "session-1",
    })
}

/// Returns [`claims`] with `key` set to `value`.
pub fn with(key: &str, value: Value) -> Value {
    let mut c = claims();
    c[key] = value;
    c
}

/// Returns [`claims`] without `key`.
pub fn without(key: &str) -> Value {
    let mut c = claims();
    c.as_object_mut().unwrap().remove(key);
    c
}

/// Asserts the HTTP response the middleware sends for `err`: 401 with an
/// `invalid_token` challenge.
pub fn assert_invalid_token_response(err: &resource_guard::ValidationError) {
    use actix_web::ResponseError;
    let res = err.error_response();
    assert_eq!(res.status(), 401);
    let challenge = res
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
}

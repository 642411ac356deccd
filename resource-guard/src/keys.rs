//! Verification keys: built once from JWKs, then used for every token.
//!
//! Each key is parsed into the crypto backend's form when the key set is
//! loaded, so a validation costs one signature check and no key parsing.
//! The algorithm belongs to the key: a key verifies with exactly one
//! algorithm, derived from its `kty`/`crv` and checked against its `alg`.

use std::fmt;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
};
use shared::{Jwk, JwkSet, KeyUse};

use crate::error::ErrorKind;
use crate::token::decode;

/// A signature algorithm the validator verifies. `none` and the HMAC
/// algorithms are deliberately absent.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Ed25519 (`OKP` keys, curve `Ed25519`).
    EdDSA,
    /// ECDSA on P-256 with SHA-256 (`EC` keys, curve `P-256`).
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (`RSA` keys of 2048 to 8192 bits).
    RS256,
}

impl Algorithm {
    /// Returns the JOSE name: `EdDSA`, `ES256` or `RS256`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
            Algorithm::RS256 => "RS256",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "EdDSA" => Some(Algorithm::EdDSA),
            "ES256" => Some(Algorithm::ES256),
            "RS256" => Some(Algorithm::RS256),
            _ => None,
        }
    }
}

/// The reason a JWK cannot be used to verify tokens.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// `kty`/`crv` is not `OKP`/`Ed25519`, `EC`/`P-256` or `RSA`.
    #[error("unsupported key type or curve")]
    UnsupportedKeyType,
    /// `alg` is present and is not the one algorithm this key type allows.
    #[error("algorithm does not match the key type")]
    AlgorithmMismatch,
    /// `use` is present and is not `sig`.
    #[error("key is not for signatures")]
    NotForSigning,
    /// The key has no `kid`; selection needs one.
    #[error("key has an empty kid")]
    EmptyKid,
    /// The key material is missing, not canonical base64url, or rejected.
    #[error("invalid key material")]
    InvalidKey,
    /// An RSA modulus shorter than 2048 or longer than 8192 bits.
    #[error("RSA modulus must have 2048 to 8192 bits")]
    RsaKeySize,
}

/// A public key ready to verify signatures, with its id and algorithm.
pub struct VerifyingKey {
    kid: String,
    alg: Algorithm,
    key: ParsedPublicKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

impl VerifyingKey {
    /// Builds a key from a public JWK, checking `kty`, `crv`, `alg`, `use`
    /// and the key material.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        if jwk.kid.is_empty() {
            return Err(KeyError::EmptyKid);
        }
        if matches!(jwk.key_use, Some(u) if u != KeyUse::Sig) {
            return Err(KeyError::NotForSigning);
        }
        let alg = key_algorithm(jwk)?;
        if let Some(named) = &jwk.alg
            && Algorithm::from_name(named) != Some(alg)
        {
            return Err(KeyError::AlgorithmMismatch);
        }
        let key = match alg {
            Algorithm::EdDSA => ParsedPublicKey::new(&ED25519, fixed(jwk.x.as_deref(), 32)?),
            Algorithm::ES256 => ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, ec_point(jwk)?),
            Algorithm::RS256 => ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa_der(jwk)?),
        }
        .map_err(|_| KeyError::InvalidKey)?;
        Ok(Self {
            kid: jwk.kid.clone(),
            alg,
            key,
        })
    }

    /// Returns the key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Returns the only algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Verifies `signature` over `message` with this key's algorithm.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), ErrorKind> {
        let shape_ok = match self.alg {
            Algorithm::EdDSA => signature.len() == 64,
            Algorithm::ES256 => ecdsa_scalars_in_range(signature),
            Algorithm::RS256 => true,
        };
        if !shape_ok {
            return Err(ErrorKind::InvalidSignature);
        }
        self.key
            .verify_sig(message, signature)
            .map_err(|_| ErrorKind::InvalidSignature)
    }
}

/// Derives the one algorithm that a key's type and curve allow.
fn key_algorithm(jwk: &Jwk) -> Result<Algorithm, KeyError> {
    match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("OKP", Some("Ed25519")) => Ok(Algorithm::EdDSA),
        ("EC", Some("P-256")) => Ok(Algorithm::ES256),
        ("RSA", None) => Ok(Algorithm::RS256),
        _ => Err(KeyError::UnsupportedKeyType),
    }
}

fn member(value: Option<&str>) -> Result<Vec<u8>, KeyError> {
    let value = value.ok_or(KeyError::InvalidKey)?;
    decode(value.as_bytes()).map_err(|_| KeyError::InvalidKey)
}

fn fixed(value: Option<&str>, len: usize) -> Result<Vec<u8>, KeyError> {
    let bytes = member(value)?;
    if bytes.len() == len {
        Ok(bytes)
    } else {
        Err(KeyError::InvalidKey)
    }
}

/// Builds the uncompressed SEC1 point `04 || x || y`.
fn ec_point(jwk: &Jwk) -> Result<Vec<u8>, KeyError> {
    let mut point = vec![4u8];
    point.extend(fixed(jwk.x.as_deref(), 32)?);
    point.extend(fixed(jwk.y.as_deref(), 32)?);
    Ok(point)
}

/// Encodes `n` and `e` as a DER `RSAPublicKey` (RFC 8017 appendix A.1.1).
fn rsa_der(jwk: &Jwk) -> Result<Vec<u8>, KeyError> {
    let n = member(jwk.n.as_deref())?;
    let e = member(jwk.e.as_deref())?;
    let n = strip_zeros(&n);
    let e = strip_zeros(&e);
    let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
    if !(2048..=8192).contains(&bits) {
        return Err(KeyError::RsaKeySize);
    }
    if e.is_empty() || e.len() > 8 {
        return Err(KeyError::InvalidKey);
    }
    let mut body = der_integer(n);
    body.extend(der_integer(e));
    let mut out = vec![0x30];
    out.extend(der_len(body.len()));
    out.extend(body);
    Ok(out)
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn der_integer(magnitude: &[u8]) -> Vec<u8> {
    let pad = magnitude.first().is_some_and(|b| b & 0x80 != 0);
    let len = magnitude.len() + usize::from(pad);
    let mut out = vec![0x02];
    out.extend(der_len(len));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(magnitude);
    out
}

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes = len.to_be_bytes();
    let skip = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    let mut out = vec![0x80 | (bytes.len() - skip) as u8];
    out.extend_from_slice(&bytes[skip..]);
    out
}

/// The order of the P-256 group, big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// Checks that an ES256 signature is `r || s`, each 32 bytes and in `1..n`.
fn ecdsa_scalars_in_range(signature: &[u8]) -> bool {
    if signature.len() != 64 {
        return false;
    }
    let (r, s) = signature.split_at(32);
    let in_range = |v: &[u8]| v.iter().any(|b| *b != 0) && v < &P256_ORDER[..];
    in_range(r) && in_range(s)
}

/// The reason no single key was selected for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss {
    /// No key has the token's `kid` (a refetch may help).
    NoSuchKid,
    /// Keys with the `kid` exist, but none for the token's `alg`.
    WrongAlgorithm,
    /// More than one key matches.
    Ambiguous,
}

/// The keys a validator accepts signatures from.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
}

impl KeySet {
    /// Builds a set from JWKs, leaving out (and logging) each key that
    /// cannot verify tokens: unknown types, encryption keys, HMAC secrets,
    /// RSA keys under 2048 bits, malformed material.
    pub fn from_jwk_set(set: &JwkSet) -> Self {
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| match VerifyingKey::from_jwk(jwk) {
                Ok(key) => Some(key),
                Err(error) => {
                    tracing::warn!(kid = %jwk.kid, %error, "JWK left out of the key set");
                    None
                }
            })
            .collect();
        Self { keys }
    }

    /// Builds a set from JWKs, failing on the first key that cannot be used.
    pub fn try_from_jwk_set(set: &JwkSet) -> Result<Self, KeyError> {
        let keys = set
            .keys
            .iter()
            .map(VerifyingKey::from_jwk)
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// Creates a set of already-built keys.
    pub fn from_keys(keys: Vec<VerifyingKey>) -> Self {
        Self { keys }
    }

    /// Returns the number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Returns whether the set has no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Returns the keys in the set.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// Selects the one key for a token's `kid` and `alg`. Without a `kid`,
    /// the one key of that algorithm is chosen, if there is exactly one.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<&VerifyingKey, Miss> {
        let mut found = None;
        let mut kid_seen = false;
        for key in &self.keys {
            if kid.is_some_and(|kid| kid != key.kid) {
                continue;
            }
            kid_seen = true;
            if key.alg != alg {
                continue;
            }
            if found.replace(key).is_some() {
                return Err(Miss::Ambiguous);
            }
        }
        match found {
            Some(key) => Ok(key),
            None if kid_seen => Err(Miss::WrongAlgorithm),
            None => Err(Miss::NoSuchKid),
        }
    }
}

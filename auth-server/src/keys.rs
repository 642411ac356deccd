//! Signing keys: generation, sealing for the store, JWT signing and the
//! published JWKS.
//!
//! Tokens are signed with a key pair parsed once at load time, so that
//! signing a token costs one signature and no key parsing. Ed25519 signs
//! with aws-lc-rs, whose x86-64 code signs about 2.5 times as fast as
//! `ring`'s (signing was a third of the server's CPU time under refresh
//! load); ES256 and RS256 sign with `ring`.

use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use shared::{Jwk, JwkSet, KeyUse};
use zeroize::Zeroizing;

use crate::crypto;
use crate::secret::SecretBytes;
use crate::store::{Store, StoreError, StoredKey};

/// JWS algorithms the server signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Ed25519 (RFC 8037), the default.
    EdDSA,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and a 2048-bit key, for verifiers
    /// that know only RS256.
    RS256,
}

impl Algorithm {
    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
            Algorithm::RS256 => "RS256",
        }
    }

    /// Parses a JWS `alg` name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "EdDSA" => Some(Algorithm::EdDSA),
            "ES256" => Some(Algorithm::ES256),
            "RS256" => Some(Algorithm::RS256),
            _ => None,
        }
    }
}

enum Pair {
    Ed25519(aws_lc_rs::signature::Ed25519KeyPair),
    P256(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// Failure to build or load a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key could not be opened with the configured key-encryption key.
    #[error("signing key {0} cannot be decrypted: wrong key-encryption key or damaged record")]
    Sealed(String),
    /// A key could not be parsed.
    #[error("signing key {0} is invalid")]
    Invalid(String),
}

/// One signing key, parsed and ready.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    pair: Pair,
    header_b64: String,
    jwk: Jwk,
}

impl SigningKey {
    /// Generates a new key and returns it with its PKCS#8 encoding.
    pub fn generate(alg: Algorithm) -> Result<(Self, Zeroizing<Vec<u8>>), KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = match alg {
            Algorithm::EdDSA => ring::signature::Ed25519KeyPair::generate_pkcs8(&rng),
            Algorithm::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            }
            Algorithm::RS256 => return Self::generate_rsa(),
        }
        .map_err(|_| KeyError::Invalid("new".into()))?;
        let pkcs8 = Zeroizing::new(pkcs8.as_ref().to_vec());
        let key = Self::from_pkcs8(alg, &pkcs8, None)?;
        Ok((key, pkcs8))
    }

    /// `ring` cannot generate RSA keys, so aws-lc-rs does, and `ring` signs.
    fn generate_rsa() -> Result<(Self, Zeroizing<Vec<u8>>), KeyError> {
        use aws_lc_rs::encoding::AsDer;
        let invalid = |_| KeyError::Invalid("new".into());
        let pair =
            aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(invalid)?;
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).map_err(invalid)?;
        let pkcs8 = Zeroizing::new(der.as_ref().to_vec());
        let key = Self::from_pkcs8(Algorithm::RS256, &pkcs8, None)?;
        Ok((key, pkcs8))
    }

    /// Parses a PKCS#8 key. The key id is the RFC 7638 thumbprint unless
    /// `kid` is given.
    pub fn from_pkcs8(alg: Algorithm, pkcs8: &[u8], kid: Option<&str>) -> Result<Self, KeyError> {
        let label = kid.unwrap_or("new").to_owned();
        let (pair, mut jwk) = match alg {
            Algorithm::EdDSA => {
                let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                    .map_err(|_| KeyError::Invalid(label.clone()))?;
                let jwk = okp_jwk(aws_lc_rs::signature::KeyPair::public_key(&pair).as_ref());
                (Pair::Ed25519(pair), jwk)
            }
            Algorithm::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    pkcs8,
                    &SystemRandom::new(),
                )
                .map_err(|_| KeyError::Invalid(label.clone()))?;
                let jwk = ec_jwk(pair.public_key().as_ref())
                    .ok_or_else(|| KeyError::Invalid(label.clone()))?;
                (Pair::P256(pair), jwk)
            }
            Algorithm::RS256 => {
                let pair =
                    RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| KeyError::Invalid(label.clone()))?;
                if pair.public().modulus_len() < 256 {
                    return Err(KeyError::Invalid(label));
                }
                let jwk = rsa_jwk(&RsaPublicKeyComponents::<Vec<u8>>::from(pair.public()));
                (Pair::Rsa(pair), jwk)
            }
        };
        let kid = kid.map(str::to_owned).unwrap_or_else(|| thumbprint(&jwk));
        jwk.kid = kid.clone();
        jwk.alg = Some(alg.name().into());
        jwk.key_use = Some(KeyUse::Sig);
        let header = format!(
            r#"{{"alg":"{}","typ":"at+jwt","kid":"{}"}}"#,
            alg.name(),
            kid
        );
        Ok(Self {
            kid,
            alg,
            pair,
            header_b64: URL_SAFE_NO_PAD.encode(header),
            jwk,
        })
    }

    /// Key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Algorithm.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Signs `claims` (JSON) into a compact JWS.
    pub fn sign_jwt(&self, claims: &[u8]) -> String {
        let claims_len = claims.len().div_ceil(3) * 4;
        let mut out = String::with_capacity(self.header_b64.len() + claims_len + 100);
        out.push_str(&self.header_b64);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut out);
        let signature = match &self.pair {
            Pair::Ed25519(pair) => pair.sign(out.as_bytes()).as_ref().to_vec(),
            Pair::P256(pair) => {
                #[allow(clippy::expect_used)]
                let sig = pair
                    .sign(&SystemRandom::new(), out.as_bytes())
                    .expect("ECDSA signing with the system generator");
                sig.as_ref().to_vec()
            }
            Pair::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public().modulus_len()];
                #[allow(clippy::expect_used)]
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    out.as_bytes(),
                    &mut sig,
                )
                .expect("RSA signing into a modulus-sized buffer");
                sig
            }
        };
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut out);
        out
    }
}

fn okp_jwk(public: &[u8]) -> Jwk {
    Jwk {
        kty: "OKP".into(),
        kid: String::new(),
        alg: None,
        key_use: None,
        crv: Some("Ed25519".into()),
        x: Some(URL_SAFE_NO_PAD.encode(public)),
        y: None,
        n: None,
        e: None,
    }
}

fn rsa_jwk(public: &RsaPublicKeyComponents<Vec<u8>>) -> Jwk {
    Jwk {
        kty: "RSA".into(),
        kid: String::new(),
        alg: None,
        key_use: None,
        crv: None,
        x: None,
        y: None,
        n: Some(URL_SAFE_NO_PAD.encode(&public.n)),
        e: Some(URL_SAFE_NO_PAD.encode(&public.e)),
    }
}

fn ec_jwk(public: &[u8]) -> Option<Jwk> {
    // Uncompressed SEC1 point: 0x04 || x || y.
    if public.len() != 65 || public[0] != 4 {
        return None;
    }
    Some(Jwk {
        kty: "EC".into(),
        kid: String::new(),
        alg: None,
        key_use: None,
        crv: Some("P-256".into()),
        x: Some(URL_SAFE_NO_PAD.encode(&public[1..33])),
        y: Some(URL_SAFE_NO_PAD.encode(&public[33..])),
        n: None,
        e: None,
    })
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url): the required members in
/// lexicographic order with no whitespace.
fn thumbprint(jwk: &Jwk) -> String {
    let text = match jwk.kty.as_str() {
        "OKP" => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            jwk.crv.as_deref().unwrap_or(""),
            jwk.x.as_deref().unwrap_or("")
        ),
        "RSA" => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk.e.as_deref().unwrap_or(""),
            jwk.n.as_deref().unwrap_or("")
        ),
        _ => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk.crv.as_deref().unwrap_or(""),
            jwk.x.as_deref().unwrap_or(""),
            jwk.y.as_deref().unwrap_or("")
        ),
    };
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
}

/// The keys in force: the one that signs, and the ones published.
pub struct KeyRing {
    active: Arc<SigningKey>,
    jwks: JwkSet,
    jwks_body: actix_web::web::Bytes,
}

impl KeyRing {
    /// Builds a ring that signs with `active` and publishes `published`
    /// (which must contain the active key).
    pub fn new(active: Arc<SigningKey>, published: Vec<Jwk>) -> Self {
        let jwks = JwkSet { keys: published };
        #[allow(clippy::expect_used)]
        let body = serde_json::to_vec(&jwks).expect("a JWK set serializes");
        Self {
            active,
            jwks,
            jwks_body: body.into(),
        }
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    /// The published key set.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// The published key set, encoded once.
    pub fn jwks_body(&self) -> actix_web::web::Bytes {
        self.jwks_body.clone()
    }
}

/// Shared handle to the current [`KeyRing`], swapped whole on rotation.
#[derive(Clone)]
pub struct Keys {
    ring: Arc<RwLock<Arc<KeyRing>>>,
}

impl Keys {
    /// Wraps a ring.
    pub fn new(ring: KeyRing) -> Self {
        Self {
            ring: Arc::new(RwLock::new(Arc::new(ring))),
        }
    }

    /// The ring in force.
    pub fn current(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the ring.
    pub fn replace(&self, ring: KeyRing) {
        let ring = Arc::new(ring);
        match self.ring.write() {
            Ok(mut guard) => *guard = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
    }

    /// An ephemeral Ed25519 key, for the memory store.
    pub fn ephemeral() -> Result<Self, KeyError> {
        let (key, _) = SigningKey::generate(Algorithm::EdDSA)?;
        let jwk = key.jwk().clone();
        Ok(Self::new(KeyRing::new(Arc::new(key), vec![jwk])))
    }
}

fn key_aad(kid: &str, alg: &str) -> Vec<u8> {
    format!("signing-key:{kid}:{alg}").into_bytes()
}

fn kek_array(kek: &SecretBytes) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&kek.expose()[..32]);
    out
}

/// Seals a new key's PKCS#8 under the key-encryption key.
pub fn seal_key(kek: &SecretBytes, key: &SigningKey, pkcs8: &[u8], now_ms: i64) -> StoredKey {
    let alg = key.alg().name();
    StoredKey {
        kid: key.kid().to_owned(),
        alg: alg.to_owned(),
        sealed_private: crypto::seal(&kek_array(kek), pkcs8, &key_aad(key.kid(), alg)),
        created_ms: now_ms,
        activates_ms: now_ms,
        retired_ms: None,
        removes_ms: None,
    }
}

/// Opens a stored key.
pub fn open_key(kek: &SecretBytes, stored: &StoredKey) -> Result<SigningKey, KeyError> {
    let alg =
        Algorithm::from_name(&stored.alg).ok_or_else(|| KeyError::Invalid(stored.kid.clone()))?;
    let pkcs8 = crypto::open(
        &kek_array(kek),
        &stored.sealed_private,
        &key_aad(&stored.kid, &stored.alg),
    )
    .map(Zeroizing::new)
    .ok_or_else(|| KeyError::Sealed(stored.kid.clone()))?;
    SigningKey::from_pkcs8(alg, &pkcs8, Some(&stored.kid))
}

/// Builds the ring from the store at time `now_ms`, creating the first key
/// when the store has none.
pub async fn load_ring<S: Store>(
    store: &S,
    kek: &SecretBytes,
    now_ms: i64,
) -> Result<KeyRing, KeyError> {
    let mut stored = store.load_keys().await?;
    if !stored.iter().any(|k| can_sign(k, now_ms)) {
        let (key, pkcs8) = SigningKey::generate(Algorithm::EdDSA)?;
        let record = seal_key(kek, &key, &pkcs8, now_ms);
        store.put_key(&record).await?;
        tracing::info!(kid = %record.kid, alg = %record.alg, "generated a signing key");
        stored = store.load_keys().await?;
    }
    ring_from(kek, &stored, now_ms)
}

fn can_sign(key: &StoredKey, now_ms: i64) -> bool {
    key.activates_ms <= now_ms && key.retired_ms.is_none_or(|t| t > now_ms)
}

fn ring_from(kek: &SecretBytes, stored: &[StoredKey], now_ms: i64) -> Result<KeyRing, KeyError> {
    // Every instance picks the same signer: the earliest-activated key that
    // may sign now, ties broken by kid.
    let signer = stored
        .iter()
        .filter(|k| can_sign(k, now_ms))
        .min_by(|a, b| {
            a.activates_ms
                .cmp(&b.activates_ms)
                .then_with(|| a.kid.cmp(&b.kid))
        })
        .ok_or_else(|| KeyError::Invalid("no key may sign".into()))?;
    let active = Arc::new(open_key(kek, signer)?);
    let mut published = Vec::new();
    for key in stored
        .iter()
        .filter(|k| k.removes_ms.is_none_or(|t| t > now_ms))
    {
        published.push(open_key(kek, key)?.jwk().clone());
    }
    Ok(KeyRing::new(active, published))
}

/// Reads PKCS#8 private keys from PEM files (`-----BEGIN PRIVATE KEY-----`).
/// The first key signs; every key is published. The algorithm comes from
/// the key: Ed25519, P-256 or RSA (2048 bits or more).
pub fn ring_from_pem_files(paths: &[std::path::PathBuf]) -> Result<KeyRing, KeyError> {
    let mut keys = Vec::with_capacity(paths.len());
    for path in paths {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|e| KeyError::Invalid(format!("{label}: {e}")))?;
        let der = pem_private_key(&text).ok_or_else(|| {
            KeyError::Invalid(format!(
                "{label}: expected a PEM \"PRIVATE KEY\" (PKCS#8) block"
            ))
        })?;
        let key = [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256]
            .into_iter()
            .find_map(|alg| SigningKey::from_pkcs8(alg, &der, None).ok())
            .ok_or_else(|| {
                KeyError::Invalid(format!("{label}: not an Ed25519, P-256 or RSA key"))
            })?;
        keys.push(key);
    }
    let mut keys = keys.into_iter();
    let active = keys
        .next()
        .ok_or_else(|| KeyError::Invalid("keys.pem_files is empty".into()))?;
    let mut published = vec![active.jwk().clone()];
    published.extend(keys.map(|k| k.jwk().clone()));
    Ok(KeyRing::new(Arc::new(active), published))
}

fn pem_private_key(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let start = text.find(BEGIN)? + BEGIN.len();
    let end = start + text[start..].find(END)?;
    let body: String = text[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let body = Zeroizing::new(body);
    base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .ok()
        .map(Zeroizing::new)
}

/// Delays that keep every resource guard able to verify every token
/// through a rotation.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// From publication until a new key may sign: the JWKS `max-age` plus
    /// the guards' refetch cooldown, so every guard can have fetched it.
    pub publish_delay_ms: i64,
    /// From retirement until a key leaves the JWKS: the access-token
    /// lifetime, the guards' leeway and the JWKS `max-age`, so no guard
    /// still holds a token it signed or a key set without it.
    pub removal_delay_ms: i64,
}

impl Timings {
    /// Derives the delays from the settings.
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        let max_age = settings.jwks_max_age_secs as i64;
        Self {
            publish_delay_ms: (max_age + settings.guard_cooldown_secs) * 1000,
            removal_delay_ms: (settings.access_ttl_secs + settings.guard_leeway_secs + max_age)
                * 1000,
        }
    }
}

/// Lifecycle state of a key at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not signing yet.
    Pending,
    /// Published and may sign.
    Active,
    /// Published, signs nothing.
    Retired,
    /// No longer published.
    Removed,
}

impl KeyState {
    /// Lowercase name, for listings and metrics.
    pub fn name(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Removed => "removed",
        }
    }
}

/// The state of `key` at `now_ms`.
pub fn key_state(key: &StoredKey, now_ms: i64) -> KeyState {
    if key.removes_ms.is_some_and(|t| t <= now_ms) {
        KeyState::Removed
    } else if key.retired_ms.is_some_and(|t| t <= now_ms) {
        KeyState::Retired
    } else if key.activates_ms > now_ms {
        KeyState::Pending
    } else {
        KeyState::Active
    }
}

/// Adds a new key that starts signing after the publish delay, and retires
/// every other key at that moment.
pub async fn rotate<S: Store>(
    store: &S,
    kek: &SecretBytes,
    alg: Algorithm,
    now_ms: i64,
    timings: Timings,
) -> Result<StoredKey, KeyError> {
    let (key, pkcs8) = SigningKey::generate(alg)?;
    let mut record = seal_key(kek, &key, &pkcs8, now_ms);
    record.activates_ms = now_ms + timings.publish_delay_ms;
    let others = store.load_keys().await?;
    store.put_key(&record).await?;
    for mut other in others {
        let retire_at = record.activates_ms;
        if other.retired_ms.is_some_and(|t| t <= retire_at) {
            continue;
        }
        other.retired_ms = Some(retire_at);
        other.removes_ms = Some(retire_at + timings.removal_delay_ms);
        store.update_key(&other).await?;
    }
    tracing::info!(kid = %record.kid, alg = %record.alg, activates_ms = record.activates_ms,
        "signing key rotation scheduled");
    Ok(record)
}

/// Retires `kid` now. Refused when no other key could sign.
pub async fn retire<S: Store>(
    store: &S,
    kid: &str,
    now_ms: i64,
    timings: Timings,
) -> Result<StoredKey, KeyError> {
    let keys = store.load_keys().await?;
    let Some(mut key) = keys.iter().find(|k| k.kid == kid).cloned() else {
        return Err(KeyError::Invalid(format!("{kid}: no such key")));
    };
    let successor = keys.iter().any(|k| {
        k.kid != kid
            && matches!(key_state(k, now_ms), KeyState::Active | KeyState::Pending)
            && k.retired_ms.is_none()
    });
    if !successor {
        return Err(KeyError::Invalid(format!(
            "{kid}: it is the last key that can sign; run `keys rotate` first"
        )));
    }
    let retire_at = key.retired_ms.map_or(now_ms, |t| t.min(now_ms));
    key.retired_ms = Some(retire_at);
    key.removes_ms = Some(retire_at + timings.removal_delay_ms);
    store.update_key(&key).await?;
    tracing::info!(kid = %key.kid, "signing key retired");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_token_has_the_expected_header() {
        let (key, _) = SigningKey::generate(Algorithm::EdDSA).expect("generate");
        let token = key.sign_jwt(br#"{"sub":"x"}"#);
        let header = token.split('.').next().expect("header");
        let decoded = URL_SAFE_NO_PAD.decode(header).expect("base64url");
        let text = String::from_utf8(decoded).expect("utf-8");
        assert_eq!(
            text,
            format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{}"}}"#, key.kid())
        );
        assert_eq!(token.split('.').count(), 3);
    }

    #[test]
    fn pem_files_load_in_order() {
        let dir = std::env::temp_dir().join(format!("pem-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut paths = Vec::new();
        let mut kids = Vec::new();
        for (index, alg) in [Algorithm::ES256, Algorithm::EdDSA].into_iter().enumerate() {
            let (key, pkcs8) = SigningKey::generate(alg).expect("generate");
            let body = base64::engine::general_purpose::STANDARD.encode(&pkcs8[..]);
            let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
            let path = dir.join(format!("{index}.pem"));
            std::fs::write(&path, pem).expect("write PEM");
            paths.push(path);
            kids.push(key.kid().to_owned());
        }
        let ring = ring_from_pem_files(&paths).expect("loads");
        assert_eq!(ring.active().kid(), kids[0]);
        assert_eq!(ring.active().alg(), Algorithm::ES256);
        assert_eq!(ring.jwks().keys.len(), 2);
        std::fs::write(&paths[1], "not a key").expect("overwrite");
        assert!(ring_from_pem_files(&paths).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sealed_key_opens_only_with_its_kek() {
        let kek = SecretBytes::new(vec![1; 32]);
        let (key, pkcs8) = SigningKey::generate(Algorithm::ES256).expect("generate");
        let stored = seal_key(&kek, &key, &pkcs8, 0);
        let opened = open_key(&kek, &stored).expect("opens");
        assert_eq!(opened.jwk(), key.jwk());
        let wrong = SecretBytes::new(vec![2; 32]);
        assert!(matches!(
            open_key(&wrong, &stored),
            Err(KeyError::Sealed(_))
        ));
    }
}

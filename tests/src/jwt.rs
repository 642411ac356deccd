//! Verification of access tokens against a JWKS document, as a resource
//! server would do it, with an independent JWT library.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use shared::AccessClaims;

/// A verified access token.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The JWS header.
    pub header: Header,
    /// The claims.
    pub claims: AccessClaims,
}

/// Verifies `token`'s EdDSA signature with the key its `kid` names in
/// `jwks_json`, its `typ` header, expiry, issuer and audience.
///
/// Returns an error message naming the first check that failed.
pub fn verify_access_token(
    token: &str,
    jwks_json: &str,
    issuer: &str,
    audience: &str,
) -> Result<Verified, String> {
    let jwks: JwkSet = serde_json::from_str(jwks_json).map_err(|e| format!("JWKS: {e}"))?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("header: {e}"))?;
    if header.alg != Algorithm::EdDSA {
        return Err(format!("alg is {:?}, expected EdDSA", header.alg));
    }
    if header.typ.as_deref() != Some(shared::ACCESS_TOKEN_TYP) {
        return Err(format!("typ is {:?}, expected at+jwt", header.typ));
    }
    let kid = header.kid.as_deref().ok_or("the header has no kid")?;
    let jwk = jwks
        .find(kid)
        .ok_or_else(|| format!("kid {kid} is not in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("JWK: {e}"))?;

    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
        .map_err(|e| format!("verification: {e}"))?;
    Ok(Verified {
        header,
        claims: data.claims,
    })
}

/// Returns the `kid` of every key in `jwks_json`.
pub fn key_ids(jwks_json: &str) -> Vec<String> {
    let jwks: JwkSet = serde_json::from_str(jwks_json).expect("a JWKS document");
    jwks.keys
        .iter()
        .filter_map(|key| key.common.key_id.clone())
        .collect()
}

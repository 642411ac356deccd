//! Key names and the decoding of script replies and records.
//!
//! Layout, for a key prefix `P` and a user id `U` (32 hex digits):
//!
//! | key | type | contents |
//! |---|---|---|
//! | `P{U}:u` | hash | the user record, with the ids of its sessions |
//! | `P{U}:s:<16 raw bytes of the session id>` | hash | one session |
//! | `Pn:<username>` | string | the user id of a normalized username |
//! | `Pkeys` | hash | signing keys by kid |
//!
//! The `{U}` hash tag puts a user's record and sessions on one cluster
//! slot, so every atomic step is a single-slot script. Field names
//! are listed in `lua/prelude.lua`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use redis::Value;

use crate::store::{
    ClientContext, SessionId, SessionInfo, StoreError, StoreResult, StoredKey, UserId, UserRecord,
};

/// Builds key names under one prefix.
#[derive(Debug, Clone)]
pub(super) struct KeySpace {
    prefix: String,
}

impl KeySpace {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(super) fn user(&self, user: &UserId) -> String {
        format!("{}{{{user}}}:u", self.prefix)
    }

    /// Returns the start shared by the user's session keys. A session id's
    /// 16 bytes follow it.
    pub(super) fn session_prefix(&self, user: &UserId) -> String {
        format!("{}{{{user}}}:s:", self.prefix)
    }

    pub(super) fn session(&self, user: &UserId, session: &SessionId) -> Vec<u8> {
        let mut key = self.session_prefix(user).into_bytes();
        key.extend_from_slice(&session.0);
        key
    }

    pub(super) fn username(&self, username: &str) -> String {
        format!("{}n:{username}", self.prefix)
    }

    pub(super) fn signing_keys(&self) -> String {
        format!("{}keys", self.prefix)
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("unexpected {what} in a Redis reply"))
}

/// Reads the elements of an array reply one by one.
pub(super) struct Fields(std::vec::IntoIter<Value>);

impl Fields {
    pub(super) fn new(value: Value) -> StoreResult<Self> {
        match value {
            Value::Array(items) => Ok(Self(items.into_iter())),
            _ => Err(corrupt("non-array")),
        }
    }

    pub(super) fn value(&mut self) -> StoreResult<Value> {
        self.0.next().ok_or_else(|| corrupt("short array"))
    }

    pub(super) fn bytes(&mut self) -> StoreResult<Vec<u8>> {
        match self.value()? {
            Value::BulkString(bytes) => Ok(bytes),
            Value::SimpleString(text) => Ok(text.into_bytes()),
            _ => Err(corrupt("non-string field")),
        }
    }

    /// Reads a 32-byte token hash.
    pub(super) fn hash(&mut self) -> StoreResult<[u8; 32]> {
        <[u8; 32]>::try_from(self.bytes()?).map_err(|_| corrupt("token hash length"))
    }

    pub(super) fn text(&mut self) -> StoreResult<String> {
        String::from_utf8(self.bytes()?).map_err(|_| corrupt("non-UTF-8 text"))
    }

    pub(super) fn int(&mut self) -> StoreResult<i64> {
        match self.value()? {
            Value::Int(n) => Ok(n),
            Value::BulkString(bytes) => parse_int(&bytes),
            _ => Err(corrupt("non-integer field")),
        }
    }

    pub(super) fn u32(&mut self) -> StoreResult<u32> {
        u32::try_from(self.int()?).map_err(|_| corrupt("out-of-range generation"))
    }

    pub(super) fn context(&mut self) -> StoreResult<ClientContext> {
        Ok(ClientContext {
            ip: decode_ip(self.bytes()?)?,
            user_agent: self.text()?,
        })
    }

    /// Reads `c, s, g, ct, ci, cu, lt, li, lu, x` as written by the read
    /// scripts.
    pub(super) fn session_info(&mut self, id: SessionId, user: UserId) -> StoreResult<SessionInfo> {
        Ok(SessionInfo {
            id,
            user,
            client_id: self.text()?,
            scope: self.text()?,
            generation: self.u32()?,
            created_ms: self.int()?,
            created_context: self.context()?,
            last_used_ms: self.int()?,
            last_context: self.context()?,
            absolute_expiry_ms: self.int()?,
        })
    }
}

/// Encodes a context's IP address for a session record: a marker byte (`4`
/// or `6`) and the address's bytes, which saves 8 of the 13 bytes of a
/// typical IPv4 address in text. Text that is not an address (the store
/// takes any) is kept behind the marker `t`; the empty string stays empty.
pub(super) fn encode_ip(ip: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(17);
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            out.push(b'4');
            out.extend_from_slice(&v4.octets());
        }
        Ok(IpAddr::V6(v6)) => {
            out.push(b'6');
            out.extend_from_slice(&v6.octets());
        }
        Err(_) if ip.is_empty() => {}
        Err(_) => {
            out.push(b't');
            out.extend_from_slice(ip.as_bytes());
        }
    }
    out
}

/// Reverses [`encode_ip`].
pub(super) fn decode_ip(bytes: Vec<u8>) -> StoreResult<String> {
    let Some((&marker, rest)) = bytes.split_first() else {
        return Ok(String::new());
    };
    match marker {
        b'4' => <[u8; 4]>::try_from(rest)
            .map(|octets| Ipv4Addr::from(octets).to_string())
            .map_err(|_| corrupt("IPv4 address length")),
        b'6' => <[u8; 16]>::try_from(rest)
            .map(|octets| Ipv6Addr::from(octets).to_string())
            .map_err(|_| corrupt("IPv6 address length")),
        b't' => String::from_utf8(rest.to_vec()).map_err(|_| corrupt("non-UTF-8 IP text")),
        _ => Err(corrupt("IP address marker")),
    }
}

fn parse_int(bytes: &[u8]) -> StoreResult<i64> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| corrupt("non-integer text"))
}

/// Decodes the reply of `HMGET <user> n p s c r`.
pub(super) fn user_record(id: UserId, value: Value) -> StoreResult<Option<UserRecord>> {
    let mut fields = Fields::new(value)?;
    let username = match fields.value()? {
        Value::Nil => return Ok(None),
        Value::BulkString(bytes) => {
            String::from_utf8(bytes).map_err(|_| corrupt("non-UTF-8 username"))?
        }
        _ => return Err(corrupt("non-string username")),
    };
    let password_hash = fields.text()?;
    let scopes = fields
        .text()?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    Ok(Some(UserRecord {
        id,
        username,
        password_hash,
        scopes,
        created_ms: fields.int()?,
        revoked_before_ms: fields.int()?,
    }))
}

/// Encodes a signing key as `activates retired removes\ncreated alg\n`
/// followed by the sealed private key; `-` stands for an unset time. The
/// first line is what `update_key.lua` replaces.
pub(super) fn encode_key(key: &StoredKey) -> Vec<u8> {
    let mut out = format!("{}\n{} {}\n", lifecycle_line(key), key.created_ms, key.alg).into_bytes();
    out.extend_from_slice(&key.sealed_private);
    out
}

/// Formats the first line of [`encode_key`], without its newline.
pub(super) fn lifecycle_line(key: &StoredKey) -> String {
    let optional = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
    format!(
        "{} {} {}",
        key.activates_ms,
        optional(key.retired_ms),
        optional(key.removes_ms)
    )
}

pub(super) fn decode_key(kid: String, record: &[u8]) -> StoreResult<StoredKey> {
    let bad = || StoreError::Corrupt(format!("signing key record {kid:?} is malformed"));
    let mut parts = record.splitn(3, |&b| b == b'\n');
    let lifecycle = parts
        .next()
        .and_then(|p| std::str::from_utf8(p).ok())
        .ok_or_else(bad)?;
    let header = parts
        .next()
        .and_then(|p| std::str::from_utf8(p).ok())
        .ok_or_else(bad)?;
    let sealed_private = parts.next().ok_or_else(bad)?.to_vec();

    let times: Vec<&str> = lifecycle.split(' ').collect();
    let [activates, retired, removes] = times.as_slice() else {
        return Err(bad());
    };
    let optional = |t: &str| match t {
        "-" => Ok(None),
        t => t.parse().map(Some).map_err(|_| bad()),
    };
    let (created, alg) = header.split_once(' ').ok_or_else(bad)?;
    Ok(StoredKey {
        alg: alg.to_owned(),
        sealed_private,
        created_ms: created.parse().map_err(|_| bad())?,
        activates_ms: activates.parse().map_err(|_| bad())?,
        retired_ms: optional(retired)?,
        removes_ms: optional(removes)?,
        kid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_records_round_trip() {
        let key = StoredKey {
            kid: "k1".into(),
            alg: "EdDSA".into(),
            sealed_private: vec![0, b'\n', 255, b' ', 7],
            created_ms: 1,
            activates_ms: 2,
            retired_ms: None,
            removes_ms: Some(4),
        };
        let decoded = decode_key("k1".into(), &encode_key(&key)).expect("decodes");
        assert_eq!(decoded, key);
    }

    #[test]
    fn ip_addresses_round_trip_in_their_compact_form() {
        for ip in [
            "203.0.113.200",
            "2001:db8::1",
            "::ffff:192.0.2.1",
            "",
            "unknown",
            "1.2",
        ] {
            let encoded = encode_ip(ip);
            assert_eq!(decode_ip(encoded).expect("decodes"), ip);
        }
        assert_eq!(encode_ip("203.0.113.200").len(), 5);
        assert_eq!(encode_ip("2001:db8::1").len(), 17);
        assert!(decode_ip(b"4abc".to_vec()).is_err());
        assert!(decode_ip(b"x".to_vec()).is_err());
    }

    #[test]
    fn session_keys_share_the_user_hash_tag() {
        let keys = KeySpace::new("t:");
        let user = UserId([0xab; 16]);
        let tag = format!("{{{user}}}");
        assert!(keys.user(&user).contains(&tag));
        let session = keys.session(&user, &SessionId([b'}'; 16]));
        assert!(session.starts_with(format!("t:{tag}:s:").as_bytes()));
    }
}

//! Key names and the decoding of script replies and records.
//!
//! Layout, for a key prefix `P` and a user id `U` (32 hex digits):
//!
//! | key | type | contents |
//! |---|---|---|
//! | `P{U}:u` | hash | the user record |
//! | `P{U}:s:<16 raw bytes of the session id>` | hash | one session |
//! | `P{U}:i` | sorted set | the user's session ids, scored by expiry |
//! | `Pn:<username>` | string | the user id of a normalized username |
//! | `Pkeys` | hash | signing keys by kid |
//!
//! The `{U}` hash tag puts a user's record, sessions and index on one
//! cluster slot, so every atomic step is a single-slot script. Field names
//! are listed in `lua/prelude.lua`.

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

    pub(super) fn index(&self, user: &UserId) -> String {
        format!("{}{{{user}}}:i", self.prefix)
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
            ip: self.text()?,
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
    fn session_keys_share_the_user_hash_tag() {
        let keys = KeySpace::new("t:");
        let user = UserId([0xab; 16]);
        let tag = format!("{{{user}}}");
        assert!(keys.user(&user).contains(&tag));
        assert!(keys.index(&user).contains(&tag));
        let session = keys.session(&user, &SessionId([b'}'; 16]));
        assert!(session.starts_with(format!("t:{tag}:s:").as_bytes()));
    }
}

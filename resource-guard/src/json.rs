//! Strict JSON object reading shared by the header and claims parsers.
//!
//! `serde_json` keeps the last of two equal member names, but a JOSE object
//! with duplicate members is ambiguous (RFC 7515 section 4). The visitors
//! here therefore track every member name, including those in nested
//! objects of otherwise ignored claims, and reject the second one.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::ErrorKind;

/// The slot where a visitor records the precise reason it stopped, because
/// serde's error type cannot carry an [`ErrorKind`].
pub(crate) type Reason = Cell<Option<ErrorKind>>;

/// Records `kind` and returns a serde error that stops the parse.
pub(crate) fn fail<E: de::Error>(reason: &Reason, kind: ErrorKind) -> E {
    if reason.get().is_none() {
        reason.set(Some(kind));
    }
    E::custom(kind.description())
}

/// Maps a parse failure to a kind: a recorded reason wins; otherwise a
/// syntax error is `Malformed` and a type error is `type_error`.
pub(crate) fn classify(
    err: &serde_json::Error,
    reason: &Reason,
    type_error: ErrorKind,
) -> ErrorKind {
    if let Some(kind) = reason.get() {
        return kind;
    }
    match err.classify() {
        serde_json::error::Category::Data => type_error,
        _ => ErrorKind::Malformed,
    }
}

/// Returns whether `json` starts (after whitespace) with an object.
pub(crate) fn is_object(json: &[u8]) -> bool {
    json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// A member name, borrowed when it contains no escapes.
pub(crate) struct Name<'de>(pub Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Member names already met in one object: a bit per known name, and a set
/// (allocated only when needed) for the others.
#[derive(Default)]
pub(crate) struct Seen {
    known: u32,
    other: Option<HashSet<String>>,
}

impl Seen {
    /// Marks known member number `bit`; false when it was already seen.
    pub(crate) fn known(&mut self, bit: u32) -> bool {
        let mask = 1u32 << bit;
        let fresh = self.known & mask == 0;
        self.known |= mask;
        fresh
    }

    /// Marks another member name; false when it was already seen.
    pub(crate) fn other(&mut self, name: &str) -> bool {
        self.other
            .get_or_insert_with(HashSet::new)
            .insert(name.to_owned())
    }
}

/// Reads and discards any JSON value, rejecting duplicate member names at
/// any depth. serde_json's recursion limit bounds the nesting.
pub(crate) struct Skip<'r>(pub &'r Reason);

impl<'de> DeserializeSeed<'de> for Skip<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip(self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = Seen::default();
        while let Some(Name(name)) = map.next_key()? {
            if !seen.other(&name) {
                return Err(fail(self.0, ErrorKind::DuplicateMember));
            }
            map.next_value_seed(Skip(self.0))?;
        }
        Ok(())
    }
}

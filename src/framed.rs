//! A user's value inside a frame of the crate's own: a length-delimited blob, decoded to
//! its exact length.
//!
//! A user's `Serialize` and `Deserialize` are untrusted code: one may write more bytes than
//! the other reads (`#[serde(skip_deserializing)]` does). Encoded inline ahead of the
//! crate's fields, such a value shifts every field after it, and the reader takes the
//! user's bytes for, say, the offset of a function to call. As a [`Framed`] it is a blob
//! of its own: whatever it writes stays inside its length, and decoding it must consume
//! exactly that length, or the frame is an error.

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `T` as a length-delimited blob (see the module docs).
pub(crate) struct Framed<T>(pub T);

impl<T: Serialize> Serialize for Framed<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes = crate::codec::encode(&self.0).map_err(S::Error::custom)?;
        s.serialize_bytes(&bytes)
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Framed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = serde_bytes::ByteBuf::deserialize(d)?;
        crate::codec::decode(&bytes).map(Framed).map_err(|e| {
            D::Error::custom(format!(
                "a value's Deserialize does not read back what its Serialize wrote ({e}); \
                 the frame is refused"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::liars::WritesMoreThanItReads as Skips;
    use crate::codec::{decode, encode};

    /// A crate frame: the user's value first, then a field of the crate's own.
    #[derive(Serialize, Deserialize)]
    struct Frame {
        user: Framed<Skips>,
        offset: Option<i64>,
    }

    #[derive(Serialize, Deserialize)]
    struct Inline {
        user: Skips,
        offset: Option<i64>,
    }

    #[test]
    fn a_value_that_reads_less_than_it_wrote_cannot_reach_the_next_field() {
        // Tag 1 then an offset the crate never recorded.
        let lying = || Skips {
            a: 1,
            b: 1 | (0x1234_5678 << 8),
        };
        // Inline (as a served pool's setup was), the skipped bytes become the crate's field.
        let inline: Inline = decode(
            &encode(&Inline {
                user: lying(),
                offset: None,
            })
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            inline.offset,
            Some(0x1234_5678),
            "the shift this type prevents"
        );
        // Framed, the frame is refused.
        let bytes = encode(&Frame {
            user: Framed(lying()),
            offset: None,
        })
        .unwrap();
        assert!(decode::<Frame>(&bytes).is_err());
        // An honest value round-trips.
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Honest(u32, String);
        let bytes = encode(&(Framed(Honest(3, "x".into())), Some(7i64))).unwrap();
        let (v, o): (Framed<Honest>, Option<i64>) = decode(&bytes).unwrap();
        assert_eq!((v.0, o), (Honest(3, "x".into()), Some(7)));
    }
}

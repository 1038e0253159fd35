//! How typed messages become bytes: bincode 1 (serde, fixed-width integers, little-endian).
//! Python pickles; we need `Serialize`/`Deserialize` instead, so closures, file handles and
//! references cannot be sent, just as Python cannot pickle a lambda.
//!
//! Why bincode 1.3, although RUSTSEC-2025-0141 marks it unmaintained (the advisory covers
//! bincode 2 as well): its authors call 1.3.3 complete and promise fixes for CVEs only (no
//! format change to come); the bytes never leave the processes of one program (no stored
//! data, no peer built from other code), and the maintained codecs measured slower on the
//! payloads this crate sends. On this project's 2-core machine, best of 7 (ns per value,
//! encode with the exact size into a buffer / decode):
//!
//! | payload | bincode 1.3 | postcard 1.1 | bitcode 0.6 (serde) |
//! |---|---|---|---|
//! | `Vec<u64>`, 1000 items | 3,110 / 1,120 | 14,700 / 3,180 | 2,810 / 2,560 |
//! | one `u64` | 0.7 / 0.8 | 12 / 3.1 | 194 / 40 |
//! | 64 bytes | 2.5 / 20 | 7.3 / 28 | 510 / 245 |
//!
//! End to end, `Pool(2).map` at the default chunksize took 2.3x as long with postcard
//! (BENCHMARKS.md, "The codec"). bitcode's serde mode has no exact-size or encode-into-a-
//! slice call, so a queue put would also pay an extra allocation and copy.

use crate::error::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    bincode::serialize(value).map_err(|e| Error::Codec(e.to_string()))
}

/// Run a decode of the user's types (`f`): their `Deserialize` is untrusted code, so a
/// panic in it becomes this value's `Error::Codec` instead of unwinding into the crate.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::Codec(
            "the value's Deserialize panicked while decoding it".into(),
        ))
    })
}

/// Decode `bytes` as exactly one `T`: bytes left over are an error, not ignored. A value
/// whose `Serialize` wrote more than its `Deserialize` reads is refused, so what follows it
/// can never be taken for something else.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    use bincode::Options;
    // `bincode::deserialize`'s format (fixed-width integers), without its leniency.
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .reject_trailing_bytes()
        .deserialize(bytes)
        .map_err(|e| Error::Codec(e.to_string()))
}

/// The encoded size of `value`, to reserve room for [`encode_into`]. It is what the value's
/// `Serialize` counted: untrusted, so callers check it before use, and `encode_into`
/// checks that the write pass agrees.
pub(crate) fn encoded_len<T: Serialize + ?Sized>(value: &T) -> Result<usize> {
    let n = bincode::serialized_size(value).map_err(|e| Error::Codec(e.to_string()))?;
    usize::try_from(n).map_err(|_| {
        Error::Codec(format!(
            "a value's Serialize counted {n} bytes, more than this machine can address"
        ))
    })
}

/// Encode `value` into `buf`, which is `encoded_len(value)` long. The writer is bounded to
/// `buf`, and a `Serialize` that writes more or fewer bytes than its size pass counted is an
/// error: the caller must not publish `buf`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, buf: &mut [u8]) -> Result<()> {
    let counted = buf.len();
    let mut rest: &mut [u8] = buf;
    bincode::serialize_into(&mut rest, value).map_err(|e| match *e {
        bincode::ErrorKind::Io(ref io) if io.kind() == std::io::ErrorKind::WriteZero => {
            Error::Codec(format!(
                "a value's Serialize wrote more than the {counted} bytes its size pass counted"
            ))
        }
        _ => Error::Codec(e.to_string()),
    })?;
    if !rest.is_empty() {
        return Err(Error::Codec(format!(
            "a value's Serialize wrote {} bytes, but its size pass counted {counted}",
            counted - rest.len()
        )));
    }
    Ok(())
}

/// Serde impls that lie, for the tests of every decoder and encoder of bytes that cross a
/// process: a user's `Serialize`/`Deserialize` is untrusted code.
#[cfg(test)]
pub(crate) mod liars {
    use serde::ser::SerializeTuple;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::cell::Cell;

    /// Writes `counted` bytes in its first pass (bincode's size pass) and `written` bytes in
    /// every later one (the write pass): each byte a `u8` of a tuple, so no length prefix.
    pub(crate) struct CountsOtherThanItWrites {
        pub(crate) counted: usize,
        pub(crate) written: usize,
        passes: Cell<usize>,
    }

    impl CountsOtherThanItWrites {
        pub(crate) fn new(counted: usize, written: usize) -> Self {
            CountsOtherThanItWrites {
                counted,
                written,
                passes: Cell::new(0),
            }
        }
    }

    impl Serialize for CountsOtherThanItWrites {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let pass = self.passes.replace(self.passes.get() + 1);
            let n = if pass == 0 {
                self.counted
            } else {
                self.written
            };
            let mut t = s.serialize_tuple(n)?;
            for i in 0..n {
                t.serialize_element(&(i as u8))?;
            }
            t.end()
        }
    }

    /// Writes a field its `Deserialize` skips: eight bytes the reader never takes
    /// (`#[serde(skip_deserializing)]` does this by accident).
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub(crate) struct WritesMoreThanItReads {
        pub(crate) a: u32,
        #[serde(skip_deserializing)]
        pub(crate) b: u64,
    }

    /// A `u64` whose `Deserialize` panics when the value is 13.
    #[derive(Serialize, Debug, PartialEq)]
    pub(crate) struct PanicsOn13(pub(crate) u64);

    impl<'de> Deserialize<'de> for PanicsOn13 {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let n = u64::deserialize(d)?;
            assert_ne!(n, 13, "13 does not decode");
            Ok(PanicsOn13(n))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::liars::{CountsOtherThanItWrites, WritesMoreThanItReads};
    use super::*;
    use proptest::prelude::any;
    use proptest::{prop_assert, prop_assert_eq};

    type Sample = (u32, String, Option<Vec<u64>>, Vec<(u8, bool)>);

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]

        /// Random, truncated, oversized or shifted bytes: a value or an error, never a
        /// crash; only the exact encoding decodes, and to what was encoded.
        #[test]
        fn bad_bytes_decode_to_an_error_or_a_value(
            value in any::<Sample>(),
            cut in any::<usize>(),
            extra in proptest::collection::vec(any::<u8>(), 1..16),
            shift in 1usize..8,
            noise in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let bytes = encode(&value).unwrap();
            prop_assert_eq!(decode::<Sample>(&bytes).unwrap(), value.clone());
            let cut = cut % bytes.len();
            prop_assert!(decode::<Sample>(&bytes[..cut]).is_err(), "truncated");
            let mut long = bytes.clone();
            long.extend_from_slice(&extra);
            prop_assert!(decode::<Sample>(&long).is_err(), "trailing bytes");
            let _ = decode::<Sample>(&bytes[shift.min(bytes.len())..]);
            let _ = decode::<Sample>(&noise);
            let _ = decode::<Vec<String>>(&noise);
            let _ = decode::<WritesMoreThanItReads>(&noise);
        }

        /// A value whose Serialize writes more than its Deserialize reads never decodes.
        #[test]
        fn a_value_reading_less_than_it_wrote_is_refused(a in any::<u32>(), b in any::<u64>()) {
            let bytes = encode(&WritesMoreThanItReads { a, b }).unwrap();
            prop_assert!(decode::<WritesMoreThanItReads>(&bytes).is_err());
        }

        /// Whatever a Serialize counts and writes, `encode_into` fills its slice exactly
        /// or fails, and touches nothing outside it.
        #[test]
        fn a_lying_size_is_an_error_and_writes_only_its_slice(
            counted in 0usize..3000,
            written in 0usize..3000,
        ) {
            let liar = CountsOtherThanItWrites::new(counted, written);
            let len = encoded_len(&liar).unwrap();
            prop_assert_eq!(len, counted);
            let mut buf = vec![0xa5u8; len + 64];
            let r = encode_into(&liar, &mut buf[32..32 + len]);
            prop_assert!(buf[..32].iter().chain(&buf[32 + len..]).all(|&b| b == 0xa5));
            if counted == written {
                prop_assert!(r.is_ok());
                prop_assert!(buf[32..32 + len].iter().enumerate().all(|(i, &b)| b == i as u8));
            } else {
                prop_assert!(matches!(r, Err(Error::Codec(_))), "{:?}", r);
            }
        }
    }
}

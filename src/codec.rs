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

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    bincode::deserialize(bytes).map_err(|e| Error::Codec(e.to_string()))
}

/// Decode `bytes` as exactly one `T`: bytes left over are an error, not ignored (the
/// same wire format as [`decode`]).
pub(crate) fn decode_exact<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .reject_trailing_bytes()
        .deserialize(bytes)
        .map_err(|e| Error::Codec(e.to_string()))
}

/// The encoded size of `value`, to reserve room for [`encode_into`].
pub(crate) fn encoded_len<T: Serialize + ?Sized>(value: &T) -> Result<usize> {
    bincode::serialized_size(value)
        .map(|n| n as usize)
        .map_err(|e| Error::Codec(e.to_string()))
}

/// Encode `value` into `buf`, which is exactly `encoded_len(value)` long.
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, buf: &mut [u8]) -> Result<()> {
    bincode::serialize_into(buf, value).map_err(|e| Error::Codec(e.to_string()))
}

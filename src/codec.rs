//! How typed messages become bytes: bincode 1 (serde, fixed-width integers, little-endian).
//! Python pickles; we need `Serialize`/`Deserialize` instead, so closures, file handles and
//! references cannot be sent, just as Python cannot pickle a lambda.
//!
//! Why bincode and not postcard (which ipc-channel uses inside): measured on this project's
//! machine, postcard encodes a `Vec<u64>` at 6-7 ns per element (it pushes byte by byte),
//! bincode at 0.6 ns, and decodes at 1.3 vs 0.9 ns. Pool chunks and queue items are exactly
//! such payloads.

use crate::error::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    bincode::serialize(value).map_err(|e| Error::Codec(e.to_string()))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    bincode::deserialize(bytes).map_err(|e| Error::Codec(e.to_string()))
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

//! How typed messages become bytes: postcard (compact, serde-based, the format ipc-channel
//! itself uses). Python pickles; we need `Serialize`/`Deserialize` instead, so closures,
//! file handles and references cannot be sent, just as Python cannot pickle a lambda.

use crate::error::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    Ok(postcard::to_stdvec(value)?)
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let _ = crate::share::take_error();
    postcard::from_bytes(bytes).map_err(|e| match crate::share::take_error() {
        Some(why) => Error::Codec(why),
        None => e.into(),
    })
}

//! CPython's framing of a message on a stream socket: a 4-byte big-endian signed length,
//! then the bytes; a message longer than `i32::MAX` bytes announces `-1` and then its
//! length as an 8-byte big-endian unsigned integer (CPython's `Connection._send_bytes`
//! and `_recv_bytes`).
//!
//! One decoder of headers, [`header`], serves the blocking reader ([`read_frame`]) and
//! the listener's non-blocking handshakes (which read exactly what [`wanted`] says); an
//! announced length over the caller's maximum is refused before anything is allocated.

use crate::error::{Error, InvalidKind, Result};

/// The short header: a 4-byte big-endian signed length.
pub(crate) const SHORT: usize = 4;
/// The long header: `-1` as 4 bytes, then an 8-byte big-endian length.
pub(crate) const LONG: usize = 12;

/// The header CPython writes before a message of `len` bytes.
pub(crate) fn encode_header(len: usize) -> ([u8; LONG], usize) {
    let mut h = [0u8; LONG];
    if len <= i32::MAX as usize {
        h[..SHORT].copy_from_slice(&(len as i32).to_be_bytes());
        (h, SHORT)
    } else {
        h[..SHORT].copy_from_slice(&(-1i32).to_be_bytes());
        h[SHORT..].copy_from_slice(&(len as u64).to_be_bytes());
        (h, LONG)
    }
}

/// Decode the header at the start of `buf`: `Ok(None)` while more bytes are needed,
/// `Ok(Some((header_len, payload_len)))` once it is whole. A negative length other than
/// `-1`, or a length over `max`, is an error (nothing is allocated for it).
pub(crate) fn header(buf: &[u8], max: usize) -> Result<Option<(usize, usize)>> {
    let Some(short) = buf.get(..SHORT) else {
        return Ok(None);
    };
    let n = i32::from_be_bytes(short.try_into().expect("4 bytes"));
    let (hlen, len) = match n {
        0.. => (SHORT, n as u64),
        -1 => {
            let Some(long) = buf.get(SHORT..LONG) else {
                return Ok(None);
            };
            (LONG, u64::from_be_bytes(long.try_into().expect("8 bytes")))
        }
        _ => {
            return Err(Error::Codec(format!(
                "a message header announces a negative length ({n})"
            )));
        }
    };
    if len > max as u64 {
        return Err(too_long(len, max));
    }
    Ok(Some((hlen, len as usize)))
}

/// The error for a message announced longer than `max`.
pub(crate) fn too_long(len: u64, max: usize) -> Error {
    Error::invalid(
        InvalidKind::Limit,
        format!(
            "a message of {len} bytes was announced, over this connection's maximum of {max} \
             bytes (set_max_message_size); the connection is closed"
        ),
    )
}

/// How many more bytes the frame begun in `buf` needs: never more than the rest of it, so
/// a reader asking for exactly this never takes a byte of the next frame. `Ok(0)`: the
/// frame is whole.
pub(crate) fn wanted(buf: &[u8], max: usize) -> Result<usize> {
    match header(buf, max)? {
        None if buf.len() < SHORT => Ok(SHORT - buf.len()),
        None => Ok(LONG - buf.len()),
        Some((hlen, len)) => Ok((hlen + len).saturating_sub(buf.len())),
    }
}

/// The payload of the whole frame in `buf` (as [`wanted`] filled it), `None` while it is
/// not whole.
pub(crate) fn payload(buf: &[u8], max: usize) -> Result<Option<&[u8]>> {
    match header(buf, max)? {
        Some((hlen, len)) if buf.len() >= hlen + len => Ok(Some(&buf[hlen..hlen + len])),
        _ => Ok(None),
    }
}

/// Read one frame from `read` (a function filling a buffer as `read(2)` does: `Ok(0)` at
/// the end of the stream), its payload no longer than `max`. `Err(Closed)` at the end of
/// the stream before a frame begins; an end inside a frame is a `Codec` error. The
/// payload's buffer grows with what arrives, so a lying length under `max` costs memory
/// only as its bytes come.
pub(crate) fn read_frame(
    mut read: impl FnMut(&mut [u8]) -> std::io::Result<usize>,
    max: usize,
) -> Result<Vec<u8>> {
    let mut head = [0u8; LONG];
    let mut have = 0;
    let (hlen, len) = loop {
        if let Some(h) = header(&head[..have], max)? {
            break h;
        }
        let want = wanted(&head[..have], max)?;
        let n = read(&mut head[have..have + want])?;
        if n == 0 {
            return Err(if have == 0 {
                Error::Closed
            } else {
                truncated()
            });
        }
        have += n;
    };
    debug_assert_eq!(have, hlen);
    let mut out: Vec<u8> = Vec::new();
    while out.len() < len {
        let chunk = (len - out.len()).min(out.len().max(64 << 10));
        out.try_reserve_exact(chunk)
            .map_err(|e| Error::Io(std::io::Error::other(e)))?;
        let start = out.len();
        out.resize(start + chunk, 0);
        let mut filled = start;
        while filled < start + chunk {
            let n = read(&mut out[filled..start + chunk])?;
            if n == 0 {
                return Err(truncated());
            }
            filled += n;
        }
    }
    Ok(out)
}

fn truncated() -> Error {
    Error::Codec("the stream ended inside a message".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::any;
    use proptest::{prop_assert, prop_assert_eq};

    /// A reader over `bytes`, at most `step` bytes a call.
    fn reader(bytes: &[u8], step: usize) -> impl FnMut(&mut [u8]) -> std::io::Result<usize> {
        let mut at = 0;
        move |buf: &mut [u8]| {
            let n = buf.len().min(step).min(bytes.len() - at);
            buf[..n].copy_from_slice(&bytes[at..at + n]);
            at += n;
            Ok(n)
        }
    }

    fn frame(payload: &[u8], long: bool) -> Vec<u8> {
        let mut out = if long {
            let mut h = (-1i32).to_be_bytes().to_vec();
            h.extend_from_slice(&(payload.len() as u64).to_be_bytes());
            h
        } else {
            encode_header(payload.len()).0[..SHORT].to_vec()
        };
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn headers_are_cpythons_short_and_long_forms() {
        let (h, n) = encode_header(5);
        assert_eq!(&h[..n], &[0, 0, 0, 5]);
        let (h, n) = encode_header(i32::MAX as usize);
        assert_eq!(&h[..n], &[0x7f, 0xff, 0xff, 0xff]);
        let (h, n) = encode_header(1 << 31);
        assert_eq!(n, LONG);
        assert_eq!(&h[..4], &[0xff; 4]);
        assert_eq!(u64::from_be_bytes(h[4..].try_into().unwrap()), 1 << 31);
        assert_eq!(header(&h, usize::MAX).unwrap(), Some((LONG, 1 << 31)));
    }

    #[test]
    fn a_huge_announced_length_is_refused_before_any_allocation() {
        // 2^63 bytes announced: refused by the header alone (an allocation would abort).
        let mut h = (-1i32).to_be_bytes().to_vec();
        h.extend_from_slice(&(1u64 << 63).to_be_bytes());
        let r = read_frame(reader(&h, 64), 1 << 20);
        assert_eq!(r.unwrap_err().invalid_kind(), Some(InvalidKind::Limit));
        let r = read_frame(reader(&[0x7f, 0xff, 0xff, 0xff], 64), 1 << 20);
        assert_eq!(r.unwrap_err().invalid_kind(), Some(InvalidKind::Limit));
        assert!(matches!(
            read_frame(reader(&[0xff, 0xff, 0xff, 0xfe], 64), 1 << 20),
            Err(Error::Codec(_))
        ));
        assert!(matches!(
            read_frame(reader(&[], 64), 10),
            Err(Error::Closed)
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]

        /// Whole frames, short or long form, read back exactly in any read sizes, and a
        /// frame never reads past its end.
        #[test]
        fn frames_read_back_in_any_read_sizes(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..5),
            long in any::<bool>(),
            step in 1usize..40,
        ) {
            let mut stream = Vec::new();
            for p in &payloads {
                stream.extend(frame(p, long));
            }
            let mut read = reader(&stream, step);
            for p in &payloads {
                prop_assert_eq!(&read_frame(&mut read, 300).unwrap(), p);
            }
            prop_assert!(matches!(read_frame(&mut read, 300), Err(Error::Closed)));
        }

        /// A frame cut anywhere is an error, never a panic or a partial message.
        #[test]
        fn a_truncated_frame_is_an_error(
            payload in proptest::collection::vec(any::<u8>(), 1..300),
            long in any::<bool>(),
            cut in any::<usize>(),
        ) {
            let f = frame(&payload, long);
            let cut = cut % f.len();
            let r = read_frame(reader(&f[..cut], 7), 1000);
            prop_assert!(r.is_err());
            if cut == 0 {
                prop_assert!(matches!(r, Err(Error::Closed)));
            } else {
                prop_assert!(matches!(r, Err(Error::Codec(_))), "{:?}", r);
            }
        }

        /// Over the maximum by any amount, in either form: refused from the header.
        #[test]
        fn an_oversized_frame_is_refused(
            max in 0usize..1000,
            over in 1u64..u64::MAX / 2,
            long in any::<bool>(),
        ) {
            let len = max as u64 + over;
            let mut h = if long || len > i32::MAX as u64 {
                let mut h = (-1i32).to_be_bytes().to_vec();
                h.extend_from_slice(&len.to_be_bytes());
                h
            } else {
                (len as i32).to_be_bytes().to_vec()
            };
            h.extend_from_slice(&[0u8; 16]);
            let r = read_frame(reader(&h, 5), max);
            prop_assert_eq!(r.unwrap_err().invalid_kind(), Some(InvalidKind::Limit));
            prop_assert!(wanted(&h, max).is_err());
        }

        /// Random bytes: a frame, an error, never a panic; `wanted` never asks past the
        /// frame's end and agrees with `payload`.
        #[test]
        fn random_bytes_give_a_frame_or_an_error(
            noise in proptest::collection::vec(any::<u8>(), 0..64),
            max in 0usize..64,
        ) {
            let _ = read_frame(reader(&noise, 3), max);
            let mut buf = Vec::new();
            for &b in &noise {
                match wanted(&buf, max) {
                    Ok(0) => {
                        prop_assert!(payload(&buf, max).unwrap().is_some());
                        break;
                    }
                    Ok(_) => buf.push(b),
                    Err(_) => break,
                }
            }
        }
    }
}

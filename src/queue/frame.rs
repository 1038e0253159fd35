//! One message in a queue's log, `[u64 length][payload, padded to 8]`, and every sum on
//! its lengths.
//!
//! A payload's length comes from the item's `Serialize` (bincode's size pass), which is
//! untrusted code: it may report any size, so nothing here trusts it to be small. Every
//! sum is checked, and a frame larger than a queue's window is refused before the queue is
//! touched. (That the write pass then writes exactly the counted bytes is checked by
//! [`crate::codec::encode_into`].)

use crate::error::{Error, InvalidKind, Result};

/// Bytes of a frame's header: the payload's length, a native-endian `u64`.
pub(super) const HEADER: u64 = 8;

/// The bytes a frame of `payload` bytes occupies in a log, if it fits in `window` bytes;
/// else an `Invalid` error of kind `Limit`.
#[inline]
pub(super) fn len(payload: usize, window: u64) -> Result<u64> {
    u64::try_from(payload)
        .ok()
        .and_then(stored)
        .filter(|&n| n <= window)
        .ok_or_else(|| {
            Error::invalid(
                InvalidKind::Limit,
                format!(
                    "a message of {payload} bytes is larger than a queue can hold \
                     ({} GiB of unread messages)",
                    window >> 30
                ),
            )
        })
}

/// The bytes a frame whose header says `payload` occupies: `None` if that overflows.
#[inline]
fn stored(payload: u64) -> Option<u64> {
    payload.checked_next_multiple_of(8)?.checked_add(HEADER)
}

/// Where a frame that starts at `pos` and whose header says `payload` ends, if that is
/// at most `end` (no sum overflows).
#[inline]
pub(super) fn end_of(pos: u64, payload: u64, end: u64) -> Option<u64> {
    pos.checked_add(stored(payload)?).filter(|&e| e <= end)
}

/// `at + len`, if that is at most `end`.
#[inline]
pub(super) fn fits(at: u64, len: u64, end: u64) -> Option<u64> {
    at.checked_add(len).filter(|&e| e <= end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths_are_the_padded_payload_and_its_header() {
        assert_eq!(len(0, 1 << 20).unwrap(), 8);
        assert_eq!(len(1, 1 << 20).unwrap(), 16);
        assert_eq!(len(8, 1 << 20).unwrap(), 16);
        assert_eq!(len(9, 1 << 20).unwrap(), 24);
        assert_eq!(len((1 << 20) - 8, 1 << 20).unwrap(), 1 << 20);
        assert!(len((1 << 20) - 7, 1 << 20).is_err());
        // Sums that would wrap, whatever the window.
        for huge in [usize::MAX, usize::MAX - 7, usize::MAX - 8] {
            let e = len(huge, u64::MAX).unwrap_err();
            assert_eq!(e.invalid_kind(), Some(InvalidKind::Limit));
        }
        assert_eq!(len(1 << 63, u64::MAX).unwrap(), (1 << 63) + 8);
        assert!(len(1 << 63, 32 << 30).is_err());
        assert_eq!(end_of(u64::MAX - 7, 0, u64::MAX), None);
        assert_eq!(end_of(u64::MAX - 8, 0, u64::MAX), Some(u64::MAX));
        assert_eq!(end_of(16, u64::MAX, u64::MAX), None);
        assert_eq!(end_of(16, 9, 40), Some(40));
        assert_eq!(end_of(16, 9, 39), None);
        assert_eq!(fits(u64::MAX, 1, u64::MAX), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]

        /// Any payload length, any window: a frame that holds the payload, is a multiple
        /// of 8 and fits the window, or an error. Never a wrapped sum.
        #[test]
        fn any_length_is_a_frame_that_fits_or_an_error(
            payload in proptest::prelude::any::<usize>(),
            small in 0usize..100_000,
            window in proptest::prelude::any::<u64>(),
        ) {
            for p in [payload, small, usize::MAX - small] {
                match len(p, window) {
                    Ok(n) => {
                        proptest::prop_assert!(n <= window);
                        proptest::prop_assert!(n % 8 == 0);
                        proptest::prop_assert!(n >= HEADER + p as u64);
                        proptest::prop_assert!(n < HEADER + p as u64 + 8);
                    }
                    Err(e) => proptest::prop_assert_eq!(e.invalid_kind(), Some(InvalidKind::Limit)),
                }
            }
        }

        /// A header read back from the log, whatever it says: a frame ending inside the
        /// log, or none.
        #[test]
        fn any_header_ends_inside_the_log_or_nowhere(
            pos in proptest::prelude::any::<u64>(),
            payload in proptest::prelude::any::<u64>(),
            end in proptest::prelude::any::<u64>(),
        ) {
            if let Some(e) = end_of(pos, payload, end) {
                proptest::prop_assert!(e <= end);
                proptest::prop_assert!(e - pos >= HEADER + payload);
            }
        }
    }
}

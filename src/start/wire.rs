//! Bytes and file descriptors over Unix stream sockets: `sendmsg`/`recvmsg` with
//! `SCM_RIGHTS`, frames as a little-endian `u64` length then the bytes. Every send uses
//! `MSG_NOSIGNAL`: a peer that died is an error, never a `SIGPIPE`.

use crate::sys::fdpass;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

pub(crate) use crate::sys::fdpass::MAX_FDS;

/// Send `bytes` (non-empty) with `fds` attached to their first byte.
pub(crate) fn send_with_fds(sock: &UnixStream, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    assert!(!bytes.is_empty(), "descriptors ride on at least one byte");
    let sent = sendmsg_once(sock, &[IoSlice::new(bytes)], fds)?;
    send_all(sock, &bytes[sent..])
}

/// One `sendmsg` of `iov` with `fds` attached; how many bytes the socket took.
fn sendmsg_once(sock: &UnixStream, iov: &[IoSlice<'_>], fds: &[RawFd]) -> io::Result<usize> {
    if fds.len() > MAX_FDS {
        return Err(io::Error::other(format!(
            "at most {MAX_FDS} shared objects can be sent to one child, not {}",
            fds.len()
        )));
    }
    fdpass::send(sock.as_fd(), iov, fds)
}

/// Send all of `bytes`.
pub(crate) fn send_all(sock: &UnixStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::net::send(sock, bytes, rustix::net::SendFlags::NOSIGNAL) {
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Receive exactly `buf.len()` bytes and the descriptors attached to them. `Ok(false)` on
/// a clean end of stream before the first byte.
pub(crate) fn recv_with_fds(
    sock: &UnixStream,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        let msg = fdpass::recv(sock.as_fd(), &mut buf[got..], &mut Vec::new(), 0, MAX_FDS)?;
        fds.extend(msg.fds);
        if msg.truncated {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "more descriptors than one message can carry",
            ));
        }
        if msg.bytes == 0 {
            if got == 0 {
                return Ok(false);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got += msg.bytes;
    }
    Ok(true)
}

/// Send one frame: its length, with `fds` attached, then its bytes, in one `sendmsg` when
/// the socket takes it all (two sends could wake a receiver blocked on the length twice).
pub(crate) fn send_frame(sock: &UnixStream, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let len = (bytes.len() as u64).to_le_bytes();
    let sent = sendmsg_once(sock, &[IoSlice::new(&len), IoSlice::new(bytes)], fds)?;
    // What the socket did not take at once (a frame bigger than its buffer): the rest of
    // the length, then the rest of the bytes.
    send_all(sock, len.get(sent..).unwrap_or(&[]))?;
    send_all(sock, &bytes[sent.saturating_sub(len.len())..])
}

/// How much of a frame is allocated ahead of its bytes.
const CHUNK: usize = 1 << 20;

/// Receive one frame and its descriptors; `None` at a clean end of stream.
pub(crate) fn recv_frame(sock: &UnixStream) -> io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut len = [0u8; 8];
    let mut fds = Vec::new();
    if !recv_with_fds(sock, &mut len, &mut fds)? {
        return Ok(None);
    }
    let len = usize::try_from(u64::from_le_bytes(len))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a frame longer than memory"))?;
    // Grow with what arrives, a chunk at a time: a length the peer lied about costs no
    // more memory than the bytes it really sent.
    let mut bytes = Vec::new();
    while bytes.len() < len {
        let start = bytes.len();
        let chunk = (len - start).min(CHUNK);
        bytes.try_reserve_exact(chunk).map_err(io::Error::other)?;
        bytes.resize(start + chunk, 0);
        let mut extra = Vec::new();
        if !recv_with_fds(sock, &mut bytes[start..], &mut extra)? {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        fds.extend(extra);
    }
    Ok(Some((bytes, fds)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn frames_bigger_than_the_socket_buffer_and_their_fds_arrive_whole() {
        let (a, b) = UnixStream::pair().unwrap();
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let (small, attached) = UnixStream::pair().unwrap();
        let sent = big.clone();
        let writer = std::thread::spawn(move || {
            send_frame(&a, &sent, &[attached.as_raw_fd()]).unwrap();
            send_frame(&a, b"", &[]).unwrap();
            send_frame(&a, b"tail", &[]).unwrap();
        });
        let (bytes, fds) = recv_frame(&b).unwrap().unwrap();
        assert_eq!(bytes, big);
        assert_eq!(fds.len(), 1, "the descriptor came with the frame");
        assert_eq!(recv_frame(&b).unwrap().unwrap().0, b"");
        assert_eq!(recv_frame(&b).unwrap().unwrap().0, b"tail");
        writer.join().unwrap();
        assert!(recv_frame(&b).unwrap().is_none(), "end of stream");
        drop(small);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(64))]

        /// Whatever a peer writes, a frame read ends in a frame, an error or the end: no
        /// panic, no hang, and no more memory than it sent (a length of 2^62 with three
        /// bytes behind it is an end-of-stream error, not an allocation).
        #[test]
        fn any_stream_reads_as_frames_or_an_error(
            len in proptest::prelude::any::<u64>(),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            cut in 0usize..72,
        ) {
            let (a, b) = UnixStream::pair().unwrap();
            let mut stream = len.to_le_bytes().to_vec();
            stream.extend(&tail);
            stream.truncate(cut.min(stream.len()));
            send_all(&a, &stream).unwrap();
            drop(a);
            while let Ok(Some((bytes, _))) = recv_frame(&b) {
                proptest::prop_assert!(bytes.len() <= stream.len());
            }
        }
    }
}

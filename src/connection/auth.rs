//! CPython's authentication handshake (`multiprocessing.connection.deliver_challenge` and
//! `answer_challenge`), as a machine that is fed whole frames and says what to send: the
//! blocking client and the listener's non-blocking handshakes drive the same one.
//!
//! The listener challenges first, then answers the client's challenge; the client answers,
//! then challenges (both sides prove they hold the key). A challenge is `#CHALLENGE#`
//! followed by the message to sign; the answer is an HMAC of the message with the key:
//!
//! - CPython 3.12 and later (and this crate) send `{sha256}` + 40 random bytes and answer a
//!   prefixed challenge with `{name}` + HMAC-`name` of the whole message, prefix included
//!   (so the prefix cannot be swapped for a weaker digest);
//! - CPython 3.11 and earlier send 20 random bytes with no prefix and expect a raw 16-byte
//!   HMAC-MD5; given a prefixed challenge they answer with a raw HMAC-MD5 of all of it.
//!
//! As CPython 3.12 does, a 16- or 20-byte message is the legacy form, and a 16-byte answer
//! is HMAC-MD5: that is how a 3.11 peer is understood (HMAC-MD5 needs the key to forge, as
//! every HMAC does; MD5's collisions do not break it). Answers are checked with the MAC
//! crates' constant-time comparison. Every frame of a handshake is at most 256 bytes.

use crate::error::{Error, Result};
use hmac::{KeyInit, Mac};

/// Longest frame a handshake reads (CPython: `recv_bytes(256)`).
pub(crate) const MAX_FRAME: usize = 256;
const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
/// Random bytes in a challenge (CPython 3.12: `MESSAGE_LENGTH = 40`).
const MESSAGE_LENGTH: usize = 40;
/// The legacy lengths: a 3.11 challenge message, an HMAC-MD5.
const LEGACY_LENGTHS: [usize; 2] = [20, 16];
/// The longest digest name CPython allows (`sha3_384`).
const MAX_DIGEST_NAME: usize = 8;

/// The HMACs this side computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Digest {
    Md5,
    Sha256,
    Sha384,
}

impl Digest {
    fn name(self) -> &'static [u8] {
        match self {
            Digest::Md5 => b"md5",
            Digest::Sha256 => b"sha256",
            Digest::Sha384 => b"sha384",
        }
    }

    fn mac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
            let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(message);
            m.finalize().into_bytes().to_vec()
        }
        match self {
            Digest::Md5 => run::<hmac::Hmac<md5::Md5>>(key, message),
            Digest::Sha256 => run::<hmac::Hmac<sha2::Sha256>>(key, message),
            Digest::Sha384 => run::<hmac::Hmac<sha2::Sha384>>(key, message),
        }
    }

    /// Whether `tag` is this HMAC of `message`, compared in constant time.
    fn verify(self, key: &[u8], message: &[u8], tag: &[u8]) -> bool {
        fn run<M: Mac + KeyInit>(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
            let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(message);
            m.verify_slice(tag).is_ok()
        }
        match self {
            Digest::Md5 => run::<hmac::Hmac<md5::Md5>>(key, message, tag),
            Digest::Sha256 => run::<hmac::Hmac<sha2::Sha256>>(key, message, tag),
            Digest::Sha384 => run::<hmac::Hmac<sha2::Sha384>>(key, message, tag),
        }
    }
}

fn refused(why: impl Into<String>) -> Error {
    Error::Authentication(why.into())
}

/// CPython's `_get_digest_name_and_payload`: `None` for the legacy form (MD5, no prefix).
fn digest_and_payload(message: &[u8]) -> Result<(Option<Digest>, &[u8])> {
    if LEGACY_LENGTHS.contains(&message.len()) {
        return Ok((None, message));
    }
    if message.first() == Some(&b'{') {
        let end = message.len().min(MAX_DIGEST_NAME + 2);
        if let Some(curly) = message[1..end].iter().position(|&b| b == b'}') {
            let name = &message[1..1 + curly];
            let rest = &message[2 + curly..];
            for d in [Digest::Md5, Digest::Sha256, Digest::Sha384] {
                if d.name() == name {
                    return Ok((Some(d), rest));
                }
            }
            return Err(refused(format!(
                "the peer asked for a digest this side does not compute: {:?}",
                String::from_utf8_lossy(name)
            )));
        }
    }
    Err(refused(
        "unsupported message length, missing digest prefix, or unsupported digest",
    ))
}

/// CPython's `_create_response`: the answer to a challenge's `message`.
fn response(key: &[u8], message: &[u8]) -> Result<Vec<u8>> {
    match digest_and_payload(message)?.0 {
        None => Ok(Digest::Md5.mac(key, message)),
        Some(d) => {
            let mut out = Vec::with_capacity(MAX_DIGEST_NAME + 2 + 48);
            out.push(b'{');
            out.extend_from_slice(d.name());
            out.push(b'}');
            out.extend(d.mac(key, message));
            Ok(out)
        }
    }
}

/// CPython's `_verify_challenge`: whether `answer` proves the key for `message`.
fn verify(key: &[u8], message: &[u8], answer: &[u8]) -> Result<()> {
    let (d, tag) = digest_and_payload(answer)?;
    if d.unwrap_or(Digest::Md5).verify(key, message, tag) {
        Ok(())
    } else {
        Err(refused("the digest received was wrong (a different key?)"))
    }
}

/// Where a handshake is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Our challenge is out: the peer's answer comes next.
    AwaitAnswer,
    /// The peer's challenge comes next.
    AwaitChallenge,
    /// The peer's verdict on our answer comes next.
    AwaitVerdict,
    Done,
}

/// One side of a handshake (see the module docs).
#[derive(Debug)]
pub(crate) struct Handshake {
    key: Vec<u8>,
    listener: bool,
    step: Step,
    message: Vec<u8>,
}

/// What a handshake does with a frame: the frames to send, and whether it is over.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) send: Vec<Vec<u8>>,
    pub(crate) done: bool,
}

/// A refused handshake: the frame to send the peer before closing (CPython's
/// `#FAILURE#`), and the error.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) send: Option<Vec<u8>>,
    pub(crate) error: Error,
}

impl From<Error> for Refused {
    fn from(error: Error) -> Self {
        Refused { send: None, error }
    }
}

/// 40 bytes from the kernel's random source.
fn random_message() -> Result<[u8; MESSAGE_LENGTH]> {
    let mut m = [0u8; MESSAGE_LENGTH];
    let mut filled = 0;
    while filled < m.len() {
        filled += rustix::rand::getrandom(&mut m[filled..], rustix::rand::GetRandomFlags::empty())
            .map_err(std::io::Error::from)?;
    }
    Ok(m)
}

impl Handshake {
    /// The listener's side, and the challenge frame to send first.
    pub(crate) fn listener(key: &[u8]) -> Result<(Handshake, Vec<u8>)> {
        let mut h = Handshake {
            key: key.to_vec(),
            listener: true,
            step: Step::AwaitAnswer,
            message: Vec::new(),
        };
        let frame = h.challenge()?;
        Ok((h, frame))
    }

    /// The client's side: it waits for the listener's challenge.
    pub(crate) fn client(key: &[u8]) -> Handshake {
        Handshake {
            key: key.to_vec(),
            listener: false,
            step: Step::AwaitChallenge,
            message: Vec::new(),
        }
    }

    /// Make our challenge (`{sha256}` + 40 random bytes) and the frame carrying it.
    fn challenge(&mut self) -> Result<Vec<u8>> {
        let mut message = b"{sha256}".to_vec();
        message.extend_from_slice(&random_message()?);
        let mut frame = CHALLENGE.to_vec();
        frame.extend_from_slice(&message);
        self.message = message;
        self.step = Step::AwaitAnswer;
        Ok(frame)
    }

    /// Whether the handshake is over and succeeded.
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// Take the peer's next frame (at most [`MAX_FRAME`] bytes).
    pub(crate) fn on_frame(&mut self, frame: &[u8]) -> std::result::Result<Progress, Refused> {
        let mut p = Progress::default();
        match self.step {
            Step::AwaitAnswer => {
                if let Err(error) = verify(&self.key, &self.message, frame) {
                    return Err(Refused {
                        send: Some(FAILURE.to_vec()),
                        error,
                    });
                }
                p.send.push(WELCOME.to_vec());
                if self.listener {
                    self.step = Step::AwaitChallenge;
                } else {
                    self.step = Step::Done;
                    p.done = true;
                }
            }
            Step::AwaitChallenge => {
                let Some(message) = frame.strip_prefix(CHALLENGE) else {
                    return Err(refused(
                        "the peer sent no challenge (not a multiprocessing peer, or no key?)",
                    )
                    .into());
                };
                if message.len() < LEGACY_LENGTHS[0] {
                    return Err(refused(format!(
                        "the peer's challenge is too short: {} bytes",
                        message.len()
                    ))
                    .into());
                }
                p.send.push(response(&self.key, message)?);
                self.step = Step::AwaitVerdict;
            }
            Step::AwaitVerdict => {
                if frame != WELCOME {
                    return Err(
                        refused("the peer rejected this side's digest (a different key?)").into(),
                    );
                }
                if self.listener {
                    self.step = Step::Done;
                    p.done = true;
                } else {
                    p.send.push(self.challenge()?);
                }
            }
            Step::Done => {
                return Err(refused("a frame after the handshake ended").into());
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::any;
    use proptest::prop_assert;

    /// Run a listener and a client handshake against each other; each side's outcome.
    fn run(listener_key: &[u8], client_key: &[u8]) -> (Result<()>, Result<()>) {
        let (mut l, first) = Handshake::listener(listener_key).unwrap();
        let mut c = Handshake::client(client_key);
        let mut to_client = vec![first];
        let mut to_listener: Vec<Vec<u8>> = Vec::new();
        let (mut lr, mut cr) = (None, None);
        for _ in 0..10 {
            for f in std::mem::take(&mut to_client) {
                if cr.is_some() {
                    break;
                }
                match c.on_frame(&f) {
                    Ok(p) => {
                        to_listener.extend(p.send);
                        if p.done {
                            cr = Some(Ok(()));
                        }
                    }
                    Err(r) => {
                        to_listener.extend(r.send);
                        cr = Some(Err(r.error));
                    }
                }
            }
            for f in std::mem::take(&mut to_listener) {
                if lr.is_some() {
                    break;
                }
                match l.on_frame(&f) {
                    Ok(p) => {
                        to_client.extend(p.send);
                        if p.done {
                            lr = Some(Ok(()));
                        }
                    }
                    Err(r) => {
                        to_client.extend(r.send);
                        lr = Some(Err(r.error));
                    }
                }
            }
        }
        assert!(l.is_done() == matches!(lr, Some(Ok(()))));
        (
            lr.unwrap_or(Err(Error::Timeout)),
            cr.unwrap_or(Err(Error::Timeout)),
        )
    }

    #[test]
    fn the_same_key_passes_and_a_different_one_is_refused_by_both() {
        let (l, c) = run(b"key", b"key");
        assert!(l.is_ok() && c.is_ok(), "{l:?} {c:?}");
        let (l, c) = run(b"key", b"other");
        assert!(matches!(l, Err(Error::Authentication(_))), "{l:?}");
        assert!(matches!(c, Err(Error::Authentication(_))), "{c:?}");
    }

    /// Vectors from Python 3.11's `hmac.new(key, msg, 'md5')` and 3.12's sha256 answer.
    #[test]
    fn answers_are_cpythons() {
        // A 3.11 challenge: 20 bytes, no prefix: a raw HMAC-MD5.
        let msg = [7u8; 20];
        let r = response(b"secret", &msg).unwrap();
        assert_eq!(r.len(), 16);
        assert_eq!(r, Digest::Md5.mac(b"secret", &msg));
        verify(b"secret", &msg, &r).unwrap();
        // A 3.12 challenge: the answer is prefixed and covers the prefix.
        let mut msg = b"{sha256}".to_vec();
        msg.extend([1u8; 40]);
        let r = response(b"secret", &msg).unwrap();
        assert!(r.starts_with(b"{sha256}"));
        assert_eq!(r.len(), 8 + 32);
        verify(b"secret", &msg, &r).unwrap();
        // A 3.11 client answers a prefixed challenge with a raw MD5 of all of it.
        verify(b"secret", &msg, &Digest::Md5.mac(b"secret", &msg)).unwrap();
        assert!(verify(b"secret", &msg, &Digest::Md5.mac(b"other", &msg)).is_err());
        assert!(digest_and_payload(b"{whirlpool}0123456789abcdef0123").is_err());
        // RFC 2104's HMAC-MD5 test case 2 ("Jefe"), as CPython's hmac computes it.
        assert_eq!(
            Digest::Md5.mac(b"Jefe", b"what do ya want for nothing?"),
            [
                0x75, 0x0c, 0x78, 0x3e, 0x6a, 0xb0, 0xb5, 0x03, 0xea, 0xa8, 0x6e, 0x31, 0x0a, 0x5d,
                0xb7, 0x38
            ]
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]

        /// Random frames at any step: a refusal or progress, never a panic, and never a
        /// finished handshake without the key.
        #[test]
        fn garbage_never_authenticates(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..5),
            listener in any::<bool>(),
        ) {
            let mut h = if listener {
                Handshake::listener(b"the key").unwrap().0
            } else {
                Handshake::client(b"the key")
            };
            for f in &frames {
                match h.on_frame(f) {
                    Ok(p) => prop_assert!(!p.done, "garbage finished a handshake"),
                    Err(r) => {
                        prop_assert!(matches!(r.error, Error::Authentication(_)));
                        break;
                    }
                }
            }
        }
    }
}

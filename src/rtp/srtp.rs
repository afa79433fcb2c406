//! SRTP and SRTCP for plain and pipe transports (RFC 3711; RFC 7714 for
//! AES-GCM), keyed by signalling (mediasoup's `srtpParameters`: a crypto
//! suite and a base64 master key + salt) instead of DTLS.
//!
//! WebRTC transports never come here: str0m keys and runs their SRTP. This
//! is the same cryptography (aws-lc-rs, str0m's provider) on the plain
//! transport's own packet path: one [`SrtpSender`] with our key for what we
//! send, one [`SrtpReceiver`] with the peer's key for what we receive.

use std::collections::HashMap;

use crate::id_map::IdMap;

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, AES_256, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

/// mediasoup's `SrtpCryptoSuite`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoSuite {
    AeadAes256Gcm,
    AeadAes128Gcm,
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
}

impl CryptoSuite {
    pub const ALL: [CryptoSuite; 4] = [
        CryptoSuite::AeadAes256Gcm,
        CryptoSuite::AeadAes128Gcm,
        CryptoSuite::AesCm128HmacSha1_80,
        CryptoSuite::AesCm128HmacSha1_32,
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            CryptoSuite::AeadAes256Gcm => "AEAD_AES_256_GCM",
            CryptoSuite::AeadAes128Gcm => "AEAD_AES_128_GCM",
            CryptoSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            CryptoSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// Master key and master salt lengths: `keyBase64` holds both.
    pub fn master_lengths(self) -> (usize, usize) {
        match self {
            CryptoSuite::AeadAes256Gcm => (32, 12),
            CryptoSuite::AeadAes128Gcm => (16, 12),
            CryptoSuite::AesCm128HmacSha1_80 | CryptoSuite::AesCm128HmacSha1_32 => (16, 14),
        }
    }

    pub fn master_len(self) -> usize {
        let (key, salt) = self.master_lengths();
        key + salt
    }

    fn is_gcm(self) -> bool {
        matches!(
            self,
            CryptoSuite::AeadAes256Gcm | CryptoSuite::AeadAes128Gcm
        )
    }

    /// Authentication tag lengths of SRTP and SRTCP. The 32-bit suite
    /// shortens the RTP tag only; SRTCP keeps 80 bits (RFC 4568 §6.2.1).
    fn tag_lengths(self) -> (usize, usize) {
        match self {
            CryptoSuite::AeadAes256Gcm | CryptoSuite::AeadAes128Gcm => (16, 16),
            CryptoSuite::AesCm128HmacSha1_80 => (10, 10),
            CryptoSuite::AesCm128HmacSha1_32 => (4, 10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpError {
    /// Too short, or not RTP/RTCP as the header says.
    Malformed,
    /// Seen already, or too old for the replay window.
    Replayed,
    /// The tag does not match: wrong key, or altered on the way.
    Authentication,
}

/// The session keys of one direction of RTP or RTCP.
enum SessionCipher {
    /// AES-128 counter mode + HMAC-SHA1.
    Cm {
        /// Boxed, as the HMAC key (its precomputed states): ~1.7 KB together.
        key: Box<EncryptingKey>,
        salt: [u8; 14],
        auth: Box<hmac::Key>,
        tag_len: usize,
    },
    Gcm {
        key: LessSafeKey,
        salt: [u8; 12],
    },
}

/// RFC 3711 §4.3.1 with a key derivation rate of 0: AES-CM keystream under
/// the master key, IV = (master salt XOR label at byte 7) · 2^16. For the
/// GCM suites the 96-bit master salt is zero-padded to 112 bits (RFC 7714
/// §11, as libsrtp does).
fn derive(master_key: &[u8], master_salt: &[u8], label: u8, out: &mut [u8]) {
    let algorithm = if master_key.len() == 32 {
        &AES_256
    } else {
        &AES_128
    };
    let key = EncryptingKey::ctr(UnboundCipherKey::new(algorithm, master_key).expect("key length"))
        .expect("AES-CTR");
    let mut iv = [0u8; 16];
    iv[..master_salt.len()].copy_from_slice(master_salt);
    iv[7] ^= label;
    out.fill(0);
    key.less_safe_encrypt(out, EncryptionContext::Iv128(FixedLength::from(iv)))
        .expect("AES-CTR keystream");
}

impl SessionCipher {
    /// `rtcp`: the SRTCP labels (3, 4, 5) instead of SRTP's (0, 1, 2).
    fn new(suite: CryptoSuite, master: &[u8], rtcp: bool) -> Self {
        let (key_len, salt_len) = suite.master_lengths();
        let (master_key, master_salt) = master.split_at(key_len);
        debug_assert_eq!(master_salt.len(), salt_len);
        let base = if rtcp { 3 } else { 0 };
        let mut session_key = vec![0u8; key_len];
        derive(master_key, master_salt, base, &mut session_key);
        if suite.is_gcm() {
            let mut salt = [0u8; 12];
            derive(master_key, master_salt, base + 2, &mut salt);
            let algorithm = if key_len == 32 {
                &AES_256_GCM
            } else {
                &AES_128_GCM
            };
            let key =
                LessSafeKey::new(UnboundKey::new(algorithm, &session_key).expect("key length"));
            return SessionCipher::Gcm { key, salt };
        }
        let mut auth = [0u8; 20];
        derive(master_key, master_salt, base + 1, &mut auth);
        let mut salt = [0u8; 14];
        derive(master_key, master_salt, base + 2, &mut salt);
        let key = Box::new(
            EncryptingKey::ctr(UnboundCipherKey::new(&AES_128, &session_key).expect("key"))
                .expect("AES-CTR"),
        );
        let (rtp_tag, rtcp_tag) = suite.tag_lengths();
        SessionCipher::Cm {
            key,
            salt,
            auth: Box::new(hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &auth)),
            tag_len: if rtcp { rtcp_tag } else { rtp_tag },
        }
    }

    fn tag_len(&self) -> usize {
        match self {
            SessionCipher::Cm { tag_len, .. } => *tag_len,
            SessionCipher::Gcm { .. } => 16,
        }
    }
}

/// AES-CM's IV: session salt · 2^16 XOR SSRC · 2^64 XOR index · 2^16.
fn cm_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> FixedLength<16> {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *b ^= s;
    }
    for (b, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *b ^= s;
    }
    FixedLength::from(iv)
}

/// GCM's 96-bit IV (RFC 7714 §8.1 / §9.1): 00 00 | SSRC | `high` | `low`,
/// XOR the session salt.
fn gcm_nonce(salt: &[u8; 12], ssrc: u32, high: [u8; 2], low: u32) -> Nonce {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..8].copy_from_slice(&high);
    iv[8..12].copy_from_slice(&low.to_be_bytes());
    for (b, s) in iv.iter_mut().zip(salt) {
        *b ^= s;
    }
    Nonce::assume_unique_for_key(iv)
}

fn rtp_nonce(salt: &[u8; 12], ssrc: u32, roc: u32, seq: u16) -> Nonce {
    // ROC (32 bits) and SEQ (16) after the SSRC.
    let roc = roc.to_be_bytes();
    let low = u32::from_be_bytes([roc[2], roc[3], (seq >> 8) as u8, seq as u8]);
    gcm_nonce(salt, ssrc, [roc[0], roc[1]], low)
}

/// The RTP header's length (fixed part, CSRCs, extension block).
fn rtp_header_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 12 || buf[0] >> 6 != 2 {
        return None;
    }
    let mut len = 12 + 4 * usize::from(buf[0] & 0x0f);
    if buf[0] & 0x10 != 0 {
        let words = buf.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    (len <= buf.len()).then_some(len)
}

fn ssrc_at(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// AES-CM encryption (and decryption: the same keystream XOR) in place.
fn cm_crypt(key: &EncryptingKey, salt: &[u8; 14], ssrc: u32, index: u64, data: &mut [u8]) {
    key.less_safe_encrypt(data, EncryptionContext::Iv128(cm_iv(salt, ssrc, index)))
        .expect("AES-CTR");
}

/// HMAC-SHA1 over `parts`, truncated to `len`.
fn cm_tag(auth: &hmac::Key, parts: &[&[u8]], len: usize) -> [u8; 20] {
    let mut mac = hmac::Context::with_key(auth);
    for part in parts {
        mac.update(part);
    }
    let mut tag = [0u8; 20];
    tag[..len].copy_from_slice(&mac.sign().as_ref()[..len]);
    tag
}

/// GCM's additional data for SRTCP: the 8-byte header, then E + index.
fn rtcp_aad(head: &[u8], trailer: [u8; 4]) -> [u8; 12] {
    let mut aad = [0u8; 12];
    aad[..8].copy_from_slice(&head[..8]);
    aad[8..].copy_from_slice(&trailer);
    aad
}

/// What we send: SRTP for our RTP, SRTCP for our RTCP, under our key.
pub struct SrtpSender {
    rtp: SessionCipher,
    rtcp: SessionCipher,
    /// Keyed by our own SSRCs: the fast hasher.
    streams: IdMap<u32, TxStream>,
    /// Per sending SSRC (the first of a compound packet), the next SRTCP
    /// index, as libsrtp counts them.
    rtcp_indices: HashMap<u32, u32>,
}

/// What SRTP keeps of one SSRC we send RTP on. The sender keeps it by SSRC
/// ([`SrtpSender::protect_rtp`]), or a caller that sends the SSRC's every
/// packet keeps it beside its own state of the stream
/// ([`SrtpSender::protect_rtp_on`]): a fan-out then reads it from memory it
/// touches anyway instead of a map's buckets, a cache miss per copy.
#[derive(Default)]
pub struct TxStream {
    /// The cycle of the first extended sequence number sent: the receiver
    /// starts counting rollovers at 0 there.
    first_cycle: Option<u64>,
    /// Indices sent: a (keystream, index) pair is never used twice, for a
    /// source that restarts its numbering or a duplicate let through.
    sent: ReplayWindow,
}

/// [`SrtpSender::protect_rtp`]'s work on the SSRC's state, for a packet
/// whose header (`header` bytes) was checked.
fn seal_rtp(
    cipher: &SessionCipher,
    stream: &mut TxStream,
    buf: &mut Vec<u8>,
    header: usize,
    ext_seq: u64,
) -> bool {
    let ssrc = ssrc_at(buf, 8);
    let first_cycle = *stream.first_cycle.get_or_insert(ext_seq >> 16);
    let Some(roc) = (ext_seq >> 16).checked_sub(first_cycle) else {
        return false;
    };
    let Ok(roc) = u32::try_from(roc) else {
        return false;
    };
    let seq = ext_seq as u16;
    let index = (u64::from(roc) << 16) | u64::from(seq);
    if stream.sent.check(index).is_err() {
        return false;
    }
    stream.sent.accept(index);
    match cipher {
        SessionCipher::Cm {
            key,
            salt,
            auth,
            tag_len,
        } => {
            cm_crypt(key, salt, ssrc, index, &mut buf[header..]);
            // The ROC is authenticated but not sent (RFC 3711 §4.2).
            let tag = cm_tag(auth, &[buf, &roc.to_be_bytes()], *tag_len);
            buf.extend_from_slice(&tag[..*tag_len]);
        }
        SessionCipher::Gcm { key, salt } => {
            let (head, body) = buf.split_at_mut(header);
            let tag = key
                .seal_in_place_separate_tag(
                    rtp_nonce(salt, ssrc, roc, seq),
                    Aad::from(&*head),
                    body,
                )
                .expect("AES-GCM");
            buf.extend_from_slice(tag.as_ref());
        }
    }
    true
}

impl SrtpSender {
    /// `master`: master key and salt (`CryptoSuite::master_len` bytes).
    pub fn new(suite: CryptoSuite, master: &[u8]) -> Self {
        Self {
            rtp: SessionCipher::new(suite, master, false),
            rtcp: SessionCipher::new(suite, master, true),
            streams: IdMap::default(),
            rtcp_indices: HashMap::new(),
        }
    }

    /// Forgets an SSRC no longer sent on (a closed consumer's).
    pub fn forget(&mut self, ssrc: u32) {
        self.streams.remove(&ssrc);
        self.rtcp_indices.remove(&ssrc);
    }

    /// Encrypts an RTP packet in place and appends its tag. `ext_seq`: its
    /// extended sequence number (rollovers counted above 16 bits). False
    /// (packet left unsent) for a packet from before the stream's first, or
    /// one whose number was sent already or is too old to tell: encrypting
    /// two payloads under one index would reuse the keystream (AES-CM) or
    /// the nonce (GCM).
    pub fn protect_rtp(&mut self, buf: &mut Vec<u8>, ext_seq: u64) -> bool {
        let Some(header) = rtp_header_len(buf) else {
            return false;
        };
        let stream = self.streams.entry(ssrc_at(buf, 8)).or_default();
        seal_rtp(&self.rtp, stream, buf, header, ext_seq)
    }

    /// [`Self::protect_rtp`] with the SSRC's state kept by the caller, who
    /// must send all of that SSRC's packets through it (and none through
    /// `protect_rtp`): two states for one SSRC could use an index twice.
    pub fn protect_rtp_on(&self, stream: &mut TxStream, buf: &mut Vec<u8>, ext_seq: u64) -> bool {
        let Some(header) = rtp_header_len(buf) else {
            return false;
        };
        seal_rtp(&self.rtp, stream, buf, header, ext_seq)
    }

    /// Encrypts a (compound) RTCP packet in place and appends the E-flag +
    /// SRTCP index and the tag: packet | E+index | tag with AES-CM (the
    /// trailer is authenticated as part of the packet), packet | tag |
    /// E+index with GCM (RFC 7714 §9.2, the trailer in the additional data).
    pub fn protect_rtcp(&mut self, buf: &mut Vec<u8>) -> bool {
        if buf.len() < 8 {
            return false;
        }
        let ssrc = ssrc_at(buf, 4);
        // libsrtp's first SRTCP index is 1, too. At 2^31 the index would
        // wrap and repeat: such a stream sends no more RTCP (re-key first).
        let next = self.rtcp_indices.entry(ssrc).or_insert(1);
        let index = *next;
        if index > 0x7fff_ffff {
            return false;
        }
        *next += 1;
        let trailer = (0x8000_0000 | index).to_be_bytes();
        match &self.rtcp {
            SessionCipher::Cm {
                key,
                salt,
                auth,
                tag_len,
            } => {
                cm_crypt(key, salt, ssrc, u64::from(index), &mut buf[8..]);
                buf.extend_from_slice(&trailer);
                let tag = cm_tag(auth, &[buf], *tag_len);
                buf.extend_from_slice(&tag[..*tag_len]);
            }
            SessionCipher::Gcm { key, salt } => {
                let aad = rtcp_aad(buf, trailer);
                let tag = key
                    .seal_in_place_separate_tag(
                        gcm_nonce(salt, ssrc, [0, 0], index),
                        Aad::from(&aad[..]),
                        &mut buf[8..],
                    )
                    .expect("AES-GCM");
                buf.extend_from_slice(tag.as_ref());
                buf.extend_from_slice(&trailer);
            }
        }
        true
    }
}

/// Replay protection over the last 1024 indices (RFC 3711 §3.3.2), as
/// mediasoup configures libsrtp: packets reordered further back than
/// libsrtp's default 128 (a burst through a deep queue) still get through.
#[derive(Default)]
struct ReplayWindow {
    highest: Option<u64>,
    /// Bit `i % REPLAY_WINDOW`: index `i` was seen (for the indices within
    /// the window below `highest`).
    seen: [u64; (REPLAY_WINDOW / 64) as usize],
}

const REPLAY_WINDOW: u64 = 1024;

/// The word and the bit of `index` in the window's bitmap.
fn slot(index: u64) -> (usize, u64) {
    let bit = index % REPLAY_WINDOW;
    ((bit / 64) as usize, 1 << (bit % 64))
}

impl ReplayWindow {
    fn check(&self, index: u64) -> Result<(), SrtpError> {
        let Some(highest) = self.highest else {
            return Ok(());
        };
        if index > highest {
            return Ok(());
        }
        let (word, bit) = slot(index);
        if highest - index >= REPLAY_WINDOW || self.seen[word] & bit != 0 {
            return Err(SrtpError::Replayed);
        }
        Ok(())
    }

    fn accept(&mut self, index: u64) {
        match self.highest {
            Some(highest) if index <= highest => {
                if highest - index < REPLAY_WINDOW {
                    let (word, bit) = slot(index);
                    self.seen[word] |= bit;
                }
                return;
            }
            Some(highest) if index - highest < REPLAY_WINDOW => {
                // The slots the window moves over held indices now out of it.
                for skipped in highest + 1..index {
                    let (word, bit) = slot(skipped);
                    self.seen[word] &= !bit;
                }
            }
            _ => self.seen = Default::default(),
        }
        let (word, bit) = slot(index);
        self.seen[word] |= bit;
        self.highest = Some(index);
    }
}

/// The receiving side's rollover count for one SSRC (RFC 3711 §3.3.1).
struct RxStream {
    roc: u32,
    highest_seq: u16,
    window: ReplayWindow,
}

impl RxStream {
    /// The index a sequence number most likely has.
    fn guess(&self, seq: u16) -> (u32, u64) {
        let s_l = i32::from(self.highest_seq);
        let seq_i = i32::from(seq);
        let roc = if s_l < 32_768 {
            if seq_i - s_l > 32_768 {
                self.roc.wrapping_sub(1)
            } else {
                self.roc
            }
        } else if s_l - 32_768 > seq_i {
            self.roc.wrapping_add(1)
        } else {
            self.roc
        };
        (roc, (u64::from(roc) << 16) | u64::from(seq))
    }
}

/// What we receive: the peer's SRTP and SRTCP under its key.
pub struct SrtpReceiver {
    rtp: SessionCipher,
    rtcp: SessionCipher,
    streams: HashMap<u32, RxStream>,
    rtcp_windows: HashMap<u32, ReplayWindow>,
}

impl SrtpReceiver {
    pub fn new(suite: CryptoSuite, master: &[u8]) -> Self {
        Self {
            rtp: SessionCipher::new(suite, master, false),
            rtcp: SessionCipher::new(suite, master, true),
            streams: HashMap::new(),
            rtcp_windows: HashMap::new(),
        }
    }

    /// Authenticates and decrypts an SRTP packet in place; on success `buf`
    /// holds the plain RTP packet.
    pub fn unprotect_rtp(&mut self, buf: &mut Vec<u8>) -> Result<(), SrtpError> {
        let tag_len = self.rtp.tag_len();
        let header = rtp_header_len(buf).ok_or(SrtpError::Malformed)?;
        if buf.len() < header + tag_len {
            return Err(SrtpError::Malformed);
        }
        let ssrc = ssrc_at(buf, 8);
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let (roc, index) = match self.streams.get(&ssrc) {
            Some(stream) => {
                let guess = stream.guess(seq);
                stream.window.check(guess.1)?;
                guess
            }
            None => (0, u64::from(seq)),
        };
        let end = buf.len() - tag_len;
        match &self.rtp {
            SessionCipher::Cm {
                key, salt, auth, ..
            } => {
                let tag = cm_tag(auth, &[&buf[..end], &roc.to_be_bytes()], tag_len);
                verify_slices_are_equal(&tag[..tag_len], &buf[end..])
                    .map_err(|_| SrtpError::Authentication)?;
                cm_crypt(key, salt, ssrc, index, &mut buf[header..end]);
            }
            SessionCipher::Gcm { key, salt } => {
                let (head, body) = buf.split_at_mut(header);
                key.open_in_place(rtp_nonce(salt, ssrc, roc, seq), Aad::from(&*head), body)
                    .map_err(|_| SrtpError::Authentication)?;
            }
        }
        buf.truncate(end);
        let stream = self.streams.entry(ssrc).or_insert(RxStream {
            roc,
            highest_seq: seq,
            window: ReplayWindow::default(),
        });
        if roc == stream.roc.wrapping_add(1) || (roc == stream.roc && seq > stream.highest_seq) {
            stream.roc = roc;
            stream.highest_seq = seq;
        }
        stream.window.accept(index);
        Ok(())
    }

    /// Authenticates and decrypts an SRTCP packet in place; on success `buf`
    /// holds the plain (compound) RTCP packet.
    pub fn unprotect_rtcp(&mut self, buf: &mut Vec<u8>) -> Result<(), SrtpError> {
        let tag_len = self.rtcp.tag_len();
        if buf.len() < 8 + 4 + tag_len {
            return Err(SrtpError::Malformed);
        }
        let ssrc = ssrc_at(buf, 4);
        let gcm = matches!(self.rtcp, SessionCipher::Gcm { .. });
        let trailer_at = if gcm {
            buf.len() - 4
        } else {
            buf.len() - tag_len - 4
        };
        let trailer = ssrc_at(buf, trailer_at);
        let index = trailer & 0x7fff_ffff;
        let encrypted = trailer & 0x8000_0000 != 0;
        // Looked up, not created: a stream's state exists only once one of
        // its packets authenticated (anyone may send junk with any SSRC).
        if let Some(window) = self.rtcp_windows.get(&ssrc) {
            window.check(u64::from(index))?;
        }
        let end = match &self.rtcp {
            SessionCipher::Cm {
                key, salt, auth, ..
            } => {
                let tag = cm_tag(auth, &[&buf[..trailer_at + 4]], tag_len);
                verify_slices_are_equal(&tag[..tag_len], &buf[trailer_at + 4..])
                    .map_err(|_| SrtpError::Authentication)?;
                if encrypted {
                    cm_crypt(key, salt, ssrc, u64::from(index), &mut buf[8..trailer_at]);
                }
                trailer_at
            }
            SessionCipher::Gcm { key, salt } => {
                // Unencrypted SRTCP under GCM (E = 0) authenticates the
                // whole packet as additional data; nobody sends it.
                if !encrypted {
                    return Err(SrtpError::Authentication);
                }
                let aad = rtcp_aad(buf, trailer.to_be_bytes());
                key.open_in_place(
                    gcm_nonce(salt, ssrc, [0, 0], index),
                    Aad::from(&aad[..]),
                    &mut buf[8..trailer_at],
                )
                .map_err(|_| SrtpError::Authentication)?;
                trailer_at - tag_len
            }
        };
        buf.truncate(end);
        self.rtcp_windows
            .entry(ssrc)
            .or_default()
            .accept(u64::from(index));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master(suite: CryptoSuite, seed: u8) -> Vec<u8> {
        (0..suite.master_len() as u8)
            .map(|i| i.wrapping_mul(7).wrapping_add(seed))
            .collect()
    }

    fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 96];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&1234u32.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn rtcp_pli(sender: u32, media: u32) -> Vec<u8> {
        let mut p = vec![0x81, 206, 0, 2];
        p.extend_from_slice(&sender.to_be_bytes());
        p.extend_from_slice(&media.to_be_bytes());
        p
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Known answers from libsrtp 2 (through pylibsrtp 1.0): the master key
    /// and the protected RTP (seq 7, SSRC 0x11223344, "hello media") and
    /// RTCP (a PLI from 0xaabbccdd, SRTCP index 1) packets.
    const LIBSRTP_VECTORS: [(CryptoSuite, &str, &str, &str); 4] = [
        (
            CryptoSuite::AesCm128HmacSha1_80,
            "030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ce",
            "80600007000004d211223344c3f34322e6b71a10d0f9f09304f9d4fe1e117d1363",
            "81ce0002aabbccdd89a240828000000170cf2fb3b28ca5f79cab",
        ),
        (
            CryptoSuite::AesCm128HmacSha1_32,
            "030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ce",
            "80600007000004d211223344c3f34322e6b71a10d0f9f09304f9d4",
            "81ce0002aabbccdd89a240828000000170cf2fb3b28ca5f79cab",
        ),
        (
            CryptoSuite::AeadAes128Gcm,
            "030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0",
            "80600007000004d211223344cc8cd08933af82465c2a8978b59d23f2cc8f70eeadc7f25f1afdfa",
            "81ce0002aabbccdd2f178fd260de53f535014e47d35d871f12c9ab4180000001",
        ),
        (
            CryptoSuite::AeadAes256Gcm,
            "030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930",
            "80600007000004d2112233447c613b21311c9151da94bf3bb5f499b1e79906471ec7914b856921",
            "81ce0002aabbccdd7d92c1c0ff11f80668a447a6931e229a7c7ffd4580000001",
        ),
    ];

    #[test]
    fn matches_libsrtp_both_ways() {
        for (suite, key, srtp, srtcp) in LIBSRTP_VECTORS {
            let key = hex(key);
            assert_eq!(key, master(suite, 3));
            let mut tx = SrtpSender::new(suite, &key);
            let mut packet = rtp(7, 0x1122_3344, b"hello media");
            assert!(tx.protect_rtp(&mut packet, 7));
            assert_eq!(packet, hex(srtp), "{suite:?} SRTP");
            let mut report = rtcp_pli(0xaabb_ccdd, 0x1122_3344);
            assert!(tx.protect_rtcp(&mut report));
            assert_eq!(report, hex(srtcp), "{suite:?} SRTCP");

            let mut rx = SrtpReceiver::new(suite, &key);
            let mut packet = hex(srtp);
            rx.unprotect_rtp(&mut packet).unwrap();
            assert_eq!(packet, rtp(7, 0x1122_3344, b"hello media"));
            let mut report = hex(srtcp);
            rx.unprotect_rtcp(&mut report).unwrap();
            assert_eq!(report, rtcp_pli(0xaabb_ccdd, 0x1122_3344));
        }
    }

    #[test]
    fn rollover_counts_as_libsrtp_does() {
        // libsrtp's packets for seq 65534, 65535, 0, 1 (SSRC 5, "wrap").
        let vectors = [
            "8060fffe000004d2000000055048412f7e644dc63dcfed417002",
            "8060ffff000004d200000005fdf7399c6028047a989a1b5c042d",
            "80600000000004d200000005106d69961b1349970370abd624e6",
            "80600001000004d200000005115ceeb4d73c85bd035cfc54860d",
        ];
        let suite = CryptoSuite::AesCm128HmacSha1_80;
        let key = master(suite, 3);
        // Our consumers' extended numbers may start a cycle up.
        let mut tx = SrtpSender::new(suite, &key);
        let mut rx = SrtpReceiver::new(suite, &key);
        for (i, vector) in vectors.iter().enumerate() {
            let ext = 65_536 + 65_534 + i as u64;
            let mut packet = rtp(ext as u16, 5, b"wrap");
            assert!(tx.protect_rtp(&mut packet, ext));
            assert_eq!(packet, hex(vector), "packet {i}");
            let mut packet = hex(vector);
            rx.unprotect_rtp(&mut packet).unwrap();
            assert_eq!(packet, rtp(ext as u16, 5, b"wrap"));
        }
    }

    #[test]
    fn every_suite_round_trips_rtp_and_rtcp_and_rejects_tampering() {
        for suite in CryptoSuite::ALL {
            let key = master(suite, 3);
            let mut tx = SrtpSender::new(suite, &key);
            let mut rx = SrtpReceiver::new(suite, &key);
            let plain = rtp(7, 0x1122_3344, b"hello media");
            let mut packet = plain.clone();
            assert!(tx.protect_rtp(&mut packet, 7));
            let (rtp_tag, rtcp_tag) = suite.tag_lengths();
            assert_eq!(packet.len(), plain.len() + rtp_tag, "{suite:?}");
            assert_ne!(
                &packet[12..plain.len()],
                &plain[12..],
                "{suite:?}: payload encrypted"
            );
            let mut tampered = packet.clone();
            tampered[14] ^= 1;
            assert_eq!(
                rx.unprotect_rtp(&mut tampered),
                Err(SrtpError::Authentication)
            );
            rx.unprotect_rtp(&mut packet).unwrap();
            assert_eq!(packet, plain, "{suite:?}");

            let plain = rtcp_pli(0xaabb_ccdd, 0x1122_3344);
            let mut packet = plain.clone();
            assert!(tx.protect_rtcp(&mut packet));
            assert_eq!(packet.len(), plain.len() + 4 + rtcp_tag, "{suite:?}");
            let mut tampered = packet.clone();
            tampered[9] ^= 1;
            assert_eq!(
                rx.unprotect_rtcp(&mut tampered),
                Err(SrtpError::Authentication)
            );
            rx.unprotect_rtcp(&mut packet).unwrap();
            assert_eq!(packet, plain, "{suite:?}");

            // Another key does not authenticate.
            let mut other = SrtpReceiver::new(suite, &master(suite, 4));
            let mut packet = rtp(8, 0x1122_3344, b"x");
            tx.protect_rtp(&mut packet, 8);
            assert_eq!(
                other.unprotect_rtp(&mut packet),
                Err(SrtpError::Authentication)
            );
        }
    }

    #[test]
    fn replays_are_dropped_and_rollovers_followed() {
        let suite = CryptoSuite::AesCm128HmacSha1_80;
        let key = master(suite, 9);
        let mut tx = SrtpSender::new(suite, &key);
        let mut rx = SrtpReceiver::new(suite, &key);
        // The sender's extended numbers start a cycle up; the receiver
        // counts rollovers from 0 at the first packet.
        let start = 65_536 * 3 + 65_530;
        let mut sent = Vec::new();
        for ext in start..start + 12 {
            let mut p = rtp(ext as u16, 5, &[ext as u8; 20]);
            assert!(tx.protect_rtp(&mut p, ext));
            sent.push(p);
        }
        // In order across the wrap, with one reordered pair.
        sent.swap(4, 5);
        for p in &sent {
            let mut p = p.clone();
            rx.unprotect_rtp(&mut p).unwrap();
        }
        let mut again = sent[3].clone();
        assert_eq!(rx.unprotect_rtp(&mut again), Err(SrtpError::Replayed));
        // A packet from before the stream's first is not sent.
        let mut early = rtp(1, 5, b"early");
        assert!(!tx.protect_rtp(&mut early, 65_536 * 2 + 1));

        let mut report = rtcp_pli(5, 6);
        tx.protect_rtcp(&mut report);
        let mut replay = report.clone();
        rx.unprotect_rtcp(&mut report).unwrap();
        assert_eq!(rx.unprotect_rtcp(&mut replay), Err(SrtpError::Replayed));
    }

    #[test]
    fn the_sender_never_reuses_an_index_and_counts_srtcp_per_ssrc() {
        let suite = CryptoSuite::AeadAes128Gcm;
        let mut tx = SrtpSender::new(suite, &master(suite, 2));
        let mut send = |ext: u64| tx.protect_rtp(&mut rtp(ext as u16, 9, b"p"), ext);
        assert!(send(1000));
        // A source restarting its numbering, or a duplicate let through.
        assert!(!send(1000));
        assert!(send(999));
        assert!(send(1000 + 2000));
        // Older than the window: cannot tell whether it was sent.
        assert!(!send(1000 + 2000 - 1024));
        assert!(send(1000 + 2000 - 1023));

        let mut tx = SrtpSender::new(suite, &master(suite, 2));
        let index = |p: &[u8]| u32::from_be_bytes(p[p.len() - 4..].try_into().unwrap());
        for expected in 1..=3 {
            for ssrc in [7, 8] {
                let mut report = rtcp_pli(ssrc, 1);
                assert!(tx.protect_rtcp(&mut report));
                assert_eq!(index(&report), 0x8000_0000 | expected);
            }
        }
        // Exhausted: no index is ever used twice.
        tx.rtcp_indices.insert(7, 0x7fff_ffff);
        assert!(tx.protect_rtcp(&mut rtcp_pli(7, 1)));
        assert!(!tx.protect_rtcp(&mut rtcp_pli(7, 1)));
    }

    #[test]
    fn a_stream_state_kept_by_the_caller_protects_as_the_sender_s_own() {
        let suite = CryptoSuite::AeadAes256Gcm;
        let mut by_sender = SrtpSender::new(suite, &master(suite, 3));
        let by_caller = SrtpSender::new(suite, &master(suite, 3));
        let mut state = TxStream::default();
        // The first packet fixes the rollover count's start, as in the map.
        for ext in [70_000u64, 70_001, 70_000 + 65_536] {
            let (mut a, mut b) = (rtp(ext as u16, 9, b"media"), rtp(ext as u16, 9, b"media"));
            assert!(by_sender.protect_rtp(&mut a, ext));
            assert!(by_caller.protect_rtp_on(&mut state, &mut b, ext));
            assert_eq!(a, b);
        }
        // The caller's state refuses an index it used, and one from before
        // its first packet.
        assert!(!by_caller.protect_rtp_on(&mut state, &mut rtp(4_465, 9, b"x"), 70_001));
        assert!(!by_caller.protect_rtp_on(&mut state, &mut rtp(5, 9, b"x"), 5));
        // Junk leaves it untouched: a fresh state still takes any first number.
        let mut fresh = TxStream::default();
        assert!(!by_caller.protect_rtp_on(&mut fresh, &mut vec![0x80, 0x60], 9));
        assert!(by_caller.protect_rtp_on(&mut fresh, &mut rtp(1, 9, b"x"), 1));
    }

    #[test]
    fn the_replay_window_spans_1024_and_junk_leaves_no_state() {
        let mut w = ReplayWindow::default();
        w.accept(3000);
        assert!(w.check(3000 - 1023).is_ok());
        assert_eq!(w.check(3000 - 1024), Err(SrtpError::Replayed));
        w.accept(3000 - 1023);
        assert_eq!(w.check(3000 - 1023), Err(SrtpError::Replayed));
        // Moving up by less than the window: what it moved over was never
        // seen (its slots held indices 1024 older), what it kept still was.
        w.accept(3000 + 500);
        assert!((3001..3500).all(|i| w.check(i).is_ok()));
        assert_eq!(w.check(3000), Err(SrtpError::Replayed));
        assert_eq!(w.check(3000 - 1023), Err(SrtpError::Replayed));
        assert!(w.check(3000 - 1).is_ok());
        w.accept(9000);
        assert!(w.check(8999).is_ok());
        assert_eq!(w.check(3500), Err(SrtpError::Replayed));

        let suite = CryptoSuite::AesCm128HmacSha1_80;
        let mut rx = SrtpReceiver::new(suite, &master(suite, 5));
        for ssrc in 0..500u32 {
            let mut junk = rtcp_pli(ssrc, 1);
            junk.extend_from_slice(&[0x80, 0, 0, 1]);
            junk.extend_from_slice(&[0; 10]);
            assert_eq!(rx.unprotect_rtcp(&mut junk), Err(SrtpError::Authentication));
            let mut junk = rtp(1, ssrc, &[0; 20]);
            assert_eq!(rx.unprotect_rtp(&mut junk), Err(SrtpError::Authentication));
        }
        assert!(rx.rtcp_windows.is_empty() && rx.streams.is_empty());
    }

    #[test]
    fn short_or_malformed_input_is_an_error_not_a_panic() {
        for suite in CryptoSuite::ALL {
            let mut rx = SrtpReceiver::new(suite, &master(suite, 1));
            for len in 0..40 {
                let mut junk = vec![0x80u8; len];
                assert!(rx.unprotect_rtp(&mut junk).is_err());
                let mut junk = vec![0x81u8; len];
                assert!(rx.unprotect_rtcp(&mut junk).is_err());
            }
            // An extension header longer than the packet.
            let mut lying = rtp(1, 2, &[0xff; 4]);
            lying[0] |= 0x10;
            assert_eq!(rx.unprotect_rtp(&mut lying), Err(SrtpError::Malformed));
        }
    }
}

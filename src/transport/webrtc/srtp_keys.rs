//! The SRTP keys of a WebRTC transport's DTLS handshake.
//!
//! str0m keeps its SRTP contexts private to its session, and pushing each
//! forwarded packet through its per-stream machinery (queue, pacer, RTX
//! cache copy, a full timeout pass) costs several times the encryption and
//! the send. So consumers' RTP is sent by the transport itself (see
//! `egress`), with the keys the handshake exported. str0m lets a caller
//! choose its crypto provider: ours is str0m's own, with a DTLS provider
//! that hands each handshake to str0m's unchanged and only copies the
//! keying material (RFC 5764) as it goes by. str0m itself is unmodified.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use str0m::crypto::CryptoProvider;
use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion,
    SrtpProfile,
};
use str0m_proto::crypto::CryptoError;

use crate::rtp::srtp::CryptoSuite;

/// Where one handshake's keying material lands: written once, by the DTLS
/// instance str0m owns; read by the transport that owns that str0m.
pub type KeySlot = Arc<OnceLock<(Vec<u8>, SrtpProfile)>>;

thread_local! {
    /// The slot of the DTLS instance created last on this thread: str0m
    /// creates it while the transport builds its `Rtc`, on the same thread.
    static LAST_SLOT: RefCell<Option<KeySlot>> = const { RefCell::new(None) };
}

/// str0m's crypto provider, with the key-copying DTLS provider.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    static DTLS: OnceLock<KeyCopyingDtls> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let base = str0m::crypto::from_feature_flags();
            let dtls = DTLS.get_or_init(|| KeyCopyingDtls {
                inner: base.dtls_provider,
            });
            Arc::new(CryptoProvider {
                dtls_provider: dtls,
                ..base
            })
        })
        .clone()
}

/// The slot of the `Rtc` just built on this thread with [`provider`].
pub fn take_last_slot() -> Option<KeySlot> {
    LAST_SLOT.with(|s| s.borrow_mut().take())
}

/// Our send and the peer's receive master key + salt, and the suite.
pub struct SrtpKeys {
    pub suite: CryptoSuite,
    pub local: Vec<u8>,
    pub remote: Vec<u8>,
}

impl std::fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys themselves, in logs.
        f.debug_struct("SrtpKeys")
            .field("suite", &self.suite)
            .finish()
    }
}

impl SrtpKeys {
    /// Splits exported keying material (RFC 5764 §4.2: client key, server
    /// key, client salt, server salt) into master key + salt per direction:
    /// the DTLS client sends with the client's.
    pub fn from_material(material: &[u8], profile: SrtpProfile, dtls_client: bool) -> Option<Self> {
        let suite = match profile {
            SrtpProfile::AEAD_AES_256_GCM => CryptoSuite::AeadAes256Gcm,
            SrtpProfile::AEAD_AES_128_GCM => CryptoSuite::AeadAes128Gcm,
            SrtpProfile::AES128_CM_SHA1_80 => CryptoSuite::AesCm128HmacSha1_80,
            _ => return None,
        };
        let (key, salt) = suite.master_lengths();
        if material.len() != 2 * (key + salt) {
            return None;
        }
        let (client_key, rest) = material.split_at(key);
        let (server_key, rest) = rest.split_at(key);
        let (client_salt, server_salt) = rest.split_at(salt);
        let client = [client_key, client_salt].concat();
        let server = [server_key, server_salt].concat();
        let (local, remote) = if dtls_client {
            (client, server)
        } else {
            (server, client)
        };
        Some(Self {
            suite,
            local,
            remote,
        })
    }
}

#[derive(Debug)]
struct KeyCopyingDtls {
    inner: &'static dyn DtlsProvider,
}

impl DtlsProvider for KeyCopyingDtls {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        self.inner.generate_certificate()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        dtls_version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        let inner = self.inner.new_dtls(cert, now, dtls_version, mtu)?;
        let slot = KeySlot::default();
        LAST_SLOT.with(|s| *s.borrow_mut() = Some(slot.clone()));
        Ok(Box::new(KeyCopyingInstance { inner, slot }))
    }

    fn is_test(&self) -> bool {
        self.inner.is_test()
    }
}

#[derive(Debug)]
struct KeyCopyingInstance {
    inner: Box<dyn DtlsInstance>,
    slot: KeySlot,
}

impl DtlsInstance for KeyCopyingInstance {
    fn set_active(&mut self, active: bool) {
        self.inner.set_active(active)
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.inner.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        let output = self.inner.poll_output(buf);
        if let DtlsOutput::KeyingMaterial(material, profile) = &output {
            let _ = self.slot.set((material.to_vec(), *profile));
        }
        output
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.inner.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.inner.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.inner.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.inner.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.inner.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keying_material_splits_per_direction() {
        // AES-256-GCM: 32-byte keys, 12-byte salts.
        let mut material = Vec::new();
        material.extend([1u8; 32]); // client key
        material.extend([2u8; 32]); // server key
        material.extend([3u8; 12]); // client salt
        material.extend([4u8; 12]); // server salt
        let client =
            SrtpKeys::from_material(&material, SrtpProfile::AEAD_AES_256_GCM, true).unwrap();
        assert_eq!(client.suite, CryptoSuite::AeadAes256Gcm);
        assert_eq!(client.local, [[1u8; 32].as_slice(), &[3u8; 12]].concat());
        assert_eq!(client.remote, [[2u8; 32].as_slice(), &[4u8; 12]].concat());
        let server =
            SrtpKeys::from_material(&material, SrtpProfile::AEAD_AES_256_GCM, false).unwrap();
        assert_eq!(server.local, client.remote);
        assert_eq!(server.remote, client.local);
        // A length that fits no suite is refused, not sliced.
        assert!(
            SrtpKeys::from_material(&material[1..], SrtpProfile::AEAD_AES_256_GCM, true).is_none()
        );
        assert!(SrtpKeys::from_material(&material, SrtpProfile::AES128_CM_SHA1_80, true).is_none());
    }
}

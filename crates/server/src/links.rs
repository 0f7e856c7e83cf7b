//! Link tokens for people (recipients, participants).
//!
//! A token is HMAC-SHA256(instance key, kind:id) cut to 128 bits: the
//! database stores only its digest (for lookup), yet Convene can print the
//! same link again (query answers, notifications) from the instance key,
//! which comes from `CONVENE_SECRET_KEY` or, failing that, is generated once
//! and kept in the database.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct LinkKey(Vec<u8>);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(…)")
    }
}

impl LinkKey {
    pub fn new(secret: &str) -> Self {
        LinkKey(secret.as_bytes().to_vec())
    }

    /// An application's client secret, version `version` (256 bits). Only
    /// its digest is stored; signing callbacks re-derives it.
    pub fn client_secret(&self, client_id: &str, version: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(format!("client_secret:{client_id}:{version}").as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// A 256-bit key for one purpose (credential encryption), derived from
    /// the instance key so the database alone cannot decrypt anything.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"key:");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn token(&self, kind: &str, id: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(kind.as_bytes());
        mac.update(b":");
        mac.update(id.as_bytes());
        let bytes = mac.finalize().into_bytes();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..16])
    }
}

/// Base64 of HMAC-SHA256(key, body): Cronofy's callback signature scheme.
pub fn hmac_b64(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_distinct_and_128_bits() {
        let k = LinkKey::new("k");
        assert_eq!(k.token("srq", "a"), k.token("srq", "a"));
        assert_ne!(k.token("srq", "a"), k.token("srq", "b"));
        assert_ne!(k.token("srq", "a"), LinkKey::new("other").token("srq", "a"));
        assert_eq!(k.token("srq", "a").len(), 22);
    }

    #[test]
    fn cronofy_signature_test_vector() {
        assert_eq!(
            hmac_b64(b"pDY0Oi7TJSP2hfNmZNkm5", br#"{"example":"well-known"}"#),
            "6r2/HjBkqymGegX0wOfifieeUXbbHwtV/LohHS+jv6c="
        );
    }
}

//! Identifiers, secrets and their digests.

use rand::Rng as _;
use sha2::{Digest, Sha256};

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rand::rng().fill_bytes(&mut buf);
    buf
}

/// A fresh AEAD nonce (96 random bits).
pub fn new_nonce() -> [u8; 12] {
    random_bytes::<12>()
}

/// A Cronofy-style opaque id: prefix + 24 hex digits (96 random bits).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", hex::encode(random_bytes::<12>()))
}

/// A bearer secret: 256 random bits, URL-safe.
pub fn new_secret() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A link token for people (recipients, participants): 128 random bits.
pub fn new_link_token() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// Only digests of tokens and secrets are stored; a 256-bit random value
/// needs no slow hash.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

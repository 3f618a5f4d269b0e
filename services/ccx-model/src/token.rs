//! Bearer tokens are stored only as their SHA-256: in `[[tenants]] token_sha256` of the
//! config file and in the control plane's tenant configurations.

use sha2::{Digest, Sha256};

/// The SHA-256 of a bearer token (what a presented token is compared by).
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The lowercase hex SHA-256 of a bearer token: the only form a token is kept in.
pub fn hash_token(token: &str) -> String {
    hex::encode(token_digest(token))
}

/// True for the stored form of a token: 64 hex digits.
pub fn is_token_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_kept_as_its_sha256_hex() {
        assert_eq!(
            hash_token(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(is_token_hash(&hash_token("dev-token-tenant-0")));
        assert!(!is_token_hash("abc"));
    }
}

//! Bearer tokens are stored only as their SHA-256: in `[[tenants]] token_sha256` of the
//! config file and in the control plane's tenant configurations. [`TokenTable`] is the one
//! lookup of a presented token's tenant (the collector's bearer auth, the wallboard's
//! sign-in).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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

/// The tenants' token hashes. A presented token is hashed and compared with every stored hash
/// in constant time, so neither the answer's timing nor its presence tells which hash matched.
#[derive(Debug, Clone, Default)]
pub struct TokenTable {
    entries: Vec<([u8; 32], String)>,
}

impl TokenTable {
    /// From `(tenant, token_sha256 hex)` pairs; a pair whose hash is not 64 hex digits is
    /// skipped (the config and the control plane check them before).
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> TokenTable {
        let entries = pairs
            .into_iter()
            .filter_map(|(tenant, sha256)| {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(sha256, &mut hash).ok()?;
                Some((hash, tenant.to_string()))
            })
            .collect();
        TokenTable { entries }
    }

    /// The tenants that have at least one token (bounded, so usable as metric labels).
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(_, t)| t.as_str())
    }

    /// The tenant of a presented token, if any.
    pub fn tenant_of(&self, token: &str) -> Option<&str> {
        self.tenant_of_digest(&token_digest(token))
    }

    /// The tenant of a token's digest, if any (a session keeps the digest of the token it was
    /// opened with, to end when that token is withdrawn).
    pub fn tenant_of_digest(&self, digest: &[u8; 32]) -> Option<&str> {
        let mut found = None;
        for (hash, tenant) in &self.entries {
            if bool::from(hash.ct_eq(digest)) {
                found = Some(tenant.as_str());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_maps_to_its_tenant() {
        let (a, b) = (hash_token("ta"), hash_token("tb"));
        let table = TokenTable::new([("a", a.as_str()), ("b", b.as_str()), ("c", "zz")]);
        assert_eq!(table.tenant_of("tb"), Some("b"));
        assert_eq!(table.tenant_of("ta"), Some("a"));
        assert_eq!(table.tenant_of("tc"), None);
        assert_eq!(table.tenants().collect::<Vec<_>>(), ["a", "b"]);
    }

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

//! Bearer tokens are stored only as their SHA-256: ingest tokens in `[[tenants]] token_sha256`
//! of the config file and in the control plane's tenant configurations, control-plane
//! credentials in `[control]` and the control plane's tenant credentials. [`TokenTable`] is
//! the one lookup of a presented token's owner (the collector's bearer auth, the wallboard's
//! sign-in, the control plane's callers).

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

/// True for a credential's name (what the control plane records as who acted):
/// `[a-z0-9][a-z0-9_.@-]{0,63}`.
pub fn is_credential_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.len() <= 64
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'@' | b'-')
        })
}

/// Token hashes and who each belongs to (a tenant's name by default; the control plane keeps
/// its principals). A presented token is hashed and compared with every stored hash in
/// constant time, so neither the answer's timing nor its presence tells which hash matched.
#[derive(Debug, Clone)]
pub struct TokenTable<T = String> {
    entries: Vec<([u8; 32], T)>,
}

impl<T> Default for TokenTable<T> {
    fn default() -> Self {
        TokenTable {
            entries: Vec::new(),
        }
    }
}

impl<T> TokenTable<T> {
    /// From `(token_sha256 hex, owner)` pairs; a hash that is not 64 hex digits is skipped
    /// (the config and the control plane check them before).
    pub fn from_hashes<'a>(pairs: impl IntoIterator<Item = (&'a str, T)>) -> TokenTable<T> {
        let entries = pairs
            .into_iter()
            .filter_map(|(sha256, owner)| {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(sha256, &mut hash).ok()?;
                Some((hash, owner))
            })
            .collect();
        TokenTable { entries }
    }

    /// The owner of a presented token, if any.
    pub fn owner_of(&self, token: &str) -> Option<&T> {
        self.owner_of_digest(&token_digest(token))
    }

    /// The owner of a token's digest, if any.
    pub fn owner_of_digest(&self, digest: &[u8; 32]) -> Option<&T> {
        let mut found = None;
        for (hash, owner) in &self.entries {
            if bool::from(hash.ct_eq(digest)) {
                found = Some(owner);
            }
        }
        found
    }
}

impl TokenTable {
    /// From `(tenant, token_sha256 hex)` pairs; a pair whose hash is not 64 hex digits is
    /// skipped (the config and the control plane check them before).
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> TokenTable {
        TokenTable::from_hashes(
            pairs
                .into_iter()
                .map(|(tenant, sha256)| (sha256, tenant.to_string())),
        )
    }

    /// The tenants that have at least one token (bounded, so usable as metric labels).
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(_, t)| t.as_str())
    }

    /// The tenant of a presented token, if any.
    pub fn tenant_of(&self, token: &str) -> Option<&str> {
        self.owner_of(token).map(String::as_str)
    }

    /// The tenant of a token's digest, if any (a session keeps the digest of the token it was
    /// opened with, to end when that token is withdrawn).
    pub fn tenant_of_digest(&self, digest: &[u8; 32]) -> Option<&str> {
        self.owner_of_digest(digest).map(String::as_str)
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

    #[test]
    fn credential_names_are_short_lowercase_words() {
        assert!(is_credential_name("ann.lee@brand-a"));
        assert!(!is_credential_name(""));
        assert!(!is_credential_name("Ann"));
        assert!(!is_credential_name("-x"));
        assert!(!is_credential_name(&"a".repeat(65)));
    }
}

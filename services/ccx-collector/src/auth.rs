//! Bearer tokens: each belongs to one tenant and is stored only as its SHA-256. A presented
//! token is hashed and compared with every stored hash in constant time.

use ccx_config::TenantToken;
use subtle::ConstantTimeEq;

use crate::CollectorError;

#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<([u8; 32], String)>,
}

impl Tokens {
    pub fn new(tenants: &[TenantToken]) -> Tokens {
        let entries = tenants
            .iter()
            .filter_map(|t| {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(&t.token_sha256, &mut hash).ok()?;
                Some((hash, t.id.clone()))
            })
            .collect();
        Tokens { entries }
    }

    /// The tenants that have at least one token (bounded, so usable as metric labels).
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(_, t)| t.as_str())
    }

    /// The tenant of an `Authorization` header value (`Bearer <token>`).
    pub fn authenticate(&self, header: Option<&str>) -> Result<&str, CollectorError> {
        let header = header.ok_or(CollectorError::Unauthenticated("no bearer token"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(CollectorError::Unauthenticated(
                "authorization is not a bearer token",
            ))?
            .trim();
        let presented = ccx_model::token::token_digest(token);
        let mut found = None;
        for (hash, tenant) in &self.entries {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(tenant.as_str());
            }
        }
        found.ok_or(CollectorError::Unauthenticated("unknown token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccx_model::hash_token;

    #[test]
    fn tokens_map_to_their_tenant() {
        let tokens = Tokens::new(&[
            TenantToken {
                id: "a".into(),
                token_sha256: hash_token("ta"),
            },
            TenantToken {
                id: "b".into(),
                token_sha256: hash_token("tb"),
            },
        ]);
        assert_eq!(tokens.authenticate(Some("Bearer tb")).unwrap(), "b");
        assert!(tokens.authenticate(Some("Bearer tc")).is_err());
        assert!(tokens.authenticate(Some("tb")).is_err());
        assert!(tokens.authenticate(None).is_err());
    }
}

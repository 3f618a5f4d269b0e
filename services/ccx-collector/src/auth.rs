//! Bearer tokens: each belongs to one tenant and is stored only as its SHA-256. A presented
//! token is hashed and compared with every stored hash in constant time
//! ([`ccx_model::token::TokenTable`]).

use ccx_config::TenantToken;
use ccx_model::token::TokenTable;

use crate::CollectorError;

#[derive(Debug, Clone, Default)]
pub struct Tokens {
    table: TokenTable,
}

impl Tokens {
    pub fn new(tenants: &[TenantToken]) -> Tokens {
        Tokens {
            table: TokenTable::new(
                tenants
                    .iter()
                    .map(|t| (t.id.as_str(), t.token_sha256.as_str())),
            ),
        }
    }

    /// The tenants that have at least one token (bounded, so usable as metric labels).
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.table.tenants()
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
        self.table
            .tenant_of(token)
            .ok_or(CollectorError::Unauthenticated("unknown token"))
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

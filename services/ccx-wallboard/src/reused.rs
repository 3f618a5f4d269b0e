//! Answers of a costly read kept per tenant for a while, so every refresh of every viewer of
//! the tenant does not repeat it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccx_model::sync::lock;

/// When it was read, what was asked (`K`), the answer.
type Entry<K, V> = (Instant, K, V);

/// Per tenant, the last answer of a read keyed by `K` (what the read asked for) and when it was
/// read; shared by the clones of a source.
pub struct Reused<K, V> {
    max_age: Duration,
    by_tenant: Arc<Mutex<HashMap<String, Entry<K, V>>>>,
}

impl<K, V> Clone for Reused<K, V> {
    fn clone(&self) -> Self {
        Reused {
            max_age: self.max_age,
            by_tenant: Arc::clone(&self.by_tenant),
        }
    }
}

impl<K: PartialEq + Clone, V: Clone> Reused<K, V> {
    pub fn new(max_age: Duration) -> Self {
        Reused {
            max_age,
            by_tenant: Arc::default(),
        }
    }

    /// The tenant's answer to `key`, if read less than `max_age` ago.
    pub fn get(&self, tenant: &str, key: &K) -> Option<V> {
        let by_tenant = lock(&self.by_tenant);
        let (at, k, v) = by_tenant.get(tenant)?;
        (k == key && at.elapsed() < self.max_age).then(|| v.clone())
    }

    pub fn put(&self, tenant: &str, key: K, value: V) {
        lock(&self.by_tenant).insert(tenant.to_string(), (Instant::now(), key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_reused_for_its_tenant_and_key_until_it_is_too_old() {
        let reused = Reused::new(Duration::from_millis(200));
        reused.put("t1", 7, "seven");
        assert_eq!(reused.get("t1", &7), Some("seven"));
        assert_eq!(reused.get("t1", &8), None, "another key");
        assert_eq!(reused.get("t2", &7), None, "another tenant");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(reused.get("t1", &7), None, "too old");
    }
}

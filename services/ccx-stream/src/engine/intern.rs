//! Ids, hashing and names: the identity of events, contacts and customers (128-bit hashes),
//! the maps keyed by them, and the per-tenant table of queue and agent names.

use super::*;

/// A hash map with a fast, non-cryptographic hasher.
pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<rustc_hash::FxHasher>>;

/// The identity of an event, contact or customer id: a 128-bit hash of its text ([`NO_ID`]:
/// none). Ids are only compared, never shown, so the text is not kept; two different ids of
/// one tenant sharing a hash has a chance below 10^-20 at a billion ids. Two `u64`s rather
/// than a `u128` keep map slots 8-byte aligned (smaller).
pub(super) type Id = [u64; 2];

pub(super) const NO_ID: Id = [0, 0];

/// A hash map keyed by [`Id`]s: an id is a hash already, so its first word is the map's hash.
pub(super) type IdMap<V> = HashMap<Id, V, std::hash::BuildHasherDefault<IdHasher>>;

#[derive(Default)]
pub(super) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // An `Id` writes its 16 bytes at once: the first 8 are the hash. Anything else is
        // folded in a word at a time.
        match bytes.first_chunk::<8>() {
            Some(word) if bytes.len() == 16 => self.0 ^= u64::from_le_bytes(*word),
            _ => {
                for word in bytes.chunks(8) {
                    let mut w = [0u8; 8];
                    w[..word.len()].copy_from_slice(word);
                    self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(w);
                }
            }
        }
    }

    fn write_usize(&mut self, _length: usize) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(super) fn id_of(text: &[u8]) -> Id {
    if text.is_empty() {
        return NO_ID;
    }
    let h = xxhash_rust::xxh3::xxh3_128(text) | 1;
    [h as u64, (h >> 64) as u64]
}

/// A queue, agent or reason name of one tenant, as an index into its [`Names`] (0: empty).
pub(super) type Sym = u32;

/// The names rows carry (queues, agents) and reasons, each stored once per tenant. These are
/// a tenant's configuration-sized sets, so they are kept for the tenant's lifetime.
#[derive(Debug, Clone)]
pub(super) struct Names {
    /// Names of at most 16 bytes (queue and agent ids nearly always are), found without
    /// following a pointer or comparing bytes one by one.
    pub(super) short: FastMap<ShortName, Sym>,
    pub(super) long: FastMap<Box<[u8]>, Sym>,
    pub(super) names: Vec<Box<str>>,
}

/// A name of at most 16 bytes: its length and two words that, with it, hold all its bytes
/// (the first and last eight bytes, which overlap when shorter than 16; shorter still, the
/// first and last four, or the bytes themselves).
pub(super) type ShortName = ([u64; 2], u8);

pub(super) fn short_name(name: &[u8]) -> Option<ShortName> {
    let len = name.len();
    let word = |at: usize| name[at..at + 8].try_into().map_or(0, u64::from_le_bytes);
    let half = |at: usize| name[at..at + 4].try_into().map_or(0, u32::from_le_bytes);
    let words = match len {
        8..=16 => [word(0), word(len - 8)],
        4..=7 => [u64::from(half(0)) | u64::from(half(len - 4)) << 32, 0],
        0..=3 => [name.iter().fold(0, |w, b| w << 8 | u64::from(*b)), 0],
        _ => return None,
    };
    Some((words, len as u8))
}

impl Default for Names {
    fn default() -> Self {
        Names {
            short: FastMap::default(),
            long: FastMap::default(),
            names: vec![Box::from("")],
        }
    }
}

impl Names {
    /// The symbol of a name given as UTF-8 bytes (a name that is not UTF-8 is stored with
    /// replacement characters; records are checked before they get here).
    pub(super) fn intern(&mut self, name: &[u8]) -> Sym {
        if name.is_empty() {
            return 0;
        }
        let short = short_name(name);
        let known = match short {
            Some(key) => self.short.get(&key),
            None => self.long.get(name),
        };
        if let Some(sym) = known {
            return *sym;
        }
        let sym = self.names.len() as Sym;
        self.names
            .push(String::from_utf8_lossy(name).into_owned().into_boxed_str());
        match short {
            Some(key) => self.short.insert(key, sym),
            None => self.long.insert(Box::from(name), sym),
        };
        sym
    }

    /// The symbol of a name already interned.
    pub(super) fn lookup(&self, name: &[u8]) -> Option<Sym> {
        match short_name(name) {
            Some(key) => self.short.get(&key),
            None => self.long.get(name),
        }
        .copied()
    }

    pub(super) fn name(&self, sym: Sym) -> &str {
        self.names.get(sym as usize).map(|n| &**n).unwrap_or("")
    }
}

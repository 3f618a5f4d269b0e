//! Durable raft storage: a write-ahead log of entries and hard states, and a snapshot file.
//!
//! Layout of a replica's data directory:
//! - `snapshot.bin`: the latest snapshot (raft `Snapshot` protobuf: metadata with index, term
//!   and configuration, and the state machine as data), replaced atomically (write a temporary
//!   file, fsync, rename, fsync the directory).
//! - `raft.wal`: records `[len u32][crc32 u32][kind u8][payload]`. Kinds: an entry (replayed in
//!   order; an entry at index i discards any later-indexed entries before it, which is how a
//!   conflicting suffix is overwritten), a hard state, and a compaction mark. Each batch of a raft
//!   `Ready` is one write followed by one `fdatasync`, before any message that depends on it is
//!   sent. A torn record at the tail (crash during a write) ends the replay and is cut off.
//!
//! Compaction writes the snapshot first, then rewrites the log with the entries still kept.
//! The in-memory view (entries after the compaction point) serves raft's `Storage` reads.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use raft::prelude::*;
use raft::{GetEntriesContext, RaftState, StorageError};
use raft_protobuf::Message as PbMessage;

const WAL: &str = "raft.wal";
const SNAPSHOT: &str = "snapshot.bin";
const KIND_ENTRY: u8 = 1;
const KIND_HARD_STATE: u8 = 2;
const KIND_COMPACTED: u8 = 3;
const HEADER: usize = 9;

struct Core {
    hard_state: HardState,
    /// Configuration given to raft at start: the snapshot's, or the bootstrap one.
    conf_state: ConfState,
    snapshot: Snapshot,
    /// Index and term of the entry just before `entries[0]`.
    offset_index: u64,
    offset_term: u64,
    entries: Vec<Entry>,
}

impl Core {
    fn first_index(&self) -> u64 {
        self.offset_index + 1
    }

    fn last_index(&self) -> u64 {
        self.offset_index + self.entries.len() as u64
    }

    fn append_mem(&mut self, entry: Entry) -> io::Result<()> {
        if entry.index <= self.offset_index {
            return Ok(());
        }
        let keep = (entry.index - self.offset_index - 1) as usize;
        if keep > self.entries.len() {
            return Err(corrupt(format!(
                "log gap: entry {} after last index {}",
                entry.index,
                self.last_index()
            )));
        }
        self.entries.truncate(keep);
        self.entries.push(entry);
        Ok(())
    }

    fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.offset_index {
            return Some(self.offset_term);
        }
        if index < self.offset_index || index > self.last_index() {
            return None;
        }
        Some(self.entries[(index - self.offset_index - 1) as usize].term)
    }

    fn compact_mem(&mut self, index: u64, term: u64) {
        if index <= self.offset_index {
            return;
        }
        let drop = ((index - self.offset_index) as usize).min(self.entries.len());
        self.entries.drain(..drop);
        self.offset_index = index;
        self.offset_term = term;
    }
}

/// Raft storage persisted in a data directory; cheap to clone (shared state).
#[derive(Clone)]
pub struct DiskStorage {
    core: Arc<RwLock<Core>>,
    wal: Arc<std::sync::Mutex<File>>,
    dir: PathBuf,
    sync: bool,
    /// Raft asked for a snapshot the stored one cannot serve (too old, or taken before the
    /// recipient joined): the node takes a fresh one.
    snapshot_wanted: Arc<std::sync::atomic::AtomicBool>,
}

fn corrupt(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn pb_err(e: raft_protobuf::ProtobufError) -> io::Error {
    corrupt(e.to_string())
}

fn record(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    let mut crc = Crc32::new();
    crc.update(&[kind]);
    crc.update(payload);
    out.extend_from_slice(&(payload.len() as u32 + 1).to_le_bytes());
    out.extend_from_slice(&crc.finish().to_le_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `dir/name` atomically (temporary file, fsync, rename, fsync dir).
fn write_atomic(dir: &Path, name: &str, bytes: &[u8], sync: bool) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
    }
    fs::rename(&tmp, dir.join(name))?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
}

impl DiskStorage {
    /// Opens (or creates) the storage in `dir`. With `sync` false, nothing is fsync'd (simulated
    /// clusters in tests only).
    pub fn open(dir: &Path, sync: bool) -> io::Result<DiskStorage> {
        fs::create_dir_all(dir)?;
        let snapshot = match fs::read(dir.join(SNAPSHOT)) {
            Ok(bytes) => Snapshot::parse_from_bytes(&bytes).map_err(pb_err)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Snapshot::default(),
            Err(e) => return Err(e),
        };
        let meta = snapshot.get_metadata();
        let mut core = Core {
            hard_state: HardState::default(),
            conf_state: meta.get_conf_state().clone(),
            offset_index: meta.index,
            offset_term: meta.term,
            snapshot: snapshot.clone(),
            entries: Vec::new(),
        };
        let path = dir.join(WAL);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut pos = 0usize;
        while pos + HEADER <= bytes.len() {
            let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
            let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap());
            if len == 0 || pos + 8 + len > bytes.len() {
                break;
            }
            let body = &bytes[pos + 8..pos + 8 + len];
            let mut c = Crc32::new();
            c.update(body);
            if c.finish() != crc {
                break;
            }
            let (kind, payload) = (body[0], &body[1..]);
            match kind {
                KIND_ENTRY => core.append_mem(Entry::parse_from_bytes(payload).map_err(pb_err)?)?,
                KIND_HARD_STATE => {
                    core.hard_state = HardState::parse_from_bytes(payload).map_err(pb_err)?
                }
                KIND_COMPACTED if payload.len() == 16 => {
                    let index = u64::from_le_bytes(payload[..8].try_into().unwrap());
                    let term = u64::from_le_bytes(payload[8..].try_into().unwrap());
                    if core.entries.is_empty() {
                        core.offset_index = index;
                        core.offset_term = term;
                    } else {
                        core.compact_mem(index, term);
                    }
                }
                other => return Err(corrupt(format!("unknown wal record kind {other}"))),
            }
            pos += 8 + len;
        }
        // The snapshot is written before the log is rewritten: a crash in between leaves a log
        // that may not reach the snapshot; then the snapshot alone is the start of the log.
        let (si, st) = (meta.index, meta.term);
        if si > core.last_index() || si < core.offset_index || core.term_at(si) != Some(st) {
            core.entries.clear();
            core.offset_index = si;
            core.offset_term = st;
        }
        let hs = &mut core.hard_state;
        hs.commit = hs.commit.max(core.snapshot.get_metadata().index);
        hs.term = hs.term.max(core.snapshot.get_metadata().term);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        // Cut a torn tail so that new records follow the last good one.
        file.set_len(pos as u64)?;
        use std::io::Seek;
        file.seek(io::SeekFrom::End(0))?;
        Ok(DiskStorage {
            core: Arc::new(RwLock::new(core)),
            wal: Arc::new(std::sync::Mutex::new(file)),
            dir: dir.to_path_buf(),
            sync,
            snapshot_wanted: Default::default(),
        })
    }

    fn rl(&self) -> RwLockReadGuard<'_, Core> {
        ccx_model::sync::read(&self.core)
    }

    fn wl(&self) -> RwLockWriteGuard<'_, Core> {
        ccx_model::sync::write(&self.core)
    }

    /// True once the storage holds a configuration, a hard state or entries.
    pub fn is_initialized(&self) -> bool {
        let c = self.rl();
        !c.conf_state.voters.is_empty()
            || !c.conf_state.learners.is_empty()
            || c.hard_state != HardState::default()
            || c.last_index() > 0
    }

    /// Writes the initial configuration of a new cluster as a snapshot at index 1, term 1 with
    /// an empty state. Every founding replica writes the same one; a replica that joins later
    /// has an empty log, so the leader's first entry (2) is beyond it and it is sent a snapshot,
    /// which carries the configuration it joins.
    pub fn bootstrap(&self, voters: Vec<u64>) -> io::Result<()> {
        let mut snapshot = Snapshot::default();
        let meta = snapshot.mut_metadata();
        meta.index = 1;
        meta.term = 1;
        meta.set_conf_state(ConfState::from((voters, Vec::<u64>::new())));
        let bytes = snapshot.write_to_bytes().map_err(pb_err)?;
        write_atomic(&self.dir, SNAPSHOT, &bytes, self.sync)?;
        let mut c = self.wl();
        c.conf_state = snapshot.get_metadata().get_conf_state().clone();
        c.snapshot = snapshot;
        c.offset_index = 1;
        c.offset_term = 1;
        c.hard_state.term = c.hard_state.term.max(1);
        c.hard_state.commit = c.hard_state.commit.max(1);
        Ok(())
    }

    /// Persists `entries` (overwriting any conflicting suffix) and the hard state, with one
    /// fsync. Returns after the data is durable.
    pub fn append(&self, entries: &[Entry], hard_state: Option<&HardState>) -> io::Result<()> {
        if entries.is_empty() && hard_state.is_none() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for e in entries {
            record(KIND_ENTRY, &e.write_to_bytes().map_err(pb_err)?, &mut buf);
        }
        if let Some(hs) = hard_state {
            record(
                KIND_HARD_STATE,
                &hs.write_to_bytes().map_err(pb_err)?,
                &mut buf,
            );
        }
        {
            let mut f = ccx_model::sync::lock(&self.wal);
            f.write_all(&buf)?;
            if self.sync {
                f.sync_data()?;
            }
        }
        let mut c = self.wl();
        for e in entries {
            c.append_mem(e.clone())?;
        }
        if let Some(hs) = hard_state {
            c.hard_state = hs.clone();
        }
        Ok(())
    }

    /// Records a newer commit index in memory (persisted with the next hard state).
    pub fn set_commit(&self, commit: u64) {
        let mut c = self.wl();
        c.hard_state.commit = c.hard_state.commit.max(commit);
    }

    pub fn hard_state(&self) -> HardState {
        self.rl().hard_state.clone()
    }

    /// The latest snapshot (metadata and state-machine data).
    pub fn latest_snapshot(&self) -> Snapshot {
        self.rl().snapshot.clone()
    }

    pub fn snapshot_index(&self) -> u64 {
        self.rl().snapshot.get_metadata().index
    }

    /// Installs a snapshot received from the leader: it replaces the whole log.
    pub fn apply_snapshot(&self, snapshot: &Snapshot) -> io::Result<()> {
        let meta = snapshot.get_metadata();
        let bytes = snapshot.write_to_bytes().map_err(pb_err)?;
        write_atomic(&self.dir, SNAPSHOT, &bytes, self.sync)?;
        let mut c = self.wl();
        c.snapshot = snapshot.clone();
        c.conf_state = meta.get_conf_state().clone();
        c.entries.clear();
        c.offset_index = meta.index;
        c.offset_term = meta.term;
        c.hard_state.commit = c.hard_state.commit.max(meta.index);
        c.hard_state.term = c.hard_state.term.max(meta.term);
        self.rewrite_wal(&c)
    }

    /// Stores a snapshot of the applied state at `snapshot`'s index and drops the log up to
    /// `keep_from - 1` (entries from `keep_from` on stay, for followers that lag a little).
    pub fn compact(&self, snapshot: Snapshot, keep_from: u64) -> io::Result<()> {
        let bytes = snapshot.write_to_bytes().map_err(pb_err)?;
        write_atomic(&self.dir, SNAPSHOT, &bytes, self.sync)?;
        let mut c = self.wl();
        let index = snapshot.get_metadata().index;
        c.snapshot = snapshot;
        let cut = keep_from.saturating_sub(1).min(index);
        if cut > c.offset_index && cut <= c.last_index() {
            let term = c.entries[(cut - c.offset_index - 1) as usize].term;
            c.compact_mem(cut, term);
        }
        self.rewrite_wal(&c)
    }

    fn rewrite_wal(&self, c: &Core) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut mark = c.offset_index.to_le_bytes().to_vec();
        mark.extend_from_slice(&c.offset_term.to_le_bytes());
        record(KIND_COMPACTED, &mark, &mut buf);
        record(
            KIND_HARD_STATE,
            &c.hard_state.write_to_bytes().map_err(pb_err)?,
            &mut buf,
        );
        for e in &c.entries {
            record(KIND_ENTRY, &e.write_to_bytes().map_err(pb_err)?, &mut buf);
        }
        let mut wal = ccx_model::sync::lock(&self.wal);
        write_atomic(&self.dir, WAL, &buf, self.sync)?;
        let mut f = OpenOptions::new().append(true).open(self.dir.join(WAL))?;
        f.flush()?;
        *wal = f;
        Ok(())
    }

    /// True (once) when raft asked for a snapshot newer than the stored one.
    pub fn take_snapshot_wanted(&self) -> bool {
        self.snapshot_wanted
            .swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    pub fn first_index_now(&self) -> u64 {
        self.rl().first_index()
    }

    pub fn last_index_now(&self) -> u64 {
        self.rl().last_index()
    }

    /// Term of entry `index` if the storage still has it.
    pub fn term_of(&self, index: u64) -> Option<u64> {
        raft::Storage::term(self, index).ok()
    }
}

impl raft::Storage for DiskStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let c = self.rl();
        Ok(RaftState::new(c.hard_state.clone(), c.conf_state.clone()))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let c = self.rl();
        if low <= c.offset_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > c.last_index() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let lo = (low - c.offset_index - 1) as usize;
        let hi = (high - c.offset_index - 1) as usize;
        let max = max_size.into().unwrap_or(u64::MAX);
        let mut out = Vec::with_capacity(hi - lo);
        let mut size = 0u64;
        for e in &c.entries[lo..hi] {
            size += e.compute_size() as u64;
            if !out.is_empty() && size > max {
                break;
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        let c = self.rl();
        if idx == c.offset_index {
            return Ok(c.offset_term);
        }
        if idx < c.offset_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if idx > c.last_index() {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(c.entries[(idx - c.offset_index - 1) as usize].term)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.rl().first_index())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.rl().last_index())
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        let c = self.rl();
        let meta = c.snapshot.get_metadata();
        let cs = meta.get_conf_state();
        let knows_recipient = [
            &cs.voters,
            &cs.learners,
            &cs.voters_outgoing,
            &cs.learners_next,
        ]
        .iter()
        .any(|ids| ids.contains(&to));
        if meta.index < request_index || !knows_recipient {
            self.snapshot_wanted
                .store(true, std::sync::atomic::Ordering::SeqCst);
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(c.snapshot.clone())
    }
}

/// CRC-32 (IEEE), table driven.
struct Crc32(u32);

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

impl Crc32 {
    fn new() -> Crc32 {
        Crc32(0xFFFF_FFFF)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = CRC_TABLE[((self.0 ^ b as u32) & 0xFF) as usize] ^ (self.0 >> 8);
        }
    }

    fn finish(&self) -> u32 {
        !self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::Storage;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            data: vec![index as u8; 3].into(),
            ..Default::default()
        }
    }

    #[test]
    fn crc_matches_reference() {
        let mut c = Crc32::new();
        c.update(b"123456789");
        assert_eq!(c.finish(), 0xCBF4_3926);
    }

    #[test]
    fn survives_reopen_with_overwrite_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let s = DiskStorage::open(dir.path(), true).unwrap();
        assert!(!s.is_initialized());
        s.bootstrap(vec![1, 2, 3]).unwrap();
        let entries: Vec<_> = (1..=5).map(|i| entry(i, 1)).collect();
        let hs = HardState {
            term: 1,
            commit: 2,
            ..Default::default()
        };
        s.append(&entries, Some(&hs)).unwrap();
        // A new leader overwrites 4..5 with term 2.
        s.append(&[entry(4, 2)], None).unwrap();
        drop(s);
        // A torn record at the tail is ignored.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(WAL))
            .unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let s = DiskStorage::open(dir.path(), true).unwrap();
        assert!(s.is_initialized());
        assert_eq!(s.last_index().unwrap(), 4);
        assert_eq!(s.term(4).unwrap(), 2);
        assert_eq!(s.term(3).unwrap(), 1);
        let state = s.initial_state().unwrap();
        assert_eq!(state.hard_state.commit, 2);
        assert_eq!(state.conf_state.voters, vec![1, 2, 3]);
        s.append(&[entry(5, 2)], None).unwrap();
        drop(s);
        let s = DiskStorage::open(dir.path(), true).unwrap();
        assert_eq!(s.last_index().unwrap(), 5);
    }

    #[test]
    fn compaction_keeps_tail_and_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let s = DiskStorage::open(dir.path(), false).unwrap();
        s.bootstrap(vec![1]).unwrap();
        let entries: Vec<_> = (1..=10).map(|i| entry(i, 1)).collect();
        s.append(&entries, None).unwrap();
        let mut snap = Snapshot::default();
        snap.mut_metadata().index = 8;
        snap.mut_metadata().term = 1;
        snap.mut_metadata()
            .set_conf_state(ConfState::from((vec![1], vec![])));
        snap.data = b"state".to_vec().into();
        s.compact(snap, 6).unwrap();
        assert_eq!(s.first_index().unwrap(), 6);
        assert_eq!(s.term(5).unwrap(), 1);
        assert!(s.term(4).is_err());
        drop(s);
        let s = DiskStorage::open(dir.path(), false).unwrap();
        assert_eq!(s.first_index().unwrap(), 6);
        assert_eq!(s.last_index().unwrap(), 10);
        assert_eq!(&s.snapshot(0, 1).unwrap().data[..], b"state");
        assert!(s.snapshot(0, 2).is_err());
        assert!(s.take_snapshot_wanted());
        assert_eq!(s.initial_state().unwrap().hard_state.commit, 8);
        let got = s
            .entries(6, 11, None, GetEntriesContext::empty(false))
            .unwrap();
        assert_eq!(got.len(), 5);
    }
}

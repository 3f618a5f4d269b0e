//! Checkpoints: per worker, the state of its tenants (their watermarks included) and the
//! next offsets of its partitions, taken at the same processing-time boundary by every worker. A boundary is restorable once every
//! worker wrote it; files are written (tmp + fsync + rename) only after the rows they cover.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::TenantState;

/// `T` is `(String, TenantState)` read back, and `(&String, &TenantState)` when a worker writes
/// its engine's state without copying it (the bytes are the same).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerCheckpoint<T = (String, TenantState)> {
    /// The boundary (an epoch of the dataflow: wall-clock ms): every event sent before it is
    /// in `tenants`, none after.
    pub boundary: u64,
    pub workers: usize,
    pub worker: usize,
    /// (partition, next offset to read).
    pub offsets: Vec<(i32, i64)>,
    pub tenants: Vec<T>,
}

impl<T: Serialize> WorkerCheckpoint<T> {
    /// The file's bytes: encoding is about twice as fast as a copy of the state, so the
    /// worker encodes and another thread writes.
    pub fn encode(&self) -> std::io::Result<Encoded> {
        self.encode_into(Vec::new())
    }

    /// [`WorkerCheckpoint::encode`] into the buffer of an earlier checkpoint: a buffer of the
    /// state's size is neither grown again nor faulted in again at every checkpoint.
    pub fn encode_into(&self, mut bytes: Vec<u8>) -> std::io::Result<Encoded> {
        bytes.clear();
        bytes.extend_from_slice(&FORMAT.to_le_bytes());
        bincode::serialize_into(&mut bytes, self).map_err(std::io::Error::other)?;
        Ok(Encoded {
            boundary: self.boundary,
            worker: self.worker,
            workers: self.workers,
            bytes,
        })
    }
}

/// A checkpoint ready to be written by [`CheckpointDir::write`].
pub struct Encoded {
    boundary: u64,
    worker: usize,
    workers: usize,
    bytes: Vec<u8>,
}

impl Encoded {
    /// The buffer, for [`WorkerCheckpoint::encode_into`].
    pub fn into_buffer(self) -> Vec<u8> {
        self.bytes
    }
}

/// The layout of the engine state in checkpoint files, written first in every file. A file of
/// another layout (another engine version) is refused with a clear error rather than misread.
pub const FORMAT: u32 = 9;

pub struct CheckpointDir {
    path: PathBuf,
}

impl CheckpointDir {
    pub fn new(path: impl Into<PathBuf>) -> std::io::Result<CheckpointDir> {
        let path = path.into();
        fs::create_dir_all(&path)?;
        Ok(CheckpointDir { path })
    }

    fn file(&self, boundary: u64, worker: usize, workers: usize) -> PathBuf {
        self.path
            .join(format!("ckpt-{boundary:020}-w{worker}-of{workers}.bin"))
    }

    /// Writes durably: a reader sees the whole file or none of it.
    pub fn write(&self, ckpt: &Encoded) -> std::io::Result<()> {
        let target = self.file(ckpt.boundary, ckpt.worker, ckpt.workers);
        let tmp = target.with_extension("tmp");
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&ckpt.bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &target)?;
        fs::File::open(&self.path)?.sync_all()?;
        Ok(())
    }

    /// (boundary, worker) of every file written for a cluster of `workers`.
    fn list(&self, workers: usize) -> Vec<(u64, usize)> {
        let suffix = format!("-of{workers}.bin");
        let Ok(entries) = fs::read_dir(&self.path) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|name| {
                let rest = name.strip_prefix("ckpt-")?.strip_suffix(&suffix)?;
                let (boundary, worker) = rest.split_once("-w")?;
                Some((boundary.parse().ok()?, worker.parse().ok()?))
            })
            .collect()
    }

    /// The newest boundary every one of `workers` wrote.
    pub fn latest_complete(&self, workers: usize) -> Option<u64> {
        let mut by_boundary = std::collections::BTreeMap::<u64, usize>::new();
        for (boundary, _) in self.list(workers) {
            *by_boundary.entry(boundary).or_default() += 1;
        }
        by_boundary
            .into_iter()
            .rev()
            .find(|(_, n)| *n == workers)
            .map(|(b, _)| b)
    }

    pub fn load(
        &self,
        boundary: u64,
        worker: usize,
        workers: usize,
    ) -> std::io::Result<WorkerCheckpoint> {
        let file = self.file(boundary, worker, workers);
        let bytes = fs::read(&file)?;
        let format = bytes
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if format != Some(FORMAT) {
            return Err(std::io::Error::other(format!(
                "checkpoint {} is not in format {FORMAT} (written by another version of the \
                 engine): run that version, or remove the checkpoint directory to recompute \
                 from the log",
                file.display()
            )));
        }
        bincode::deserialize(&bytes[4..]).map_err(std::io::Error::other)
    }

    /// Removes this worker's files older than the newest complete boundary.
    pub fn prune(&self, worker: usize, workers: usize) {
        let Some(keep) = self.latest_complete(workers) else {
            return;
        };
        for (boundary, w) in self.list(workers) {
            if w == worker && boundary < keep {
                let _ = fs::remove_file(self.file(boundary, w, workers));
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_written_from_borrowed_state_reads_back_and_another_format_is_refused() {
        let dir = std::env::temp_dir().join(format!("ccx-ckpt-test-{}", std::process::id()));
        let ckpts = CheckpointDir::new(&dir).unwrap();
        let (tenant, state) = ("t1".to_string(), TenantState::default());
        let ckpt = WorkerCheckpoint {
            boundary: 10_000,
            workers: 1,
            worker: 0,
            offsets: vec![(0, 42)],
            tenants: vec![(&tenant, &state)],
        };
        ckpts.write(&ckpt.encode().unwrap()).unwrap();
        assert_eq!(ckpts.latest_complete(1), Some(10_000));
        let back = ckpts.load(10_000, 0, 1).unwrap();
        assert_eq!((back.boundary, back.offsets), (10_000, vec![(0, 42)]));
        assert_eq!(back.tenants.len(), 1);
        assert_eq!(back.tenants[0].0, tenant);

        let file = ckpts.file(10_000, 0, 1);
        let mut bytes = fs::read(&file).unwrap();
        bytes[..4].copy_from_slice(&(FORMAT + 1).to_le_bytes());
        fs::write(&file, bytes).unwrap();
        let err = ckpts.load(10_000, 0, 1).unwrap_err().to_string();
        assert!(err.contains("not in format"), "{err}");
        fs::remove_dir_all(dir).unwrap();
    }
}

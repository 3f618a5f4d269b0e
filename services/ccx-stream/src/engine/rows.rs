//! Row tables: the minute rows a tenant accumulates (components per key), and their SPEC §5
//! keys.

use super::*;

/// The numeric part of a row key: (minute, channel, direction) or (minute, channel, 0).
pub(super) type RowNum = (i64, u8, u8);

/// Rows of one table of one tenant, keyed by a numeric part and a name (queue or agent),
/// with the keys changed since the last hand-over and their values then (what a rollup of
/// the rows holds of them).
#[derive(Debug, Clone)]
pub(super) struct RowTable<V> {
    pub(super) rows: FastMap<(RowNum, Sym), (V, bool)>,
    pub(super) dirty: Vec<(RowNum, Sym, V)>,
}

impl<V> Default for RowTable<V> {
    fn default() -> Self {
        RowTable {
            rows: FastMap::default(),
            dirty: Vec::new(),
        }
    }
}

impl<V: Copy + Default + AddAssign> RowTable<V> {
    pub(super) fn add(&mut self, num: RowNum, id: Sym, value: V) {
        self.add_with(num, id, |row| *row += value);
    }

    /// Changes the row of (`num`, `id`) in place with `change`.
    pub(super) fn add_with(&mut self, num: RowNum, id: Sym, change: impl FnOnce(&mut V)) {
        let (row, dirty) = self.rows.entry((num, id)).or_default();
        if !*dirty {
            *dirty = true;
            self.dirty.push((num, id, *row));
        }
        change(row);
    }

    pub(super) fn get(&self, key: &(RowNum, Sym)) -> V {
        self.rows.get(key).map(|(v, _)| *v).unwrap_or_default()
    }

    /// The changed rows with their current values; clears the change marks.
    pub(super) fn take_dirty(&mut self) -> Vec<(RowNum, Sym, V)> {
        self.take_changes()
            .into_iter()
            .map(|(num, id, value, _)| (num, id, value))
            .collect()
    }

    /// The changed rows with their current values and their values at the last hand-over;
    /// clears the change marks.
    pub(super) fn take_changes(&mut self) -> Vec<(RowNum, Sym, V, V)> {
        let mut out = Vec::with_capacity(self.dirty.len());
        for (num, id, before) in std::mem::take(&mut self.dirty) {
            if let Some((value, dirty)) = self.rows.get_mut(&(num, id)) {
                *dirty = false;
                out.push((num, id, *value, before));
            }
        }
        out
    }

    pub(super) fn all(&self) -> impl Iterator<Item = (RowNum, Sym, V)> + '_ {
        self.rows.iter().map(|((num, id), (v, _))| (*num, *id, *v))
    }

    /// Drops rows of minutes before `horizon` that were handed over already.
    pub(super) fn forget_before(&mut self, horizon: i64) {
        self.forget_if(|minute| minute < horizon);
    }

    /// Drops the rows handed over already whose window start `gone` says is done with.
    pub(super) fn forget_if(&mut self, gone: impl Fn(i64) -> bool) {
        self.rows
            .retain(|((start, _, _), _), (_, dirty)| !gone(*start) || *dirty);
        shrink(&mut self.rows);
    }
}

/// Gives memory back once a map holds a quarter of what it has room for.
pub(super) fn shrink<K: std::hash::Hash + Eq, V, S: std::hash::BuildHasher>(
    map: &mut HashMap<K, V, S>,
) {
    if map.capacity() > 1024 && map.capacity() > 4 * map.len() {
        map.shrink_to_fit();
    }
}

pub(super) fn queue_key(
    tenant: &str,
    (minute, channel, direction): RowNum,
    queue_id: &str,
) -> QueueKey {
    QueueKey {
        tenant_id: tenant.to_string(),
        window_start: minute,
        queue_id: queue_id.to_string(),
        channel: channel_name(channel),
        direction: direction_name(direction),
    }
}

pub(super) fn reason_key(
    tenant: &str,
    (minute, channel, direction): RowNum,
    reason: &str,
) -> ReasonKey {
    ReasonKey {
        tenant_id: tenant.to_string(),
        window_start: minute,
        reason: reason.to_string(),
        channel: channel_name(channel),
        direction: direction_name(direction),
    }
}

pub(super) fn agent_key(tenant: &str, (minute, channel, _): RowNum, agent_id: &str) -> AgentKey {
    AgentKey {
        tenant_id: tenant.to_string(),
        window_start: minute,
        agent_id: agent_id.to_string(),
        channel: channel_name(channel),
    }
}

pub(super) fn agent_minute(tenant: &str, (minute, _, _): RowNum, agent_id: &str) -> AgentMinute {
    AgentMinute {
        tenant_id: tenant.to_string(),
        window_start: minute,
        agent_id: agent_id.to_string(),
    }
}

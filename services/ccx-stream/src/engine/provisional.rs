//! Provisional rows: the events still waiting for the watermark applied, in SPEC order, to
//! copies of their contacts, and the rows they would make handed over ahead of the final ones.

use super::tenant::*;
use super::*;

/// Replaces or adds in `rows` (the changed rows, with final values): each row `changes`
/// touches, with its final value plus that change, and each row of `last` (the provisional
/// rows handed over last time) with its final value, so a speculation that is gone is
/// withdrawn. Returns the keys `changes` touches (this time's provisional rows).
pub(super) fn speculate(
    table: &RowTable<Components>,
    last: &BTreeSet<(RowNum, Sym)>,
    changes: &RowTable<Components>,
    rows: &mut Vec<(RowNum, Sym, Components)>,
) -> BTreeSet<(RowNum, Sym)> {
    let changes: BTreeMap<(RowNum, Sym), Components> =
        changes.all().map(|(num, id, v)| ((num, id), v)).collect();
    let mut values = BTreeMap::new();
    for key in last.iter().chain(changes.keys()) {
        let mut value = table.get(key);
        if let Some(delta) = changes.get(key) {
            value += *delta;
        }
        values.insert(*key, value);
    }
    rows.retain(|(num, id, _)| !values.contains_key(&(*num, *id)));
    rows.extend(values.into_iter().map(|((num, id), v)| (num, id, v)));
    changes.into_keys().collect()
}

impl TenantState {
    /// Applies the buffered events to a scratch copy of the contacts they touch and turns the
    /// changes into provisional rows (final value + speculative change) in `queue`/`agent`,
    /// which hold the changed rows' final values. Returns the scratch state, whose queue and
    /// agent rows are the speculative changes (for the rollups).
    pub(super) fn provisional(
        &mut self,
        tenant: &str,
        s: &TenantSettings,
        queue: &mut Vec<(RowNum, Sym, Components)>,
        agent: &mut Vec<(RowNum, Sym, Components)>,
    ) -> TenantState {
        let mut scratch = TenantState::default();
        // Over a backlog nothing is speculated: rows shown before get their final values.
        if self.buffer.len <= PROVISIONAL_MAX_WAITING {
            scratch.speculate_buffer(tenant, s, self);
        }
        self.provisional_queue = speculate(
            &self.queue_rows,
            &self.provisional_queue,
            &scratch.queue_rows,
            queue,
        );
        self.provisional_agent = speculate(
            &self.agent_rows,
            &self.provisional_agent,
            &scratch.agent_rows,
            agent,
        );
        scratch
    }

    /// Applies `live`'s buffered events, in SPEC order, to this scratch state holding copies
    /// of the contacts they touch.
    fn speculate_buffer(&mut self, tenant: &str, s: &TenantSettings, live: &TenantState) {
        for ev in live.buffer.iter() {
            let id = ev.contact();
            if let Some(contact) = live.contacts.get(&id) {
                self.contacts.entry(id).or_insert_with(|| contact.clone());
            }
        }
        let mut pending: Vec<&Ev> = live.buffer.iter().collect();
        pending.sort_by(|a, b| a.cmp_order(b));
        for ev in pending {
            self.apply(tenant, s, ev);
        }
    }
}

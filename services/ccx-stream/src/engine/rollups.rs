//! Hourly and daily rollups of a tenant's queue, agent and reason rows (docs/metrics.md,
//! "Rollups"). They are kept from what is handed over, not from events: each changed minute
//! row adds its change since the last hand-over (new − old) to its hour and its day, so a
//! rollup row is the sum of its minute rows as written, whatever changed them (late FCR
//! verdicts, provisional rows withdrawn, a restart's rewrite).

use std::collections::btree_map::Entry as BTreeEntry;

use ccx_model::rollup::{hour_of, local_day, Tz, HOUR_MS};

use super::*;

/// The minute tables that have rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rolled {
    Queue,
    Agent,
    Reason,
}

/// The rollups of one tenant: per table, sums keyed like its minute rows with the minute
/// replaced by its hour or its day's start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Rollups {
    hour: [RowTable<Components>; 3],
    day: [RowTable<Components>; 3],
    /// The day (its start) of each minute that has rows, fixed by its first row so that a
    /// change of time zone never splits a minute's changes between two days.
    minute_days: BTreeMap<i64, i64>,
    /// Each day held by its start: its date (days since 1970-01-01) and its end.
    days: BTreeMap<i64, (i32, i64)>,
    /// Keys of the provisional queue and agent rollup rows last handed over.
    provisional_hour: [BTreeSet<(RowNum, Sym)>; 2],
    provisional_day: [BTreeSet<(RowNum, Sym)>; 2],
    /// Rows of minutes before it are final (the engine's [`rows_final_before`]).
    horizon: i64,
}

/// A tenant's rollup rows to hand over, keyed numerically like minute rows.
#[derive(Debug, Default)]
pub(super) struct RollupChanges {
    pub(super) hour: [Vec<(RowNum, Sym, Components)>; 3],
    pub(super) day: [Vec<(RowNum, Sym, Components)>; 3],
}

impl Rollups {
    /// The start of the day of `minute`: the day it was given, or its day in `tz`.
    fn day_of(&mut self, minute: i64, tz: Tz) -> i64 {
        match self.minute_days.entry(minute) {
            BTreeEntry::Occupied(day) => *day.get(),
            BTreeEntry::Vacant(slot) => {
                let day = local_day(minute, tz);
                self.days.entry(day.start).or_insert((day.date, day.end));
                *slot.insert(day.start)
            }
        }
    }

    /// Adds each changed minute row's change since the last hand-over to its hour and day.
    pub(super) fn apply(
        &mut self,
        table: Rolled,
        tz: Tz,
        changes: &[(RowNum, Sym, Components, Components)],
    ) {
        let i = table as usize;
        for ((minute, channel, direction), id, now, before) in changes {
            let delta = now.minus(before);
            if delta.is_zero() {
                continue;
            }
            let day = self.day_of(*minute, tz);
            self.hour[i].add_with((hour_of(*minute), *channel, *direction), *id, |row| {
                row.add_from(&delta)
            });
            self.day[i].add_with((day, *channel, *direction), *id, |row| row.add_from(&delta));
        }
    }

    /// The rollup rows changed since the last hand-over, with their values; with
    /// `speculated` (the provisional queue and agent changes of the waiting events, see
    /// `provisional.rs`) added to theirs, and the provisional rows of last time no longer
    /// speculated on sent again with their final values.
    pub(super) fn take(
        &mut self,
        tz: Tz,
        speculated: Option<[&RowTable<Components>; 2]>,
    ) -> RollupChanges {
        let mut out = RollupChanges::default();
        for i in 0..3 {
            out.hour[i] = self.hour[i].take_dirty();
            out.day[i] = self.day[i].take_dirty();
        }
        if let Some(speculated) = speculated {
            for (i, changes) in speculated.into_iter().enumerate() {
                let (mut hours, mut days) = (RowTable::default(), RowTable::default());
                for ((minute, channel, direction), id, delta) in changes.all() {
                    let day = self.day_of(minute, tz);
                    hours.add((hour_of(minute), channel, direction), id, delta);
                    days.add((day, channel, direction), id, delta);
                }
                self.provisional_hour[i] = provisional::speculate(
                    &self.hour[i],
                    &self.provisional_hour[i],
                    &hours,
                    &mut out.hour[i],
                );
                self.provisional_day[i] = provisional::speculate(
                    &self.day[i],
                    &self.provisional_day[i],
                    &days,
                    &mut out.day[i],
                );
            }
        }
        out
    }

    /// Sets the finality horizon (rows of minutes before it no longer change).
    pub(super) fn final_before(&mut self, horizon: i64) {
        self.horizon = horizon;
    }

    /// Drops the hours and days whose every minute is final, once handed over.
    pub(super) fn forget(&mut self) {
        let horizon = self.horizon;
        for table in &mut self.hour {
            table.forget_if(|hour| hour + HOUR_MS <= horizon);
        }
        let days = &self.days;
        let ended = |start: i64| days.get(&start).is_none_or(|(_, end)| *end <= horizon);
        for table in &mut self.day {
            table.forget_if(ended);
        }
        let held: BTreeSet<i64> = self
            .day
            .iter()
            .flat_map(|t| t.rows.keys().map(|((start, _, _), _)| *start))
            .collect();
        self.minute_days.retain(|minute, _| *minute >= horizon);
        self.days
            .retain(|start, (_, end)| *end > horizon || held.contains(start));
    }

    /// The date of the day starting at `start`.
    pub(super) fn date(&self, start: i64) -> i32 {
        self.days
            .get(&start)
            .map_or_else(|| local_day(start, Tz::UTC).date, |(date, _)| *date)
    }

    /// Every rollup row held (final values), for tests.
    pub(super) fn all(&self) -> RollupChanges {
        let mut out = RollupChanges::default();
        for i in 0..3 {
            out.hour[i] = self.hour[i].all().collect();
            out.day[i] = self.day[i].all().collect();
        }
        out
    }
}

impl RollupChanges {
    /// Into `hourly` and `daily` with the tenant's names and the days' dates.
    pub(super) fn name_into(
        self,
        tenant: &str,
        names: &Names,
        hourly: &mut RollupRows,
        daily: &mut RollupRows,
    ) {
        for (rows, grain) in [(self.hour, &mut *hourly), (self.day, &mut *daily)] {
            let [queue, agent, reason] = rows;
            for (num, id, v) in queue {
                grain
                    .queue
                    .insert(queue_key(tenant, num, names.name(id)), v);
            }
            for (num, id, v) in agent {
                grain
                    .agent
                    .insert(agent_key(tenant, num, names.name(id)), v);
            }
            for (num, id, v) in reason {
                grain
                    .reason
                    .insert(reason_key(tenant, num, names.name(id)), v);
            }
        }
    }

    /// The starts of the days of these rows.
    pub(super) fn day_starts(&self) -> BTreeSet<i64> {
        self.day
            .iter()
            .flatten()
            .map(|((start, _, _), _, _)| *start)
            .collect()
    }
}

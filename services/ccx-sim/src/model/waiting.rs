//! Contacts waiting for an agent: one first-in-first-out line per (queue, media kind). A
//! contact that leaves the line early (abandon, callback) is not searched for and removed: its
//! entry's ticket no longer matches the contact's, and the entry is skipped when it comes up.

use std::collections::VecDeque;

use crate::config::MediaKind;

#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// When the contact joined the line: the longest-waiting contact goes first.
    pub since: i64,
    /// Unique per joining, so a stale entry is told from the contact's current one.
    pub ticket: u64,
    pub slot: u32,
}

pub struct Waiting {
    lines: Vec<VecDeque<Entry>>,
}

impl Waiting {
    pub fn new(queues: usize) -> Waiting {
        Waiting {
            lines: vec![VecDeque::new(); queues * 2],
        }
    }

    pub fn push(&mut self, queue: usize, kind: MediaKind, entry: Entry) {
        self.lines[queue * 2 + kind as usize].push_back(entry);
    }

    /// Takes the longest-waiting contact of `kind` over `queues` (ties: the earlier ticket),
    /// skipping entries for which `waits` is false.
    pub fn pop_longest(
        &mut self,
        queues: &[usize],
        kind: MediaKind,
        waits: impl Fn(&Entry) -> bool,
    ) -> Option<Entry> {
        let mut best: Option<(usize, Entry)> = None;
        for &q in queues {
            let line = &mut self.lines[q * 2 + kind as usize];
            while line.front().is_some_and(|e| !waits(e)) {
                line.pop_front();
            }
            if let Some(&e) = line.front() {
                let longer = match best {
                    None => true,
                    Some((_, b)) => (e.since, e.ticket) < (b.since, b.ticket),
                };
                if longer {
                    best = Some((q * 2 + kind as usize, e));
                }
            }
        }
        let (line, entry) = best?;
        self.lines[line].pop_front();
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_waiting_over_the_queues_goes_first_and_stale_entries_are_skipped() {
        let mut w = Waiting::new(3);
        let entry = |since, ticket| Entry {
            since,
            ticket,
            slot: ticket as u32,
        };
        w.push(0, MediaKind::Voice, entry(10, 1));
        w.push(1, MediaKind::Voice, entry(5, 2));
        w.push(1, MediaKind::Voice, entry(20, 3));
        w.push(2, MediaKind::Voice, entry(1, 4));
        w.push(0, MediaKind::Digital, entry(0, 5));
        // Ticket 2 left the line (abandoned): skipped.
        let waits = |e: &Entry| e.ticket != 2;
        let pop = |w: &mut Waiting| {
            w.pop_longest(&[0, 1], MediaKind::Voice, waits)
                .map(|e| e.ticket)
        };
        assert_eq!(pop(&mut w), Some(1));
        assert_eq!(pop(&mut w), Some(3));
        assert_eq!(
            pop(&mut w),
            None,
            "queue 2 and digital contacts are not this agent's"
        );
    }
}

//! Agents' time on and off duty: daily shifts, breaks staggered across a team, and the rule
//! that an agent leaves only once its contacts (and their after-contact work) are done,
//! taking no new contact meanwhile.

use super::agents::Duty;
use super::{Center, DutyTo, Step};

const DAY_MS: i64 = 86_400_000;

impl Center {
    /// Puts each agent on or off duty at `at` by its shift, and plans its shift end and first
    /// break. With `announce`, every agent's state is reported at `at`.
    pub(super) fn plan_duty(&mut self, at: i64, announce: bool) {
        for a in 0..self.agents.list.len() {
            let agent = &self.agents.list[a];
            let team = &self.config.teams[agent.team];
            let (shift, breaks, rank) = (team.shift, team.breaks, agent.rank as i64);
            let team_index = agent.team;
            if let Some(s) = shift {
                let today = at.div_euclid(DAY_MS) * DAY_MS + s.start_of_day_ms;
                let running = [today - DAY_MS, today]
                    .into_iter()
                    .find(|&start| start <= at && at < start + s.length_ms);
                match running {
                    Some(start) => {
                        let to = DutyTo::Offline;
                        self.schedule(start + s.length_ms, Step::Leave { agent: a, to });
                    }
                    None => {
                        self.agents.list[a].duty = Duty::Offline;
                        let next = if at < today { today } else { today + DAY_MS };
                        let from = DutyTo::Offline;
                        self.schedule(next, Step::Back { agent: a, from });
                    }
                }
            }
            if let Some(b) = breaks {
                // Spread over the cycle from the start: a floor always has some agents away.
                let first = at + (rank * 397_000 + team_index as i64 * 131_000) % b.every_ms.max(1);
                let to = DutyTo::Break;
                self.schedule(first, Step::Leave { agent: a, to });
            }
            self.agents.offer(a);
            if announce {
                self.show(a, at);
            }
        }
    }

    /// Agents brought offline by [`Center::end_of_shift`] and without a shift log back in.
    pub(super) fn log_back_in(&mut self, at: i64) {
        for a in 0..self.agents.list.len() {
            let agent = &self.agents.list[a];
            if agent.duty == Duty::Offline && self.config.teams[agent.team].shift.is_none() {
                self.agents.list[a].duty = Duty::Working;
                self.show(a, at);
                self.agents.offer(a);
            }
        }
    }

    pub(super) fn leave(&mut self, a: usize, to: DutyTo, t: i64) {
        let agent = &mut self.agents.list[a];
        let breaks = self.config.teams[agent.team].breaks;
        match to {
            DutyTo::Break => {
                if agent.duty != Duty::Working || agent.leaving.is_some() {
                    // Off duty or already leaving: this break is skipped, the next planned.
                    if let Some(b) = breaks {
                        self.schedule(t + b.every_ms, Step::Leave { agent: a, to });
                    }
                    return;
                }
                agent.leaving = Some((Duty::Break, t));
            }
            DutyTo::Offline => {
                if agent.duty == Duty::Offline {
                    return;
                }
                agent.leaving = Some((Duty::Offline, t));
            }
        }
        let agent = &self.agents.list[a];
        if agent.busy_slots() == 0 || agent.duty == Duty::Break {
            let duty = agent.leaving.expect("just set").0;
            self.go(a, duty, t);
        } else {
            // Still on contacts: no new one until it leaves.
            self.agents.offer(a);
        }
    }

    /// Agent `a` goes on a break or offline now.
    pub(super) fn go(&mut self, a: usize, duty: Duty, t: i64) {
        let agent = &mut self.agents.list[a];
        agent.leaving = None;
        agent.duty = duty;
        let team = &self.config.teams[agent.team];
        let (shift, breaks) = (team.shift, team.breaks);
        self.agents.offer(a);
        self.show(a, t);
        match duty {
            Duty::Break => {
                let length = breaks.map_or(0, |b| b.length_ms).max(1);
                let from = DutyTo::Break;
                self.schedule(t + length, Step::Back { agent: a, from });
            }
            Duty::Offline => {
                if let Some(s) = shift {
                    let mut next = t.div_euclid(DAY_MS) * DAY_MS + s.start_of_day_ms;
                    if next <= t {
                        next += DAY_MS;
                    }
                    let from = DutyTo::Offline;
                    self.schedule(next, Step::Back { agent: a, from });
                }
            }
            Duty::Working => {}
        }
    }

    /// Agent `a` is back from a break, or starts its shift.
    pub(super) fn back(&mut self, a: usize, from: DutyTo, t: i64) {
        let agent = &mut self.agents.list[a];
        let was = agent.duty;
        let expected = match from {
            DutyTo::Break => Duty::Break,
            DutyTo::Offline => Duty::Offline,
        };
        if was != expected {
            // The break was cut short by the end of the shift, or the day ended for all.
            return;
        }
        agent.duty = Duty::Working;
        let team = &self.config.teams[agent.team];
        let (shift, breaks) = (team.shift, team.breaks);
        match (was, shift, breaks) {
            (Duty::Offline, Some(s), _) => {
                let to = DutyTo::Offline;
                self.schedule(t + s.length_ms, Step::Leave { agent: a, to });
            }
            (Duty::Break, _, Some(b)) => {
                let to = DutyTo::Break;
                self.schedule(t + b.every_ms, Step::Leave { agent: a, to });
            }
            _ => {}
        }
        self.free_up(a, t);
    }
}

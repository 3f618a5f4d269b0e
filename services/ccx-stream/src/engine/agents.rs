//! Agent-state time: each agent's clock, its minutes in each state up to the watermark.

use super::tenant::*;
use super::*;

impl TenantState {
    /// QA_SCORED (SPEC §7.2): the agent's row at the evaluation's minute and channel.
    pub(super) fn qa(&mut self, ev: &Ev) {
        let c = Components {
            qa_evaluations: 1,
            qa_score_sum: ev.score.max(0) as u64,
            ..Components::default()
        };
        self.agent_rows
            .add((ev.minute(), ev.channel, 0), ev.agent, c);
    }

    pub(super) fn agent_state(&mut self, ev: &Ev) {
        let clock = AgentClock {
            state: ev.agent_state,
            since: ev.t,
        };
        if let Some(before) = self.agents.insert(ev.agent, clock) {
            self.accrue_state(ev.agent, before, ev.t);
        }
    }

    /// Adds the time of `agent`'s current state up to `until`.
    pub(super) fn accrue(&mut self, agent: Sym, until: i64) {
        let Some(clock) = self.agents.get_mut(&agent) else {
            return;
        };
        let before = clock.clone();
        clock.since = until.max(clock.since);
        self.accrue_state(agent, before, until);
    }

    /// Adds the time in `clock`'s state from its start up to `until`, split at minute
    /// boundaries, to `agent`'s rows.
    pub(super) fn accrue_state(&mut self, agent: Sym, clock: AgentClock, until: i64) {
        let mut from = clock.since;
        while from < until {
            let minute = minute_of(from);
            let to = until.min(minute + 60_000);
            let ms = (to - from) as u64;
            let mut add = StateTimes::default();
            match AgentState::try_from(i32::from(clock.state)) {
                Ok(AgentState::Available) => add.available_ms = ms,
                Ok(AgentState::Busy) => add.busy_ms = ms,
                Ok(AgentState::AfterContactWork) => add.acw_state_ms = ms,
                Ok(AgentState::Break) => add.break_ms = ms,
                _ => {}
            }
            if add != StateTimes::default() {
                self.state_rows.add((minute, 0, 0), agent, add);
            }
            from = to;
        }
    }

    pub(super) fn accrue_agents(&mut self, watermark: i64) {
        let agents: Vec<Sym> = self.agents.keys().copied().collect();
        for agent in agents {
            self.accrue(agent, watermark);
        }
    }
}

//! The agents of a center and which of them can take a contact now. An agent is on duty, on
//! a break or offline; on duty it holds at most its media's slots (one voice contact, or a
//! few digital ones), each from the answer until its after-contact work is done.
//!
//! Free agents wait in one first-in-first-out pool per (queue, media) they serve, so the agent
//! idle longest is chosen first. An agent sits in several pools at once; instead of removing
//! it from all of them when it is taken, each entry carries a stamp and only entries with the
//! agent's current stamp count (stale ones are skipped, and swept when a pool grows large).

use std::collections::VecDeque;

use ccx_model::AgentState;

use crate::config::{Media, MediaKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    Working,
    Break,
    Offline,
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub skills: Vec<usize>,
    pub media: Media,
    /// Contacts in an agent segment with this agent.
    pub talking: u32,
    /// Contacts in this agent's after-contact work.
    pub wrapping: u32,
    /// Contacts routed to this agent, connected a millisecond later.
    pub connecting: u32,
    pub duty: Duty,
    /// A break or the end of the shift, waiting for the agent's contacts to finish.
    pub leaving: Option<(Duty, i64)>,
    /// The state last reported in an `AGENT_STATE_CHANGED`.
    pub shown: Option<AgentState>,
    /// Index of the agent's team and within it (staggers breaks).
    pub team: usize,
    pub rank: usize,
    stamp: u32,
}

impl Agent {
    pub fn new(team: usize, rank: usize, skills: Vec<usize>, media: Media) -> Agent {
        Agent {
            skills,
            media,
            talking: 0,
            wrapping: 0,
            connecting: 0,
            duty: Duty::Working,
            leaving: None,
            shown: None,
            team,
            rank,
            stamp: 0,
        }
    }

    pub fn busy_slots(&self) -> u32 {
        self.talking + self.wrapping + self.connecting
    }

    pub fn can_take(&self) -> bool {
        self.duty == Duty::Working
            && self.leaving.is_none()
            && self.busy_slots() < self.media.slots()
    }

    /// The state the agent is in: talking beats wrapping up beats waiting for work (a contact
    /// being connected makes it busy only once connected).
    pub fn state(&self) -> AgentState {
        match self.duty {
            Duty::Offline => AgentState::Offline,
            Duty::Break => AgentState::Break,
            Duty::Working if self.talking > 0 => AgentState::Busy,
            Duty::Working if self.wrapping > 0 => AgentState::AfterContactWork,
            Duty::Working => AgentState::Available,
        }
    }
}

pub struct Agents {
    pub list: Vec<Agent>,
    /// Free agents per queue × media kind, longest-free first: (agent, stamp).
    pools: Vec<VecDeque<(u32, u32)>>,
}

fn pool_index(queue: usize, kind: MediaKind) -> usize {
    queue * 2 + kind as usize
}

impl Agents {
    pub fn new(list: Vec<Agent>, queues: usize) -> Agents {
        let mut agents = Agents {
            list,
            pools: vec![VecDeque::new(); queues * 2],
        };
        for a in 0..agents.list.len() {
            agents.offer(a);
        }
        agents
    }

    /// Puts agent `a` at the back of its pools if it can take a contact now (and takes it out
    /// of them otherwise).
    pub fn offer(&mut self, a: usize) {
        let agent = &mut self.list[a];
        agent.stamp = agent.stamp.wrapping_add(1);
        if !agent.can_take() {
            return;
        }
        let (stamp, kind) = (agent.stamp, agent.media.kind());
        let limit = 2 * self.list.len() + 64;
        for &q in &self.list[a].skills {
            let pool = &mut self.pools[pool_index(q, kind)];
            pool.push_back((a as u32, stamp));
            if pool.len() > limit {
                let list = &self.list;
                pool.retain(|&(a, s)| list[a as usize].stamp == s);
            }
        }
    }

    /// The agent free longest among those serving `queue` with `kind`, taken out of the pools.
    pub fn take(&mut self, queue: usize, kind: MediaKind) -> Option<usize> {
        let pool = &mut self.pools[pool_index(queue, kind)];
        while let Some((a, stamp)) = pool.pop_front() {
            let agent = &mut self.list[a as usize];
            if agent.stamp == stamp && agent.can_take() {
                agent.stamp = agent.stamp.wrapping_add(1);
                return Some(a as usize);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_free_longest_is_taken_and_a_taken_agent_leaves_every_pool() {
        let list = vec![
            Agent::new(0, 0, vec![0, 1], Media::Voice),
            Agent::new(0, 1, vec![0], Media::Voice),
            Agent::new(1, 0, vec![1], Media::Digital { concurrency: 2 }),
        ];
        let mut agents = Agents::new(list, 2);
        assert_eq!(agents.take(0, MediaKind::Voice), Some(0));
        agents.list[0].talking += 1;
        // Agent 0 is still queued for queue 1, but taken: only its stamp there.
        assert_eq!(agents.take(1, MediaKind::Voice), None);
        assert_eq!(agents.take(0, MediaKind::Voice), Some(1));
        agents.list[1].talking += 1;
        // A digital agent with a free slot goes back to the end of its pools.
        assert_eq!(agents.take(1, MediaKind::Digital), Some(2));
        agents.list[2].talking += 1;
        agents.offer(2);
        assert_eq!(agents.take(1, MediaKind::Digital), Some(2));
        agents.list[2].talking += 1;
        agents.offer(2);
        assert_eq!(agents.take(1, MediaKind::Digital), None, "both slots held");
        // Freed, on a break pending: not offered.
        agents.list[0].talking -= 1;
        agents.list[0].leaving = Some((Duty::Break, 0));
        agents.offer(0);
        assert_eq!(agents.take(0, MediaKind::Voice), None);
        assert_eq!(agents.list[0].state(), AgentState::Available);
        agents.list[1].talking -= 1;
        agents.list[1].wrapping += 1;
        assert_eq!(agents.list[1].state(), AgentState::AfterContactWork);
    }
}

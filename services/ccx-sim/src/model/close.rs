//! Closing time: everything in progress finishes at once, so a simulated history ends with
//! no contact left open (an open contact keeps live rows changing) and no sparse tail of
//! late endings. Waiting and ringing customers hang up, talks and after-contact work end,
//! and what was decided for later (holds, surveys) never happens.

use ccx_model::{Event, EventType};

use super::contacts::Phase;
use super::{Center, Step};

impl Center {
    /// Runs the steps before `at`, then ends everything in progress at `at`; returns the
    /// events before `at` and those of the closing. Arrivals stop; agents stay on duty.
    pub fn close(&mut self, at: i64) -> Vec<Event> {
        let mut events = self.run_until(at);
        self.out.drop_from(at);
        self.steps
            .retain(|s| matches!(s.0 .2, Step::Leave { .. } | Step::Back { .. }));
        self.injected = 0;
        for slot in self.contacts.slots() {
            let c = self.contacts.at(slot);
            let (phase, answered, agent) = (c.phase, c.first_answer.is_some(), c.agent);
            match phase {
                Phase::Ivr => self.write(slot, EventType::ContactEnded, at).resolved = true,
                Phase::Ringing => {
                    self.write(slot, EventType::ContactAbandoned, at);
                }
                Phase::Waiting | Phase::Connecting | Phase::Transferring if !answered => {
                    self.write(slot, EventType::ContactAbandoned, at);
                }
                // A transferred customer still on the line: the contact ends unanswered
                // by a next agent.
                Phase::Waiting | Phase::Connecting | Phase::Transferring => {
                    self.write(slot, EventType::ContactEnded, at);
                }
                Phase::Talking => {
                    self.write(slot, EventType::ContactEnded, at);
                    self.write(slot, EventType::WrapupEnded, at);
                }
                Phase::Wrapping => {
                    self.write(slot, EventType::WrapupEnded, at);
                }
                Phase::CallbackAsked => {}
            }
            if let Some(a) = agent {
                let agent = &mut self.agents.list[a];
                match phase {
                    Phase::Talking => agent.talking -= 1,
                    Phase::Wrapping => agent.wrapping -= 1,
                    Phase::Connecting => agent.connecting -= 1,
                    _ => {}
                }
            }
            self.contacts.remove(slot);
        }
        for a in 0..self.agents.list.len() {
            self.free_up(a, at);
        }
        events.extend(self.out.take_all());
        events
    }
}

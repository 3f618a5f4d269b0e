//! A contact's journey: offered (or dialled), through the IVR or a ring, waiting in line
//! (leaving on patience, or for a callback), answered by one agent slot, holds, transfers to
//! another queue, the end, after-contact work, and what follows (survey, sentiment, QA, the
//! customer coming back). Agents take the longest-waiting contact of their queues when they
//! free up; a contact finding a free agent goes to it at once. A routed contact is connected
//! a millisecond later, so an agent's answer never shares a millisecond with the end of its
//! previous work (consumers order same-millisecond events by type, not by cause).

use ccx_model::{Channel, Direction, EventType};

use super::waiting::Entry;
use super::{Center, Step};
use crate::config::Media;
use crate::customers::Issue;
use crate::model::contacts::{Contact, Phase};
use crate::outcomes;

impl Center {
    pub(super) fn arrive(&mut self, stream: usize, t: i64) {
        let s = &self.config.streams[stream];
        let (channel, direction) = (s.channel, s.direction);
        let issue = match direction {
            Direction::Outbound => self.customers.outbound(t, &mut self.rng),
            _ => self.customers.inbound(t, &mut self.rng),
        };
        let slot = self.offer(stream, direction, issue, None, t);
        let b = &self.config.behaviour;
        if direction == Direction::Outbound {
            self.ring(slot, t);
        } else if channel == Channel::Voice && self.rng.chance(b.ivr_self_service) {
            self.contacts.at(slot).phase = Phase::Ivr;
            let done = t + self.rng.sample(b.ivr_time).max(1);
            self.schedule(done, Step::IvrEnd(slot));
        } else {
            self.enqueue(slot, t);
        }
    }

    /// A new contact of `stream` (outbound when a callback), its `CONTACT_OFFERED` written.
    fn offer(
        &mut self,
        stream: usize,
        direction: Direction,
        issue: Issue,
        callback_of: Option<String>,
        t: i64,
    ) -> u32 {
        let (queue, channel) = {
            let s = &self.config.streams[stream];
            (s.queue, s.channel)
        };
        self.offered += 1;
        let mut c = Contact {
            id: format!("{}-{}", self.prefix, self.offered),
            stream,
            queue,
            channel,
            direction,
            issue,
            callback_of,
            offered_at: t,
            phase: Phase::Ringing,
            ticket: 0,
            agent: None,
            first_answer: None,
            transfers: 0,
            events: 0,
        };
        let e = self.out.contact(
            &mut c,
            &self.config.queues[queue],
            EventType::ContactOffered,
            t,
        );
        e.customer_id = format!("cust-{}", issue.customer);
        e.reason
            .clone_from(&self.config.reasons[issue.reason as usize]);
        e.case_id = format!("case-{}-{}", self.prefix, issue.case);
        e.callback_of = c.callback_of.clone().unwrap_or_default();
        self.contacts.insert(c)
    }

    /// Outbound: the customer's phone rings; they pick up or not.
    fn ring(&mut self, slot: u32, t: i64) {
        let b = &self.config.behaviour;
        let rung = t + self.rng.sample(b.ring);
        if self.rng.chance(b.pickup) {
            self.schedule(rung, Step::Pickup(slot));
        } else {
            self.schedule(rung.max(t + 1), Step::NoAnswer(slot));
        }
    }

    pub(super) fn pickup(&mut self, slot: u32, t: i64) {
        self.enqueue(slot, t);
    }

    pub(super) fn no_answer(&mut self, slot: u32, t: i64) {
        self.write(slot, EventType::ContactAbandoned, t);
        let c = self.contacts.remove(slot).expect("live");
        let b = &self.config.behaviour;
        if c.callback_of.is_none() && c.issue.attempt < b.retries {
            let again = t + self.rng.sample(b.retry_delay);
            self.customers.retry(c.issue, again);
        }
    }

    pub(super) fn ivr_end(&mut self, slot: u32, t: i64) {
        self.write(slot, EventType::ContactEnded, t).resolved = true;
        self.contacts.remove(slot);
    }

    /// The contact joins its queue's line, or goes straight to a free agent.
    pub(super) fn enqueue(&mut self, slot: u32, t: i64) {
        let kind = self.kind_of(slot);
        let queue = self.contacts.at(slot).queue;
        if let Some(a) = self.agents.take(queue, kind) {
            self.route(slot, a, t);
            self.agents.offer(a);
            return;
        }
        self.tickets += 1;
        let ticket = self.tickets;
        let c = self.contacts.at(slot);
        c.ticket = ticket;
        c.phase = Phase::Waiting;
        let (stream, first_wait) = (c.stream, c.first_answer.is_none());
        let inbound_voice = c.direction == Direction::Inbound && c.channel == Channel::Voice;
        let is_callback = c.callback_of.is_some();
        self.waiting.push(
            queue,
            kind,
            Entry {
                since: t,
                ticket,
                slot,
            },
        );
        if !first_wait {
            // After a transfer the customer stays on the line: abandoning is for first waits.
            return;
        }
        if let Some(patience) = self.config.streams[stream].patience {
            let mut p = self.rng.sample(patience);
            if is_callback {
                // They asked for this call: they hold on longer than a cold-dialled customer.
                p = p.max(60_000);
            }
            self.schedule(t + p, Step::Patience { slot, ticket });
        }
        let b = &self.config.behaviour;
        if let (true, Some(after)) = (inbound_voice, b.callback_offer_after_ms) {
            self.schedule(t + after, Step::OfferCallback { slot, ticket });
        }
    }

    /// The contact goes to agent `a` (taken from the pools), to be connected next millisecond.
    fn route(&mut self, slot: u32, a: usize, t: i64) {
        self.agents.list[a].connecting += 1;
        let c = self.contacts.at(slot);
        c.ticket = 0;
        c.phase = Phase::Connecting;
        c.agent = Some(a);
        self.schedule(t + 1, Step::Connect(slot));
    }

    /// The routed contact and its agent are connected: the answer.
    pub(super) fn connect(&mut self, slot: u32, t: i64) {
        let c = self.contacts.at(slot);
        let a = c.agent.expect("routed");
        c.phase = Phase::Talking;
        c.first_answer.get_or_insert(t);
        let stream = c.stream;
        let agent = &mut self.agents.list[a];
        agent.connecting -= 1;
        agent.talking += 1;
        self.write(slot, EventType::ContactAnswered, t);
        let b = &self.config.behaviour;
        let talk = self.rng.sample(self.config.streams[stream].talk).max(1);
        if talk >= 10_000 && self.rng.chance(b.hold) {
            // The hold lies strictly inside the segment.
            let from = t + 1 + (self.rng.unit() * 0.6 * talk as f64) as i64;
            let left = t + talk - 1 - from;
            let length = self.rng.sample(b.hold_time).clamp(1, left.max(1));
            self.write(slot, EventType::HoldStarted, from);
            self.write(slot, EventType::HoldEnded, from + length);
        }
        self.schedule(t + talk, Step::SegmentEnd(slot));
        self.show(a, t);
    }

    pub(super) fn abandon(&mut self, slot: u32, t: i64) {
        self.write(slot, EventType::ContactAbandoned, t);
        let c = self.contacts.remove(slot).expect("live");
        if c.direction == Direction::Inbound && self.rng.chance(self.config.behaviour.come_back) {
            let later = t + self.rng.sample(self.config.behaviour.come_back_delay);
            self.customers.come_back(c.issue, later);
        }
    }

    pub(super) fn offer_callback(&mut self, slot: u32, t: i64) {
        let b = &self.config.behaviour;
        if !self.rng.chance(b.callback_accept) {
            return;
        }
        let delay = self.rng.sample(b.callback_delay).max(1);
        self.write(slot, EventType::CallbackRequested, t);
        let c = self.contacts.at(slot);
        c.ticket = 0;
        c.phase = Phase::CallbackAsked;
        self.schedule(t + delay, Step::DialBack(slot));
    }

    /// The callback of the contact in `slot`: a new outbound contact naming it.
    pub(super) fn dial_back(&mut self, slot: u32, t: i64) {
        let c = self.contacts.remove(slot).expect("live");
        let issue = Issue {
            attempt: 0,
            ..c.issue
        };
        // Same queue and channel: a callback is asked for while first waiting.
        let back = self.offer(c.stream, Direction::Outbound, issue, Some(c.id), t);
        self.ring(back, t);
    }

    pub(super) fn segment_end(&mut self, slot: u32, t: i64) {
        let b = &self.config.behaviour;
        let c = self.contacts.at(slot);
        let (a, queue, transfers) = (c.agent.expect("answered"), c.queue, c.transfers);
        let kind = Media::of(c.channel);
        let queues = self.config.queues.len();
        let targets: Vec<usize> = (1..queues)
            .map(|i| (queue + i) % queues)
            .filter(|&q| self.served[q * 2 + kind as usize])
            .collect();
        if transfers < 2 && !targets.is_empty() && self.rng.chance(b.transfer) {
            let to = *self.rng.pick(&targets);
            self.write(slot, EventType::ContactTransferred, t)
                .to_queue_id = self.config.queues[to].clone();
            let c = self.contacts.at(slot);
            c.queue = to;
            c.transfers += 1;
            c.agent = None;
            c.phase = Phase::Transferring;
            self.agents.list[a].talking -= 1;
            // The customer reaches the next queue a few seconds later.
            let arrives = t + self.rng.range(1_000, 5_000);
            self.schedule(arrives, Step::Requeue(slot));
            self.free_up(a, t);
            return;
        }
        self.end(slot, a, t);
    }

    /// The contact ends with agent `a`, who starts its after-contact work.
    fn end(&mut self, slot: u32, a: usize, t: i64) {
        let b = self.config.behaviour.clone();
        let c = self.contacts.at(slot);
        let (transfers, stream, channel) = (c.transfers, c.stream, c.channel);
        let wait = c.first_answer.unwrap_or(t) - c.offered_at;
        let outbound = c.direction == Direction::Outbound;
        let resolved = outcomes::resolved(&mut self.rng, &b, transfers);
        let converted = outbound && self.rng.chance(b.convert);
        let media = matches!(channel, Channel::Voice | Channel::Video);
        let mos = (media && self.rng.chance(b.mos)).then(|| outcomes::mos(&mut self.rng));
        let e = self.write(slot, EventType::ContactEnded, t);
        e.resolved = resolved;
        e.converted = converted;
        e.mos = mos;
        self.contacts.at(slot).phase = Phase::Wrapping;
        let agent = &mut self.agents.list[a];
        agent.talking -= 1;
        agent.wrapping += 1;
        let wrap = self.rng.sample(self.config.streams[stream].wrap);
        self.schedule(t + wrap, Step::WrapEnd(slot));
        self.show(a, t);
        // What follows the contact.
        let issue = self.contacts.at(slot).issue;
        if !resolved && !outbound && self.rng.chance(b.come_back) {
            let later = t + wrap + self.rng.sample(b.come_back_delay);
            self.customers.come_back(issue, later);
        }
        let s = outcomes::satisfaction(&mut self.rng, wait, resolved, transfers);
        if self.rng.chance(b.sentiment) {
            let at = t + self.rng.range(1_000, 20_000);
            let v = outcomes::sentiment(&mut self.rng, s);
            self.write(slot, EventType::SentimentScored, at).sentiment = Some(v);
        }
        if self.rng.chance(b.survey) {
            let at = t + wrap + self.rng.range(10_000, 120_000);
            let (kind, score) = outcomes::survey(&mut self.rng, s);
            let e = self.write(slot, EventType::SurveyResponded, at);
            e.survey_type = kind as i32;
            e.score = Some(score);
        }
        if self.rng.chance(b.qa) {
            let at = t + wrap + self.rng.range(30_000, 300_000);
            let score = outcomes::qa_score(&mut self.rng);
            let id = self.contacts.at(slot).id.clone();
            self.out.qa(a, channel, &id, score, at);
        }
    }

    pub(super) fn wrap_end(&mut self, slot: u32, t: i64) {
        self.write(slot, EventType::WrapupEnded, t);
        let c = self.contacts.remove(slot).expect("live");
        let a = c.agent.expect("answered");
        self.agents.list[a].wrapping -= 1;
        self.free_up(a, t);
    }

    /// Agent `a` has a slot free: it leaves if a break or its shift's end waits for it,
    /// else takes the longest-waiting contacts its skills and slots allow.
    pub(super) fn free_up(&mut self, a: usize, t: i64) {
        let agent = &self.agents.list[a];
        if let (Some((to, _)), 0) = (agent.leaving, agent.busy_slots()) {
            self.go(a, to, t);
            return;
        }
        while self.agents.list[a].can_take() {
            let agent = &self.agents.list[a];
            let kind = agent.media.kind();
            let contacts = &self.contacts;
            let next = self
                .waiting
                .pop_longest(&agent.skills, kind, |e| contacts.waits(e.slot, e.ticket));
            let Some(entry) = next else { break };
            self.route(entry.slot, a, t);
        }
        self.agents.offer(a);
        self.show(a, t);
    }

    /// Writes an event of the contact in `slot` at `t`.
    pub(super) fn write(&mut self, slot: u32, kind: EventType, t: i64) -> &mut ccx_model::Event {
        let c = self.contacts.at(slot);
        let queue = &self.config.queues[c.queue];
        self.out.contact(c, queue, kind, t)
    }
}

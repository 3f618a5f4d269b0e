//! The contacts in progress, in a slab: a contact keeps its slot from its offer until its last
//! state-changing step (its end, wrap-up or callback dial), and scheduled steps name the slot.

use ccx_model::{Channel, Direction};

use crate::customers::Issue;

/// Where a contact is in its journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Ivr,
    /// Outbound: the customer's phone rings.
    Ringing,
    Waiting,
    /// Routed to an agent, connected a millisecond later.
    Connecting,
    Talking,
    /// Its last agent's after-contact work.
    Wrapping,
    /// Asked for a callback, not dialled yet.
    CallbackAsked,
    /// Between a transfer and the next queue.
    Transferring,
}

#[derive(Debug, Clone)]
pub struct Contact {
    pub id: String,
    pub stream: usize,
    /// The queue it is in now (changes on a transfer).
    pub queue: usize,
    pub channel: Channel,
    pub direction: Direction,
    pub issue: Issue,
    pub callback_of: Option<String>,
    pub offered_at: i64,
    pub phase: Phase,
    /// Nonzero while waiting in a line: the ticket of its entry.
    pub ticket: u64,
    pub agent: Option<usize>,
    pub first_answer: Option<i64>,
    pub transfers: u32,
    /// Events written so far (numbers the event ids).
    pub events: u32,
}

#[derive(Default)]
pub struct Contacts {
    slots: Vec<Option<Contact>>,
    free: Vec<u32>,
    open: usize,
}

impl Contacts {
    pub fn insert(&mut self, contact: Contact) -> u32 {
        self.open += 1;
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(contact);
                slot
            }
            None => {
                self.slots.push(Some(contact));
                (self.slots.len() - 1) as u32
            }
        }
    }

    pub fn remove(&mut self, slot: u32) -> Option<Contact> {
        let contact = self.slots.get_mut(slot as usize)?.take()?;
        self.open -= 1;
        self.free.push(slot);
        Some(contact)
    }

    pub fn get(&self, slot: u32) -> Option<&Contact> {
        self.slots.get(slot as usize)?.as_ref()
    }

    /// The contact in `slot`; scheduled steps only name live slots.
    pub fn at(&mut self, slot: u32) -> &mut Contact {
        self.slots[slot as usize].as_mut().expect("a live contact")
    }

    /// Contacts offered and not yet done.
    pub fn open(&self) -> usize {
        self.open
    }

    /// The slots of the contacts in progress, in slot order.
    pub fn slots(&self) -> Vec<u32> {
        (0..self.slots.len() as u32)
            .filter(|&s| self.slots[s as usize].is_some())
            .collect()
    }

    /// True when `slot` holds a contact waiting in a line under `ticket`.
    pub fn waits(&self, slot: u32, ticket: u64) -> bool {
        self.get(slot)
            .is_some_and(|c| c.ticket == ticket && ticket != 0)
    }
}

//! Who contacts the center and about what. Most arrivals are a customer with a new issue
//! (its own case); some are customers coming back about an issue that was not resolved or
//! whose contact was abandoned — same reason, same case — which is what makes repeat
//! contacts, failed first-contact resolutions and churn signals happen. Outbound campaigns
//! try a customer again after a missed attempt.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::rng::Rng;

/// A customer's issue: the thread of contacts about one thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Issue {
    pub customer: u32,
    pub reason: u32,
    pub case: u64,
    /// Which attempt this is (outbound retries).
    pub attempt: u32,
}

type Due = BinaryHeap<Reverse<(i64, u64, Issue)>>;

pub struct Customers {
    count: u32,
    reasons: u32,
    cases: u64,
    seq: u64,
    coming_back: Due,
    retries: Due,
}

impl Customers {
    pub fn new(count: usize, reasons: usize) -> Customers {
        Customers {
            count: count.max(1) as u32,
            reasons: reasons.max(1) as u32,
            cases: 0,
            seq: 0,
            coming_back: BinaryHeap::new(),
            retries: BinaryHeap::new(),
        }
    }

    /// The issue of an inbound contact arriving at `at`: a customer due back, else a new one.
    pub fn inbound(&mut self, at: i64, rng: &mut Rng) -> Issue {
        match Self::due(&mut self.coming_back, at) {
            Some(issue) => issue,
            None => self.fresh(rng),
        }
    }

    /// The customer an outbound campaign dials at `at`: a retry due, else a new one.
    pub fn outbound(&mut self, at: i64, rng: &mut Rng) -> Issue {
        match Self::due(&mut self.retries, at) {
            Some(issue) => Issue {
                attempt: issue.attempt + 1,
                ..issue
            },
            None => self.fresh(rng),
        }
    }

    pub fn come_back(&mut self, issue: Issue, at: i64) {
        self.seq += 1;
        self.coming_back.push(Reverse((at, self.seq, issue)));
    }

    pub fn retry(&mut self, issue: Issue, at: i64) {
        self.seq += 1;
        self.retries.push(Reverse((at, self.seq, issue)));
    }

    fn fresh(&mut self, rng: &mut Rng) -> Issue {
        self.cases += 1;
        Issue {
            customer: rng.range(0, i64::from(self.count) - 1) as u32,
            reason: rng.range(0, i64::from(self.reasons) - 1) as u32,
            case: self.cases,
            attempt: 0,
        }
    }

    fn due(heap: &mut Due, at: i64) -> Option<Issue> {
        if heap.peek().is_some_and(|Reverse((due, _, _))| *due <= at) {
            return heap.pop().map(|Reverse((_, _, issue))| issue);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_due_back_comes_back_with_the_same_issue() {
        let mut rng = Rng::new(1);
        let mut c = Customers::new(100, 4);
        let first = c.inbound(0, &mut rng);
        c.come_back(first, 60_000);
        let other = c.inbound(30_000, &mut rng);
        assert_ne!(other.case, first.case, "not due yet: a new issue");
        assert_eq!(c.inbound(60_000, &mut rng), first);
        let dialled = c.outbound(0, &mut rng);
        c.retry(dialled, 10);
        let again = c.outbound(10, &mut rng);
        assert_eq!((again.case, again.attempt), (dialled.case, 1));
    }
}

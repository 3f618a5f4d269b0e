//! Cases (SPEC §7.2): the contacts of one customer issue. A case opens at its first contact's
//! offer and closes when a contact of it ends resolved; a case with no contact offered for
//! `case_window` is forgotten.
//!
//! Most contacts are a case of their own (no caseId) that nobody joins, so such a case lives
//! in its contact, and goes into the `cases` table only when another contact names it or
//! when the contact is dropped while its case is still open: an open contact costs no case
//! entry.

use super::*;

impl TenantState {
    /// Joins the offered contact to its open case, or opens one.
    pub(super) fn case_offered(&mut self, s: &TenantSettings, ev: &Ev, contact: &mut Contact) {
        let contact_id = ev.contact();
        let t = ev.t;
        let customer = ev.customer();
        let named = ev.spans.case_id.1 > 0;
        let case_id = id_of(ev.case_id());
        let key = customer_key(customer, case_id);
        if named && !self.cases.contains_key(&key) {
            self.take_in_own_case(s, customer, case_id, t);
        }
        let open = self
            .cases
            .get_mut(&key)
            .filter(|case| t - case.last_offer <= s.case_window_ms);
        match open {
            Some(case) => {
                case.contacts += 1;
                case.last_offer = case.last_offer.max(t);
                contact.case_opening = case.opening;
                contact.case_shared = true;
                self.case_keys.insert(contact_id, key);
            }
            None => {
                self.case_openings = self.case_openings.wrapping_add(1);
                contact.case_opening = self.case_openings;
                if named {
                    let case = Case {
                        first_offer: t,
                        last_offer: t,
                        contacts: 1,
                        opening: self.case_openings,
                    };
                    self.cases.insert(key, case);
                    contact.case_shared = true;
                    self.case_keys.insert(contact_id, key);
                }
            }
        }
    }

    /// When an offer names a contact's id as its caseId: that contact's own case, if still
    /// open, moves into the `cases` table so the offer can join it.
    fn take_in_own_case(&mut self, s: &TenantSettings, customer: Id, case_id: Id, t: i64) {
        let Some(first) = self.contacts.get_mut(&case_id) else {
            return;
        };
        let own = !first.case_shared && !first.case_closed;
        let same_customer = id_of(first.customer.as_bytes()) == customer;
        if !own || !same_customer || t - first.offered_at > s.case_window_ms {
            return;
        }
        let key = customer_key(customer, case_id);
        first.case_shared = true;
        self.cases.insert(key, own_case(first));
        self.case_keys.insert(case_id, key);
    }

    /// Before contacts are dropped: the open cases of their own go into the `cases` table,
    /// where a later contact naming them (or their expiry) finds them.
    pub(super) fn keep_own_cases(&mut self, dropped: &[(Id, Contact)]) {
        for (id, contact) in dropped {
            if !contact.case_shared && !contact.case_closed && !contact.customer.is_empty() {
                let key = customer_key(id_of(contact.customer.as_bytes()), *id);
                self.cases.insert(key, own_case(contact));
            }
        }
    }
}

/// The case of a contact of its own, as a `cases` entry.
fn own_case(contact: &Contact) -> Case {
    Case {
        first_offer: contact.offered_at,
        last_offer: contact.offered_at,
        contacts: 1,
        opening: contact.case_opening,
    }
}

/// The case components of a contact that ended resolved: its case closes if still open and
/// not forgotten.
pub(super) fn case_resolved(
    cases: &mut IdMap<Case>,
    case_keys: &IdMap<Id>,
    s: &TenantSettings,
    ev: &Ev,
    contact: &mut Contact,
    c: &mut Components,
) {
    let case = if !contact.case_shared {
        if contact.case_closed {
            return;
        }
        contact.case_closed = true;
        own_case(contact)
    } else {
        let Some(key) = case_keys.get(&ev.contact()) else {
            return;
        };
        let Some(case) = cases.get(key).copied() else {
            return;
        };
        if case.opening != contact.case_opening {
            return;
        }
        cases.remove(key);
        case
    };
    if ev.t - case.last_offer > s.case_window_ms {
        return;
    }
    c.cases_resolved = 1;
    c.case_resolution_ms = (ev.t - case.first_offer).max(0) as u64;
    c.case_contacts = u64::from(case.contacts);
}

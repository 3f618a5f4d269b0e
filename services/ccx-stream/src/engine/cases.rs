//! Cases (SPEC §7.2): the contacts of one customer issue. A case opens at its first contact's
//! offer and closes when a contact of it ends resolved; a case with no contact offered for
//! `case_window` is forgotten.

use super::*;

impl TenantState {
    /// Joins the offered contact to its open case, or opens one.
    pub(super) fn case_offered(&mut self, s: &TenantSettings, ev: &Ev, contact: &mut Contact) {
        let key = customer_key(ev.customer_id().as_bytes(), ev.case_id());
        let t = ev.t;
        let open = self
            .cases
            .get_mut(&key)
            .filter(|case| t - case.last_offer <= s.case_window_ms);
        let opening = match open {
            Some(case) => {
                case.contacts += 1;
                case.last_offer = case.last_offer.max(t);
                case.opening
            }
            None => {
                self.case_openings = self.case_openings.wrapping_add(1);
                let case = Case {
                    first_offer: t,
                    last_offer: t,
                    contacts: 1,
                    opening: self.case_openings,
                };
                self.cases.insert(key, case);
                case.opening
            }
        };
        contact.case_opening = opening;
        // The contact's own id is the usual case key: stored only when the offer named
        // another.
        let own = customer_key(ev.customer_id().as_bytes(), ev.bytes(ev.spans.contact_id));
        contact.case = (key != own).then(|| Box::new(key));
    }
}

/// The case components of a contact that ended resolved: its case closes if still open.
pub(super) fn case_resolved(
    cases: &mut IdMap<Case>,
    s: &TenantSettings,
    ev: &Ev,
    contact: &Contact,
    c: &mut Components,
) {
    let key = match &contact.case {
        Some(key) => **key,
        None => customer_key(contact.customer.as_bytes(), ev.bytes(ev.spans.contact_id)),
    };
    let Some(case) = cases.get(&key).copied() else {
        return;
    };
    if case.opening != contact.case_opening {
        return;
    }
    cases.remove(&key);
    if ev.t - case.last_offer > s.case_window_ms {
        return;
    }
    c.cases_resolved = 1;
    c.case_resolution_ms = (ev.t - case.first_offer).max(0) as u64;
    c.case_contacts = u64::from(case.contacts);
}

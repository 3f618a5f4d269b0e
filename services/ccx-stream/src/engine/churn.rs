//! Churn risk: surveys, sentiment and contact facts as signals of a customer, scored within
//! the lookback, an alert above the threshold outside the cooldown.

use super::tenant::*;
use super::*;

/// The customer a signal of `ev` is about: the event's, else its contact's.
pub(super) fn signal_customer(ev: &Ev, contact: Option<&Contact>) -> Box<str> {
    match contact {
        Some(contact) if !ev.has_customer() => contact.customer.clone(),
        _ => Box::from(ev.customer_id()),
    }
}

impl TenantState {
    pub(super) fn survey(&mut self, tenant: &str, s: &TenantSettings, ev: &Ev) {
        let score = ev.score;
        let mut c = Components::default();
        let signal = match SurveyType::try_from(i32::from(ev.survey_type)) {
            Ok(SurveyType::Nps) => {
                c.nps_responses = 1;
                c.nps_promoters = u64::from(score >= 9);
                c.nps_detractors = u64::from(score <= 6);
                (score <= 6).then_some(Signal::NpsDetractor)
            }
            Ok(SurveyType::Csat) => {
                c.csat_responses = 1;
                c.csat_satisfied = u64::from(score >= 4);
                (score <= 2).then_some(Signal::CsatDissatisfied)
            }
            Ok(SurveyType::Ces) => {
                c.ces_responses = 1;
                c.ces_score_sum = score.max(0) as u64;
                (score <= 3).then_some(Signal::HighEffort)
            }
            _ => return self.out_of_sequence(ev),
        };
        self.contact_fact(tenant, s, ev, c, signal);
    }

    pub(super) fn sentiment(&mut self, tenant: &str, s: &TenantSettings, ev: &Ev) {
        let v = ev.number;
        let c = Components {
            sentiment_count: 1,
            sentiment_milli_sum: (v * 1000.0).round() as i64,
            sentiment_negative: u64::from(v <= -0.25),
            sentiment_positive: u64::from(v >= 0.25),
            ..Components::default()
        };
        let signal = (v <= -0.5).then_some(Signal::NegativeSentiment);
        self.contact_fact(tenant, s, ev, c, signal);
    }

    /// A survey or sentiment: always applied, to the event's dimensions.
    pub(super) fn contact_fact(
        &mut self,
        tenant: &str,
        s: &TenantSettings,
        ev: &Ev,
        c: Components,
        signal: Option<Signal>,
    ) {
        let contact = self.contacts.get_mut(&ev.contact());
        let signal = signal.map(|signal| (signal, signal_customer(ev, contact.as_deref())));
        let mut reason = ev.reason;
        if let Some(contact) = contact {
            contact.last_at = contact.last_at.max(ev.t);
            reason = contact.reason;
        }
        self.add(Dims::of(ev, ev.agent, reason), &c, true);
        if let Some((signal, customer)) = signal {
            self.signal(tenant, s, &customer, signal, ev);
        }
    }

    pub(super) fn signal(
        &mut self,
        tenant: &str,
        s: &TenantSettings,
        customer_id: &str,
        sig: Signal,
        ev: &Ev,
    ) {
        if customer_id.is_empty() {
            return;
        }
        let churn = &s.churn;
        let customer = self
            .customers
            .entry(id_of(customer_id.as_bytes()))
            .or_default();
        push(&mut customer.signals, (ev.t, sig.index() as u8));
        retain(&mut customer.signals, |(at, _)| {
            *at <= ev.t && ev.t - at < churn.lookback_ms
        });
        let mut counts = [0u32; 7];
        for (_, i) in customer.signals.iter() {
            counts[usize::from(*i)] += 1;
        }
        let raw: u32 = Signal::ALL
            .iter()
            .map(|k| {
                churn.rules[k.index()].weight * counts[k.index()].min(churn.rules[k.index()].cap)
            })
            .sum();
        let score = raw.min(100);
        let cooled = customer.last_alert == NONE || ev.t - customer.last_alert >= churn.cooldown_ms;
        if score >= churn.threshold && cooled {
            customer.last_alert = ev.t;
            let reasons = Signal::ALL
                .iter()
                .filter(|k| counts[k.index()] > 0)
                .map(|k| k.name().to_string())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let view = ev.view();
            self.alerts.push(ChurnAlert {
                tenant_id: tenant.to_string(),
                alert_id: format!("{tenant}:{customer_id}:{}", view.event_id),
                customer_id: customer_id.to_string(),
                score,
                reasons,
                triggered_at: ev.t,
                contact_id: view.contact_id.to_string(),
                channel: if ev.channel == 0 {
                    String::new()
                } else {
                    channel_name(ev.channel)
                },
                queue_id: view.queue_id.to_string(),
                agent_id: view.agent_id.to_string(),
            });
        }
    }
}

//! Churn signal rules written as a map by SPEC name (`{"NPS_DETRACTOR": {"weight": 30, "cap":
//! 1}, …}`): readable in JSON, and a signal left out keeps its SPEC default.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

use super::{ChurnSettings, Signal, SignalRule};

pub fn serialize<S: Serializer>(rules: &[SignalRule; 7], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(
        Signal::ALL
            .iter()
            .map(|sig| (sig.name(), rules[sig.index()])),
    )
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[SignalRule; 7], D::Error> {
    let mut rules = ChurnSettings::default().rules;
    for (name, rule) in BTreeMap::<String, SignalRule>::deserialize(d)? {
        let Some(signal) = Signal::parse(&name) else {
            return Err(D::Error::custom(unknown_signal(&name)));
        };
        rules[signal.index()] = rule;
    }
    Ok(rules)
}

/// The error text for a signal name SPEC does not have.
pub fn unknown_signal(name: &str) -> String {
    format!(
        "unknown signal {name:?} (known: {})",
        Signal::ALL.map(|s| s.name()).join(", ")
    )
}

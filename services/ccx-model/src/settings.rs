//! Per-tenant metric settings (SPEC §3): thresholds, FCR window, lateness and churn scoring.
//! Defaults are SPEC's; the control plane holds each tenant's values.

/// A churn signal of SPEC §3, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    NpsDetractor,
    CsatDissatisfied,
    HighEffort,
    NegativeSentiment,
    RepeatContact,
    LongAbandon,
    TransferBounce,
}

impl Signal {
    pub const ALL: [Signal; 7] = [
        Signal::NpsDetractor,
        Signal::CsatDissatisfied,
        Signal::HighEffort,
        Signal::NegativeSentiment,
        Signal::RepeatContact,
        Signal::LongAbandon,
        Signal::TransferBounce,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Signal::NpsDetractor => "NPS_DETRACTOR",
            Signal::CsatDissatisfied => "CSAT_DISSATISFIED",
            Signal::HighEffort => "HIGH_EFFORT",
            Signal::NegativeSentiment => "NEGATIVE_SENTIMENT",
            Signal::RepeatContact => "REPEAT_CONTACT",
            Signal::LongAbandon => "LONG_ABANDON",
            Signal::TransferBounce => "TRANSFER_BOUNCE",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Weight and cap ("counts at most") of one signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalRule {
    pub weight: u32,
    pub cap: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChurnSettings {
    /// Indexed by [`Signal::index`].
    pub rules: [SignalRule; 7],
    pub lookback_ms: i64,
    pub threshold: u32,
    pub cooldown_ms: i64,
    /// An inbound abandon with a wait at or above this is a LONG_ABANDON signal.
    pub long_abandon_ms: i64,
}

impl Default for ChurnSettings {
    fn default() -> Self {
        let r = |weight, cap| SignalRule { weight, cap };
        ChurnSettings {
            rules: [
                r(30, 1),
                r(20, 1),
                r(15, 1),
                r(15, 1),
                r(10, 3),
                r(10, 2),
                r(5, 1),
            ],
            lookback_ms: 30 * 86_400_000,
            threshold: 60,
            cooldown_ms: 86_400_000,
            long_abandon_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSettings {
    pub sl_threshold_ms: i64,
    pub short_abandon_ms: i64,
    pub fcr_window_ms: i64,
    pub allowed_lateness_ms: i64,
    pub churn: ChurnSettings,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            sl_threshold_ms: 20_000,
            short_abandon_ms: 5_000,
            fcr_window_ms: 86_400_000,
            allowed_lateness_ms: 5_000,
            churn: ChurnSettings::default(),
        }
    }
}

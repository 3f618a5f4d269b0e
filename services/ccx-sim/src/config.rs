//! What a simulated center is made of: its queues and the streams of contacts arriving in
//! them, its agents (teams with skills, shifts and breaks), and how customers and agents
//! behave. Plain data with defaults; the model reads it and never changes it.

use ccx_model::{Channel, Direction};

/// A duration in milliseconds, drawn anew for each contact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    Fixed(f64),
    Exponential {
        mean_ms: f64,
    },
    Uniform {
        lo_ms: f64,
        hi_ms: f64,
    },
    /// Right-skewed like real handle times: this mean and coefficient of variation, cut at
    /// four times the mean (a contact's handling has a practical ceiling, and a run's last
    /// contacts end soon after its last arrival).
    LogNormal {
        mean_ms: f64,
        cv: f64,
    },
}

impl Dist {
    pub fn mean_ms(&self) -> f64 {
        match *self {
            Dist::Fixed(ms) => ms,
            Dist::Exponential { mean_ms } | Dist::LogNormal { mean_ms, .. } => mean_ms,
            Dist::Uniform { lo_ms, hi_ms } => (lo_ms + hi_ms) / 2.0,
        }
    }
}

/// Contacts arriving (inbound) or dialled (outbound campaign) into one queue on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    /// Index into [`CenterConfig::queues`].
    pub queue: usize,
    pub channel: Channel,
    pub direction: Direction,
    /// Mean arrivals per hour (times the hour's [`CenterConfig::profile`] factor).
    pub per_hour: f64,
    /// An agent segment's length, holds included.
    pub talk: Dist,
    /// After-contact work once the contact ends.
    pub wrap: Dist,
    /// How long a customer waits for an agent before leaving; None waits forever.
    pub patience: Option<Dist>,
}

/// How many contacts an agent handles at once: voice and video one, digital channels several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Voice,
    Digital { concurrency: u32 },
}

impl Media {
    pub fn slots(self) -> u32 {
        match self {
            Media::Voice => 1,
            Media::Digital { concurrency } => concurrency.max(1),
        }
    }

    pub fn of(channel: Channel) -> MediaKind {
        match channel {
            Channel::Voice | Channel::Video => MediaKind::Voice,
            _ => MediaKind::Digital,
        }
    }

    pub fn kind(self) -> MediaKind {
        match self {
            Media::Voice => MediaKind::Voice,
            Media::Digital { .. } => MediaKind::Digital,
        }
    }
}

/// Which agents a contact can go to: voice/video agents or digital ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Voice = 0,
    Digital = 1,
}

/// A daily shift, in UTC: agents log in at `start_of_day_ms` and out `length_ms` later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    pub start_of_day_ms: i64,
    pub length_ms: i64,
}

/// A break of `length_ms` every `every_ms` of work, staggered across a team's agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaks {
    pub every_ms: i64,
    pub length_ms: i64,
}

/// Agents alike: the same skills (queues they serve), media, shift and breaks.
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub agents: usize,
    /// Indexes into [`CenterConfig::queues`].
    pub skills: Vec<usize>,
    pub media: Media,
    /// None: on duty from the start, until [`crate::Center::end_of_shift`].
    pub shift: Option<Shift>,
    pub breaks: Option<Breaks>,
}

/// How customers and agents behave beyond the queue: each share is a probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    /// Inbound voice contacts resolved in the IVR, never reaching the queue.
    pub ivr_self_service: f64,
    pub ivr_time: Dist,
    /// A waiting inbound voice customer is offered a callback after this wait...
    pub callback_offer_after_ms: Option<i64>,
    /// ...takes it with this probability...
    pub callback_accept: f64,
    /// ...and is dialled this long after asking.
    pub callback_delay: Dist,
    /// Outbound: the customer picks up, after ringing this long.
    pub pickup: f64,
    pub ring: Dist,
    /// Outbound: further attempts at a customer who did not pick up, this long apart.
    pub retries: u32,
    pub retry_delay: Dist,
    /// A segment has a hold of this length (inside the segment).
    pub hold: f64,
    pub hold_time: Dist,
    /// A segment ends in a transfer to another queue (at most two per contact).
    pub transfer: f64,
    pub resolve: f64,
    /// Outbound contacts that answer and end in a sale.
    pub convert: f64,
    /// An unresolved or abandoned customer comes back (same reason and case) this long later.
    pub come_back: f64,
    pub come_back_delay: Dist,
    pub survey: f64,
    pub sentiment: f64,
    /// Contacts whose agent is evaluated by QA.
    pub qa: f64,
    /// Voice and video ends with a call-quality score from the media platform.
    pub mos: f64,
}

impl Default for Behaviour {
    fn default() -> Self {
        let s = |s: f64| s * 1000.0;
        Behaviour {
            ivr_self_service: 0.05,
            ivr_time: Dist::Uniform {
                lo_ms: s(20.0),
                hi_ms: s(120.0),
            },
            callback_offer_after_ms: Some(30_000),
            callback_accept: 0.5,
            callback_delay: Dist::Uniform {
                lo_ms: s(60.0),
                hi_ms: s(600.0),
            },
            pickup: 0.6,
            ring: Dist::Uniform {
                lo_ms: s(5.0),
                hi_ms: s(30.0),
            },
            retries: 2,
            retry_delay: Dist::Uniform {
                lo_ms: s(600.0),
                hi_ms: s(3_600.0),
            },
            hold: 0.25,
            hold_time: Dist::Exponential { mean_ms: s(40.0) },
            transfer: 0.08,
            resolve: 0.75,
            convert: 0.2,
            come_back: 0.5,
            come_back_delay: Dist::Exponential {
                mean_ms: s(1_800.0),
            },
            survey: 0.3,
            sentiment: 0.5,
            qa: 0.05,
            mos: 0.9,
        }
    }
}

impl Behaviour {
    /// Nothing but queueing: no IVR, callbacks, holds, transfers, returns or follow-ups.
    pub fn queueing_only() -> Behaviour {
        Behaviour {
            ivr_self_service: 0.0,
            callback_offer_after_ms: None,
            callback_accept: 0.0,
            pickup: 1.0,
            ring: Dist::Fixed(0.0),
            retries: 0,
            hold: 0.0,
            transfer: 0.0,
            come_back: 0.0,
            survey: 0.0,
            sentiment: 0.0,
            qa: 0.0,
            mos: 0.0,
            ..Behaviour::default()
        }
    }
}

/// One tenant's contact center.
#[derive(Debug, Clone, PartialEq)]
pub struct CenterConfig {
    pub tenant: String,
    pub seed: u64,
    pub queues: Vec<String>,
    pub streams: Vec<Stream>,
    pub teams: Vec<Team>,
    pub customers: usize,
    /// Contact reasons, drawn uniformly for a new issue ("" = none given).
    pub reasons: Vec<String>,
    /// Arrival rate factor per UTC hour of the day; None = flat.
    pub profile: Option<[f64; 24]>,
    pub behaviour: Behaviour,
}

/// A weekday's shape: quiet nights, a morning peak and a smaller afternoon one.
pub const DAY_PROFILE: [f64; 24] = [
    0.1, 0.05, 0.05, 0.05, 0.1, 0.2, 0.4, 0.8, 1.4, 1.8, 1.9, 1.8, 1.5, 1.5, 1.7, 1.6, 1.4, 1.2,
    0.9, 0.7, 0.5, 0.4, 0.3, 0.2,
];

/// What [`crate::Sim`] simulates: tenants alike, each with these queues and at least `agents`
/// agents (more when the traffic asked of [`crate::Sim::generate`] needs them).
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub tenants: Vec<String>,
    pub queues: Vec<String>,
    pub agents: usize,
    pub customers: usize,
    pub seed: u64,
    /// Contacts a chat/messaging/email agent handles at once.
    pub chat_concurrency: u32,
    /// The service level the centers are staffed for (% answered in 20 s, Erlang C); None
    /// staffs exactly `agents` agents whatever the traffic.
    pub staff_for_sl_pct: Option<f64>,
    /// Arrival factor per UTC hour for [`crate::Sim::start`] (not for `generate`, whose
    /// rate is asked for).
    pub profile: Option<[f64; 24]>,
    /// `generate` closes the centers this long after its last arrival: what is still in
    /// progress ends then, so a run ends with a burst rather than a thinning tail of long
    /// contacts (a source quiet for minutes looks idle to the stream). None lets every
    /// contact run to its natural end.
    pub close_after_ms: Option<i64>,
    /// Queues whose agents are fewer than the staffing target asks: `(queue, share)` staffs
    /// the named queue's teams (voice and digital) at that share of it (say 0.7), as on a day
    /// when a team is short. Its queue builds up, its service level drops and the agents it needs
    /// exceed those on it. Applies with `staff_for_sl_pct` only.
    pub understaffed: Vec<(String, f64)>,
    pub behaviour: Behaviour,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            tenants: vec!["tenant-0".into(), "tenant-1".into()],
            queues: vec!["support".into(), "billing".into(), "sales".into()],
            agents: 12,
            customers: 200,
            seed: 7,
            chat_concurrency: 3,
            staff_for_sl_pct: Some(80.0),
            profile: None,
            close_after_ms: Some(5 * 60_000),
            understaffed: Vec::new(),
            behaviour: Behaviour::default(),
        }
    }
}

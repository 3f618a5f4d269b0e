//! Turns the few knobs of [`SimConfig`] into a tenant's [`CenterConfig`]: every queue gets a mix
//! of channels and an outbound campaign, and teams sized by Erlang C for the traffic asked
//! for, so that waits come from a believable staffing level rather than from a dice roll.

use ccx_model::staffing::agents_needed;
use ccx_model::{Channel, Direction};

use crate::config::{Breaks, CenterConfig, Dist, Media, MediaKind, SimConfig, Stream, Team};

/// Each queue's share of its traffic per channel and direction, with that channel's handle
/// time (mean seconds) and mean patience (None: the customer waits, as for an email).
const MIX: [(Channel, Direction, f64, f64, Option<f64>); 8] = [
    (Channel::Voice, Direction::Inbound, 0.48, 240.0, Some(120.0)),
    (Channel::Video, Direction::Inbound, 0.02, 300.0, Some(120.0)),
    (Channel::Chat, Direction::Inbound, 0.15, 480.0, Some(300.0)),
    (Channel::Email, Direction::Inbound, 0.08, 300.0, None),
    (
        Channel::Messaging,
        Direction::Inbound,
        0.07,
        400.0,
        Some(600.0),
    ),
    (Channel::Sms, Direction::Inbound, 0.03, 300.0, Some(600.0)),
    (
        Channel::Social,
        Direction::Inbound,
        0.02,
        300.0,
        Some(600.0),
    ),
    // A campaign: after the customer picks up, the dialler drops them if no agent comes.
    (Channel::Voice, Direction::Outbound, 0.15, 200.0, Some(10.0)),
];

const SL_THRESHOLD_S: f64 = 20.0;
/// Breaks: 15 minutes every 2 hours, an eighth of the agents away at any time, made up for.
const BREAK_EVERY_MS: i64 = 2 * 3_600_000;
const BREAK_MS: i64 = 15 * 60_000;
const ON_FLOOR: f64 = 1.0 - BREAK_MS as f64 / BREAK_EVERY_MS as f64;

/// The center of `tenant` (its index `t` among the tenants) for `per_second` contacts a second
/// over all tenants.
pub fn center(config: &SimConfig, t: usize, per_second: f64) -> CenterConfig {
    let queues = config.queues.len().max(1);
    let per_hour = per_second * 3600.0 / config.tenants.len().max(1) as f64 / queues as f64;
    let b = &config.behaviour;
    let mut streams = Vec::new();
    for q in 0..queues {
        for (channel, direction, share, talk_s, patience_s) in MIX {
            let digital = Media::of(channel) == MediaKind::Digital;
            let wrap = if digital { (5.0, 30.0) } else { (5.0, 60.0) };
            streams.push(Stream {
                queue: q,
                channel,
                direction,
                per_hour: per_hour * share,
                talk: Dist::LogNormal {
                    mean_ms: talk_s * 1000.0,
                    cv: 0.7,
                },
                wrap: Dist::Uniform {
                    lo_ms: wrap.0 * 1000.0,
                    hi_ms: wrap.1 * 1000.0,
                },
                patience: patience_s.map(|s| Dist::Exponential {
                    mean_ms: s * 1000.0,
                }),
            });
        }
    }
    let concurrency = config.chat_concurrency.max(1);
    // Agents per queue and media: by Erlang C for the queue's traffic, or a fixed split.
    let mut sizes = Vec::new();
    for q in 0..queues {
        for kind in [MediaKind::Voice, MediaKind::Digital] {
            let (mut rate, mut work_s) = (0.0, 0.0);
            for s in streams.iter().filter(|s| s.queue == q) {
                if Media::of(s.channel) != kind {
                    continue;
                }
                let mut r = s.per_hour / 3600.0;
                if s.direction == Direction::Outbound {
                    r *= b.pickup;
                } else if s.channel == Channel::Voice {
                    r *= 1.0 - b.ivr_self_service;
                }
                rate += r;
                work_s += r * (s.talk.mean_ms() + s.wrap.mean_ms()) / 1000.0;
            }
            let slots = match kind {
                MediaKind::Voice => 1,
                MediaKind::Digital => concurrency,
            };
            let n = match config.staff_for_sl_pct {
                Some(target) if rate > 0.0 => {
                    let aht = work_s / rate;
                    // Past Erlang C's 10,000 agents, traffic that large needs barely more
                    // agents than Erlangs.
                    let need = agents_needed(work_s, aht, SL_THRESHOLD_S, target)
                        .map_or(work_s * 1.02, f64::from);
                    ((need * short_share(config, q) / ON_FLOOR / f64::from(slots)).round() as usize)
                        .max(1)
                }
                // Fixed staffing: one agent wherever traffic comes, the rest spread below.
                _ => usize::from(rate > 0.0),
            };
            sizes.push(n);
        }
    }
    // At least `config.agents` in all, the extra ones spread over the queues' voice teams.
    let mut extra = config.agents.saturating_sub(sizes.iter().sum());
    let mut i = 0;
    while extra > 0 {
        let at = (i % queues) * 2 + usize::from(i % 3 == 2);
        sizes[at] += 1;
        extra -= 1;
        i += 1;
    }
    let breaks = Some(Breaks {
        every_ms: BREAK_EVERY_MS,
        length_ms: BREAK_MS,
    });
    let mut teams = Vec::new();
    for q in 0..queues {
        let (voice, digital) = (sizes[q * 2], sizes[q * 2 + 1]);
        // A fifth of the voice agents also serve the next queue: skills overlap as on a
        // real floor, so an idle agent of one queue helps another.
        let blended = if queues > 1 { voice / 5 } else { 0 };
        let team = |agents, skills, media| Team {
            agents,
            skills,
            media,
            shift: None,
            breaks,
        };
        teams.push(team(voice - blended, vec![q], Media::Voice));
        teams.push(team(blended, vec![q, (q + 1) % queues], Media::Voice));
        teams.push(team(digital, vec![q], Media::Digital { concurrency }));
    }
    teams.retain(|t| t.agents > 0);
    CenterConfig {
        tenant: config.tenants[t].clone(),
        seed: config.seed ^ ((t as u64) << 40),
        queues: config.queues.clone(),
        streams,
        teams,
        customers: config.customers.max(1),
        reasons: ["billing", "outage", "", "upgrade"]
            .map(String::from)
            .to_vec(),
        profile: config.profile,
        behaviour: b.clone(),
    }
}

/// The share of its staffing target queue `q`'s teams get ([`SimConfig::understaffed`]).
fn short_share(config: &SimConfig, q: usize) -> f64 {
    config
        .understaffed
        .iter()
        .find(|(queue, _)| config.queues.get(q) == Some(queue))
        .map_or(1.0, |(_, share)| share.clamp(0.0, 1.0))
}

//! `ccx staffing`: the Erlang C calculator for planners (SPEC §7.6) — agents a queue needs for
//! a traffic, and what that many (or `--agents`) give.

use ccx_model::staffing::{agents_needed, erlangs, with_agents, MAX_AGENTS};

#[derive(clap::Args, Debug, Clone)]
pub struct StaffingArgs {
    /// Contacts offered per hour.
    #[arg(long)]
    rate: f64,
    /// Average handle time in seconds (talk + hold + after-contact work).
    #[arg(long)]
    aht: f64,
    /// Service-level threshold in seconds.
    #[arg(long, default_value_t = 20.0)]
    sl: f64,
    /// Service-level target, % of contacts answered within the threshold.
    #[arg(long, default_value_t = 80.0)]
    target: f64,
    /// Agents staffed: show what they give instead of the agents needed.
    #[arg(long)]
    agents: Option<u32>,
    /// One JSON object: agents, p_wait, asa_s, sl_pct, occupancy_pct.
    #[arg(long)]
    json: bool,
}

/// What the command prints, or why the input cannot be computed (naming the flag).
pub fn output(args: &StaffingArgs) -> anyhow::Result<String> {
    let positive = |flag: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(anyhow::anyhow!("--{flag}: {v} must be a positive number"))
        }
    };
    positive("rate", args.rate)?;
    positive("aht", args.aht)?;
    if !(args.sl.is_finite() && args.sl >= 0.0) {
        anyhow::bail!("--sl: {} must be 0 or more seconds", args.sl);
    }
    if !(args.target > 0.0 && args.target < 100.0) {
        anyhow::bail!("--target: {} must be above 0 and below 100 %", args.target);
    }
    let a = erlangs(args.rate / 3600.0, args.aht);
    let agents = match args.agents {
        Some(n) if f64::from(n) <= a => anyhow::bail!(
            "--agents: {n} agents cannot carry {a:.2} Erlangs (the queue grows without bound)"
        ),
        Some(n) => n,
        None => agents_needed(a, args.aht, args.sl, args.target)
            .ok_or_else(|| anyhow::anyhow!("{a:.2} Erlangs need more than {MAX_AGENTS} agents"))?,
    };
    let s = with_agents(agents, a, args.aht, args.sl);
    if args.json {
        return Ok(format!("{}\n", serde_json::to_string(&s)?));
    }
    let why = match args.agents {
        Some(_) => "staffed".to_string(),
        None => format!("needed for {}% within {} s", args.target, args.sl),
    };
    Ok(format!(
        "traffic    {a:.2} Erlangs ({} contacts/h x {} s)\n\
         agents     {} ({why})\n\
         P(wait)    {:.1} %\n\
         ASA        {:.1} s\n\
         SL         {:.1} % within {} s\n\
         occupancy  {:.1} %\n",
        args.rate,
        args.aht,
        s.agents,
        100.0 * s.p_wait,
        s.asa_s,
        s.sl_pct,
        args.sl,
        s.occupancy_pct
    ))
}

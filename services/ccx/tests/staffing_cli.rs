//! `ccx staffing` as a planner runs it: the agents a traffic needs, what a staffing gives, and
//! input it cannot compute refused naming the flag.

use std::process::{Command, Output};

fn staffing(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccx"))
        .arg("staffing")
        .args(args)
        .output()
        .expect("run ccx staffing")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = staffing(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn the_calculator_finds_the_agents_and_what_they_give() {
    // 360 contacts an hour of 240 s (24 Erlangs), 80 % within 20 s: 29 agents.
    let needed = json(&[
        "--rate", "360", "--aht", "240", "--sl", "20", "--target", "80", "--json",
    ]);
    assert_eq!(needed["agents"], 29);
    let f = |key: &str| needed[key].as_f64().unwrap();
    assert!((f("p_wait") - 0.2423).abs() < 1e-4, "{needed}");
    assert!((f("asa_s") - 11.63).abs() < 1e-2, "{needed}");
    assert!((f("sl_pct") - 84.03).abs() < 1e-2, "{needed}");
    assert!((f("occupancy_pct") - 82.76).abs() < 1e-2, "{needed}");

    let fewer = json(&["--rate", "360", "--aht", "240", "--agents", "26", "--json"]);
    assert_eq!(fewer["agents"], 26);
    assert!(fewer["sl_pct"].as_f64().unwrap() < 50.0, "{fewer}");

    let text = staffing(&["--rate", "360", "--aht", "240"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("agents     29 (needed for 80% within 20 s)"),
        "{text}"
    );
}

#[test]
fn what_cannot_be_computed_is_refused_naming_the_flag() {
    for (args, flag) in [
        (&["--rate", "0", "--aht", "240"][..], "--rate"),
        (&["--rate", "360", "--aht", "-1"][..], "--aht"),
        (
            &["--rate", "360", "--aht", "240", "--target", "100"][..],
            "--target",
        ),
        (
            &["--rate", "360", "--aht", "240", "--agents", "24"][..],
            "--agents",
        ),
    ] {
        let out = staffing(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{args:?}: {err}");
    }
}

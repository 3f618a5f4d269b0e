//! `ccx tenant-database` as an operator onboarding a client brand runs it: the tenant's read
//! database exists afterwards with its copies and views, the read user to create is printed,
//! and a tenant id that is not one is refused naming it; `ccx migrate --tenant-database` builds
//! them too (the Helm migration Job does, for `grafana.tenants`).

use std::process::Command;

use ccx_store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ccx_tenant_database_builds_the_read_database_and_prints_its_user() {
    let (_server, clickhouse) = ccx_store::testing::ClickHouseServer::start();
    let store = Store::connect(&clickhouse).await.expect("connect");
    store.migrate().await.expect("migrate");
    let dir = tempfile_dir();
    let config = dir.join("ccx.toml");
    std::fs::write(
        &config,
        format!("[clickhouse]\nurl = \"{}\"\n", clickhouse.url),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ccx"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("CCX_LOG", "warn")
            .output()
            .expect("run ccx")
    };
    let out = run(&["tenant-database", "brand-a"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("ccx_t_brand-a holds tenant brand-a's rows"),
        "{text}"
    );
    assert!(text.contains("<brand_a_read>"), "{text}");
    assert!(
        text.contains("<allow_databases><database>ccx_t_brand-a</database></allow_databases>"),
        "{text}"
    );
    assert!(
        text.contains("GRANT SELECT ON `ccx_t_brand-a`.* TO `brand_a_read`"),
        "{text}"
    );
    let tables = store
        .query_json("SELECT name FROM system.tables WHERE database = 'ccx_t_brand-a' ORDER BY name")
        .await
        .unwrap();
    let names: Vec<&str> = tables.iter().filter_map(|t| t["name"].as_str()).collect();
    for expected in [
        "events",
        "queue_kpis_1m",
        "queue_metrics_1m",
        "alert_events",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    // Again, and rebuilt: both succeed.
    assert!(run(&["tenant-database", "brand-a"]).status.success());
    assert!(run(&["tenant-database", "brand-a", "--rebuild"])
        .status
        .success());
    let bad = run(&["tenant-database", "Brand A"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a tenant id"));
    // `ccx migrate` builds the listed tenants' databases (kept when it applied nothing).
    let migrated = run(&["migrate", "--tenant-database", "brand-a,brand-b"]);
    let text = String::from_utf8_lossy(&migrated.stdout);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(
        text.contains("ccx_t_brand-a: kept for tenant brand-a"),
        "{text}"
    );
    assert!(
        text.contains("ccx_t_brand-b: kept for tenant brand-b"),
        "{text}"
    );
    let views = store
        .query_json("SELECT name FROM system.tables WHERE database = 'ccx_t_brand-b' AND name = 'agent_kpis_1m'")
        .await
        .unwrap();
    assert_eq!(views.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ccx-tenant-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

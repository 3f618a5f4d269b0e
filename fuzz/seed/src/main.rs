//! Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ from real events:
//! the JSON test fixtures (tests/fixtures/*.json) and simulated contacts (`ccx_sim::Sim`).
//!
//! Run from the repository root: `cargo run --manifest-path fuzz/seed/Cargo.toml`. Files are
//! named by their content, so running it again adds nothing new.

use ccx_model::json::event_from_json;
use ccx_proto::prost::Message;
use ccx_proto::v1::Event;
use ccx_sim::{Sim, SimConfig};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// 2026-03-02T09:00:00Z.
const START_MS: i64 = 1_772_442_000_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut fixtures = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(root.join("tests/fixtures"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    for path in paths
        .iter()
        .filter(|p| p.extension() == Some("json".as_ref()))
    {
        let fixture: Value = serde_json::from_slice(&std::fs::read(path)?)?;
        let Some(Value::Array(values)) = fixture.get("events") else {
            continue;
        };
        let events = values
            .iter()
            .map(|v| event_from_json(v).map_err(|r| format!("{}: {r:?}", path.display())))
            .collect::<Result<Vec<Event>, _>>()?;
        fixtures.push((values.clone(), events));
    }

    // Simulated contacts: a few of each tenant, with every event type the simulator writes.
    let mut sim = Sim::new(SimConfig {
        seed: 11,
        ..SimConfig::default()
    });
    let contacts: Vec<Vec<Event>> = (0..12)
        .map(|i| sim.contact(START_MS + i * 45_000))
        .collect();
    let mut stream = sim.generate(START_MS, 30, 2.0);
    stream.extend(sim.end_of_shift(START_MS + 3_600_000));

    let mut out = Corpus::new(&root)?;

    // event_view: single records, one of each (type, field set) seen.
    let mut shapes = BTreeSet::new();
    let all = fixtures
        .iter()
        .flat_map(|(_, events)| events)
        .chain(contacts.iter().flatten())
        .chain(&stream);
    for event in all {
        let shape = (event.r#type, event.encode_to_vec().len().min(64) / 16);
        if shapes.insert(shape) {
            out.write("event_view", &event.encode_to_vec())?;
        }
    }

    // json_batch: each fixture's events as a JSON array and as NDJSON; each simulated
    // contact as NDJSON.
    for (values, _) in &fixtures {
        out.write("json_batch", &serde_json::to_vec(values)?)?;
        let mut lines = Vec::new();
        for v in values {
            lines.extend(serde_json::to_vec(v)?);
            lines.push(b'\n');
        }
        out.write("json_batch", &lines)?;
    }
    for contact in &contacts {
        let mut lines = Vec::new();
        for e in contact {
            lines.extend(serde_json::to_vec(&ccx_model::json::event_to_json(e))?);
            lines.push(b'\n');
        }
        out.write("json_batch", &lines)?;
    }

    // stream_ev: sequences of framed records, each fixture's events and simulated contacts.
    for (_, events) in &fixtures {
        out.write("stream_ev", &frame(events))?;
    }
    for contact in &contacts {
        out.write("stream_ev", &frame(contact))?;
    }
    for chunk in stream.chunks(40) {
        out.write("stream_ev", &frame(chunk))?;
    }
    out.report();
    Ok(())
}

/// Events encoded and framed as the `stream_ev` target reads them: each record a 2-byte
/// little-endian length and its bytes.
fn frame(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        let record = e.encode_to_vec();
        let n = u16::try_from(record.len()).expect("a record shorter than 64 KiB");
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&record);
    }
    out
}

struct Corpus {
    dir: std::path::PathBuf,
    written: std::collections::BTreeMap<&'static str, usize>,
}

impl Corpus {
    fn new(root: &Path) -> std::io::Result<Corpus> {
        Ok(Corpus {
            dir: root.join("fuzz/corpus"),
            written: Default::default(),
        })
    }

    /// Writes `bytes` as `<target>/seed-<hash of the bytes>`.
    fn write(&mut self, target: &'static str, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.dir.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("seed-{:016x}", fnv(bytes))), bytes)?;
        *self.written.entry(target).or_default() += 1;
        Ok(())
    }

    fn report(&self) {
        for (target, n) in &self.written {
            println!("{target}: {n} seeds");
        }
    }
}

/// FNV-1a, 64 bits: a stable name for a seed.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

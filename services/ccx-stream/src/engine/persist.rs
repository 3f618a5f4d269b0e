//! How a tenant's state is written into checkpoints: its data (names, waiting events, rows),
//! never the lookup structures built over them, which are rebuilt on load. Tuning an index
//! (the short-name keys, the bucket width, a row's change mark) thus leaves the checkpoint
//! format as it is.

use serde::de::{Deserializer, Error as _};
use serde::ser::Serializer;

use super::*;

/// Names in symbol order, without the empty name of symbol 0.
impl Serialize for Names {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names.iter().skip(1))
    }
}

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Names, D::Error> {
        let mut names = Names::default();
        for (i, name) in Vec::<Box<str>>::deserialize(d)?.into_iter().enumerate() {
            let expected = i as Sym + 1;
            if names.intern(name.as_bytes()) != expected {
                return Err(D::Error::custom(format!(
                    "name {name:?} is empty or listed twice"
                )));
            }
        }
        Ok(names)
    }
}

/// The waiting events, bucket after bucket in time order, each bucket as filled.
impl Serialize for Buffer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.len))?;
        for ev in self.keys.iter().flat_map(|k| &self.buckets[k]) {
            seq.serialize_element(ev)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Buffer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Buffer, D::Error> {
        let mut buffer = Buffer::default();
        for ev in Vec::<Ev>::deserialize(d)? {
            buffer.push(ev);
        }
        Ok(buffer)
    }
}

/// A row table as its rows and, in order, the keys changed since the last hand-over with
/// their values then.
#[derive(Serialize, Deserialize)]
struct Rows<V> {
    rows: Vec<(RowNum, Sym, V)>,
    changed: Vec<(RowNum, Sym, V)>,
}

impl<V: Copy + Serialize> Serialize for RowTable<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Rows {
            rows: self
                .rows
                .iter()
                .map(|((n, id), (v, _))| (*n, *id, *v))
                .collect(),
            changed: self.dirty.clone(),
        }
        .serialize(s)
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for RowTable<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RowTable<V>, D::Error> {
        let stored = Rows::<V>::deserialize(d)?;
        let mut table = RowTable::default();
        table.rows.reserve(stored.rows.len());
        for (num, id, value) in stored.rows {
            table.rows.insert((num, id), (value, false));
        }
        for (num, id, before) in stored.changed {
            let Some((_, changed)) = table.rows.get_mut(&(num, id)) else {
                return Err(D::Error::custom("a changed key without its row"));
            };
            *changed = true;
            table.dirty.push((num, id, before));
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(value: &impl Serialize) -> Vec<u8> {
        bincode::serialize(value).unwrap()
    }

    #[test]
    fn names_are_written_as_their_list_and_indexed_again_on_load() {
        let mut names = Names::default();
        let long = "a-queue-name-longer-than-sixteen-bytes";
        for n in ["sales", long, "agent-7"] {
            names.intern(n.as_bytes());
        }
        assert_eq!(bytes(&names), bytes(&vec!["sales", long, "agent-7"]));
        let mut back: Names = bincode::deserialize(&bytes(&names)).unwrap();
        assert_eq!(back.intern(long.as_bytes()), 2);
        assert_eq!(back.intern(b"agent-7"), 3);
        assert_eq!(back.intern(b"new"), 4);

        let twice = bytes(&vec!["sales", "sales"]);
        let err = bincode::deserialize::<Names>(&twice).unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
    }

    #[test]
    fn a_buffer_is_written_as_its_events_and_bucketed_again_on_load() {
        let ev = |t: i64| {
            let event = Event {
                event_id: format!("e-{t}"),
                occurred_at: Some(ccx_model::ms_timestamp(t)),
                ..Event::default()
            };
            Ev::read(event.encode_to_vec().into()).unwrap()
        };
        let mut buffer = Buffer::default();
        for t in [5_000, 10, 900, 20] {
            buffer.push(ev(t));
        }
        let times = |b: &Buffer| {
            b.keys
                .iter()
                .flat_map(|k| &b.buckets[k])
                .map(|e| e.t)
                .collect::<Vec<_>>()
        };
        assert_eq!(times(&buffer), [10, 20, 900, 5_000]);
        assert_eq!(
            bytes(&buffer),
            bytes(&[10, 20, 900, 5_000].map(ev).to_vec())
        );
        let mut back: Buffer = bincode::deserialize(&bytes(&buffer)).unwrap();
        assert_eq!((back.len, times(&back)), (4, times(&buffer)));
        let ready = back.take_before(1_000);
        assert_eq!(ready.iter().map(|e| e.t).collect::<Vec<_>>(), [10, 20, 900]);
    }

    #[test]
    fn a_row_table_keeps_its_rows_and_change_marks() {
        let mut table = RowTable::<u64>::default();
        table.add((0, 1, 0), 1, 5);
        table.add((60_000, 1, 0), 2, 7);
        table.take_dirty();
        table.add((60_000, 1, 0), 2, 1);
        table.add((60_000, 1, 0), 2, 1);
        let mut back: RowTable<u64> = bincode::deserialize(&bytes(&table)).unwrap();
        assert_eq!(back.get(&((0, 1, 0), 1)), 5);
        // The value at the last hand-over too: what a rollup holds of the row.
        assert_eq!(back.take_changes(), [((60_000, 1, 0), 2, 9, 7)]);
        assert!(back.take_dirty().is_empty());
    }
}

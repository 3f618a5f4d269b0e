//! Helpers shared by the fuzz targets and the seed corpus writer.

/// The records of a `stream_ev` input: each a 2-byte little-endian length and that many
/// bytes, the last one cut short by the end of the input.
pub fn records(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (&[lo, hi], rest) = data.split_first_chunk::<2>()?;
        let n = usize::from(u16::from_le_bytes([lo, hi])).min(rest.len());
        let (record, rest) = rest.split_at(n);
        data = rest;
        Some(record)
    })
}

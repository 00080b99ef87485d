//! Counting rows in a binary COPY stream without decoding values.
//!
//! The format (PostgreSQL docs, "Binary Format"): an 11-byte signature, a 32-bit
//! flags field, a 32-bit header-extension length and that many bytes; then tuples,
//! each a 16-bit field count followed by, per field, a 32-bit length (-1 for NULL)
//! and that many bytes; then a 16-bit -1 trailer. The counter only follows the
//! lengths, so its cost is per field, not per byte, and it accepts the stream in
//! pieces split anywhere.

/// The fixed signature that starts every binary COPY stream.
pub const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// A malformed binary COPY stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed binary COPY stream: {0}")]
pub struct FormatError(pub &'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Signature,
    Flags,
    ExtLen,
    FieldCount,
    FieldLen,
    Done,
}

/// Follows a binary COPY stream and counts its tuples.
#[derive(Debug, Clone)]
pub struct BinaryRowCounter {
    want: Want,
    acc: [u8; 11],
    have: usize,
    skip: u64,
    fields_left: u16,
    rows: u64,
}

impl Default for BinaryRowCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl BinaryRowCounter {
    /// A counter at the start of a stream.
    pub fn new() -> Self {
        BinaryRowCounter {
            want: Want::Signature,
            acc: [0; 11],
            have: 0,
            skip: 0,
            fields_left: 0,
            rows: 0,
        }
    }

    /// Tuples seen so far (complete or begun).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Whether the trailer has been seen.
    pub fn is_done(&self) -> bool {
        self.want == Want::Done
    }

    fn need(&self) -> usize {
        match self.want {
            Want::Signature => 11,
            Want::Flags | Want::ExtLen | Want::FieldLen => 4,
            Want::FieldCount => 2,
            Want::Done => 0,
        }
    }

    /// Feeds the next piece of the stream.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), FormatError> {
        while !data.is_empty() {
            // Fast path, the common case (the server sends one tuple per
            // message): whole headers read in place, no byte-wise accumulation.
            if self.skip == 0 && self.have == 0 {
                match self.want {
                    Want::FieldLen if data.len() >= 4 => {
                        let len = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                        if len < -1 {
                            return Err(FormatError("negative field length"));
                        }
                        self.skip = len.max(0) as u64;
                        data = &data[4..];
                        self.fields_left -= 1;
                        if self.fields_left == 0 {
                            self.want = Want::FieldCount;
                        }
                        continue;
                    }
                    Want::FieldCount if data.len() >= 2 => {
                        self.acc[..2].copy_from_slice(&data[..2]);
                        data = &data[2..];
                        self.step()?;
                        continue;
                    }
                    _ => {}
                }
            }
            if self.skip > 0 {
                let n = self.skip.min(data.len() as u64) as usize;
                self.skip -= n as u64;
                data = &data[n..];
                continue;
            }
            if self.want == Want::Done {
                return Err(FormatError("data after the trailer"));
            }
            let need = self.need();
            let n = (need - self.have).min(data.len());
            self.acc[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have == need {
                self.have = 0;
                self.step()?;
            }
        }
        Ok(())
    }

    fn step(&mut self) -> Result<(), FormatError> {
        let be32 = |a: &[u8; 11]| i32::from_be_bytes([a[0], a[1], a[2], a[3]]);
        match self.want {
            Want::Signature => {
                if &self.acc != SIGNATURE {
                    return Err(FormatError("bad signature"));
                }
                self.want = Want::Flags;
            }
            Want::Flags => self.want = Want::ExtLen,
            Want::ExtLen => {
                let len = be32(&self.acc);
                if len < 0 {
                    return Err(FormatError("negative header extension length"));
                }
                self.skip = len as u64;
                self.want = Want::FieldCount;
            }
            Want::FieldCount => {
                let count = i16::from_be_bytes([self.acc[0], self.acc[1]]);
                if count == -1 {
                    self.want = Want::Done;
                } else if count < 0 {
                    return Err(FormatError("negative field count"));
                } else {
                    self.rows += 1;
                    self.fields_left = count as u16;
                    self.want = if count == 0 {
                        Want::FieldCount
                    } else {
                        Want::FieldLen
                    };
                }
            }
            Want::FieldLen => {
                let len = be32(&self.acc);
                if len < -1 {
                    return Err(FormatError("negative field length"));
                }
                if len > 0 {
                    self.skip = len as u64;
                }
                self.fields_left -= 1;
                if self.fields_left == 0 {
                    self.want = Want::FieldCount;
                }
            }
            Want::Done => unreachable!("feed returns before stepping past the trailer"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Encodes rows (None = NULL) the way the server writes binary COPY.
    fn encode(rows: &[Vec<Option<Vec<u8>>>], ext: &[u8]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend(0u32.to_be_bytes());
        out.extend((ext.len() as u32).to_be_bytes());
        out.extend(ext);
        for row in rows {
            out.extend((row.len() as i16).to_be_bytes());
            for f in row {
                match f {
                    None => out.extend((-1i32).to_be_bytes()),
                    Some(v) => {
                        out.extend((v.len() as i32).to_be_bytes());
                        out.extend(v);
                    }
                }
            }
        }
        out.extend((-1i16).to_be_bytes());
        out
    }

    #[test]
    fn counts_simple_stream() {
        let data = encode(
            &[vec![Some(b"ab".to_vec()), None], vec![Some(vec![])], vec![]],
            b"x",
        );
        let mut c = BinaryRowCounter::new();
        c.feed(&data).unwrap();
        assert_eq!(c.rows(), 3);
        assert!(c.is_done());
    }

    #[test]
    fn rejects_garbage() {
        let mut c = BinaryRowCounter::new();
        assert!(c.feed(b"PGCOPY\nxxxxxxxxxxx").is_err());
        let mut data = encode(&[], b"");
        data.push(0);
        let mut c = BinaryRowCounter::new();
        assert!(c.feed(&data).is_err());
    }

    proptest! {
        #[test]
        fn counts_any_split(
            rows in proptest::collection::vec(
                proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)), 0..6),
                0..40),
            ext in proptest::collection::vec(any::<u8>(), 0..8),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let data = encode(&rows, &ext);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
            points.sort();
            let mut c = BinaryRowCounter::new();
            let mut prev = 0;
            for p in points.into_iter().chain([data.len()]) {
                c.feed(&data[prev..p]).unwrap();
                prev = p;
            }
            prop_assert_eq!(c.rows(), rows.len() as u64);
            prop_assert!(c.is_done());
        }
    }
}

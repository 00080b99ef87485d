//! Joining the server's CopyData messages into fewer, larger ones, in place.
//!
//! During `COPY ... TO STDOUT` the server sends one CopyData message per row.
//! A client library decodes and hands over each message on its own, and at a
//! few hundred bytes a row that per-message work is most of what pgcopy's CPU
//! does. The COPY data is one byte stream whose message boundaries carry no
//! meaning (the protocol lets them fall anywhere), so a reader placed between
//! the socket and the client library may join every run of complete CopyData
//! messages it has received into one message. Every other message passes
//! through unchanged and in order.
//!
//! [`FrameMerger::frame`] does that on a buffer of bytes as received: it
//! rewrites the complete messages at the buffer's start, moves the incomplete
//! rest down behind them, and says how much is ready to hand on.
//!
//! On the way it counts what a COPY reader wants to know without looking at
//! the data: the CopyData messages (one per row, as the protocol promises for
//! the server's messages) for live progress, and the row count of the
//! server's `COPY n` completion, the exact number of rows it sent.

/// A run of CopyData messages is joined up to this many payload bytes: per
/// message costs are spread over hundreds of rows already, and larger
/// messages only cost memory (at `-p 8`, 256 kB took 10 MiB more and no less
/// CPU).
pub const MAX_MERGED: usize = 64 * 1024;

const COPY_DATA: u8 = b'd';
const COMMAND_COMPLETE: u8 = b'C';
const HEADER: usize = 5;

/// What [`FrameMerger::frame`] left in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framed {
    /// `buf[..ready]` holds complete messages, ready to hand on.
    pub ready: usize,
    /// `buf[ready..len]` holds the start of an incomplete message; the caller
    /// shortens the buffer to `len`.
    pub len: usize,
}

/// Joins runs of CopyData messages in a stream of backend messages.
#[derive(Debug, Clone, Default)]
pub struct FrameMerger {
    unframed: usize,
    passthrough: bool,
    copy_data: u64,
    copy_rows: Option<u64>,
}

impl FrameMerger {
    /// A merger at the start of a stream of backend messages.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` bytes are not messages and pass through as they are: the
    /// single-byte answer to an SSLRequest.
    pub fn expect_unframed(&mut self, n: usize) {
        self.unframed += n;
    }

    /// CopyData messages seen so far, all statements together.
    pub fn copy_data_messages(&self) -> u64 {
        self.copy_data
    }

    /// The row count of the last `COPY n` completion seen, once.
    pub fn take_copy_rows(&mut self) -> Option<u64> {
        self.copy_rows.take()
    }

    /// Frames `buf[ready..]`, where `buf[..ready]` is already framed.
    ///
    /// A malformed length stops the joining for good and passes every byte
    /// through, so the client library reports the broken stream itself.
    pub fn frame(&mut self, buf: &mut [u8], ready: usize) -> Framed {
        let len = buf.len();
        if self.passthrough {
            return Framed { ready: len, len };
        }
        let mut r = ready;
        if self.unframed > 0 {
            let n = self.unframed.min(len - r);
            self.unframed -= n;
            r += n;
            if self.unframed > 0 {
                return Framed { ready: r, len };
            }
        }
        // Read position `r`, write position `w`: w <= r, and the gap between
        // them is the headers dropped from joined messages.
        let mut w = r;
        // Where the open run's header was written.
        let mut run: Option<usize> = None;
        while len - r >= HEADER {
            let tag = buf[r];
            let size =
                u32::from_be_bytes([buf[r + 1], buf[r + 2], buf[r + 3], buf[r + 4]]) as usize;
            if size < 4 {
                self.passthrough = true;
                break;
            }
            if len - r < size + 1 {
                break;
            }
            let payload = size - 4;
            if tag == COPY_DATA {
                self.copy_data += 1;
            } else if tag == COMMAND_COMPLETE {
                if let Some(n) = copy_rows(&buf[r + HEADER..r + 1 + size]) {
                    self.copy_rows = Some(n);
                }
            }
            match run {
                Some(h) if tag == COPY_DATA && w - h - HEADER + payload <= MAX_MERGED => {
                    buf.copy_within(r + HEADER..r + 1 + size, w);
                    w += payload;
                }
                _ => {
                    close(buf, run, w);
                    run = (tag == COPY_DATA).then_some(w);
                    if w != r {
                        buf.copy_within(r..r + 1 + size, w);
                    }
                    w += size + 1;
                }
            }
            r += size + 1;
        }
        close(buf, run, w);
        if w != r {
            buf.copy_within(r..len, w);
        }
        let end = w + (len - r);
        Framed {
            // After a malformed length, everything goes on as it is.
            ready: if self.passthrough { end } else { w },
            len: end,
        }
    }
}

/// The `n` of a `COPY n` command tag (NUL-terminated).
fn copy_rows(tag: &[u8]) -> Option<u64> {
    let digits = tag.strip_prefix(b"COPY ")?;
    let digits = digits.strip_suffix(b"\0").unwrap_or(digits);
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Writes the length of the joined message whose header is at `run`.
fn close(buf: &mut [u8], run: Option<usize>, w: usize) {
    if let Some(h) = run {
        let size = (w - h - 1) as u32;
        buf[h + 1..h + HEADER].copy_from_slice(&size.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    /// Splits a stream into (tag, body) messages; panics on a partial one.
    fn parse(mut s: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        while !s.is_empty() {
            let size = u32::from_be_bytes([s[1], s[2], s[3], s[4]]) as usize;
            out.push((s[0], s[5..1 + size].to_vec()));
            s = &s[1 + size..];
        }
        out
    }

    /// Feeds `stream` in pieces as a socket would, framing after each read
    /// and handing on at most `take` ready bytes each time, as a reader with a
    /// small buffer would.
    fn run(stream: &[u8], cuts: &[usize], unframed: usize) -> Vec<u8> {
        run_taking(stream, cuts, unframed, usize::MAX)
    }

    fn run_taking(stream: &[u8], cuts: &[usize], unframed: usize, take: usize) -> Vec<u8> {
        let mut m = FrameMerger::new();
        m.expect_unframed(unframed);
        let mut buf: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        let mut ready = 0;
        let mut at = 0;
        for &c in cuts.iter().chain(std::iter::once(&stream.len())) {
            let c = c.clamp(at, stream.len());
            buf.extend_from_slice(&stream[at..c]);
            at = c;
            let f = m.frame(&mut buf, ready);
            buf.truncate(f.len);
            let n = f.ready.min(take);
            out.extend_from_slice(&buf[..n]);
            buf.drain(..n);
            ready = f.ready - n;
        }
        out.extend_from_slice(&buf[..ready]);
        buf.drain(..ready);
        assert!(buf.is_empty(), "left over: {buf:?}");
        out
    }

    #[test]
    fn joins_copy_data_and_keeps_others() {
        let mut s = message(b'H', &[0, 0, 0]);
        s.extend(message(b'd', b"ab"));
        s.extend(message(b'd', b"c"));
        s.extend(message(b'd', b""));
        s.extend(message(b'c', b""));
        s.extend(message(b'C', b"COPY 3\0"));
        s.extend(message(b'Z', b"I"));
        let out = run(&s, &[], 0);
        assert_eq!(
            parse(&out),
            vec![
                (b'H', vec![0, 0, 0]),
                (b'd', b"abc".to_vec()),
                (b'c', vec![]),
                (b'C', b"COPY 3\0".to_vec()),
                (b'Z', b"I".to_vec()),
            ]
        );
    }

    #[test]
    fn counts_copy_data_and_reads_the_copy_tag() {
        let mut m = FrameMerger::new();
        let mut s = message(b'd', b"a");
        s.extend(message(b'd', b"b"));
        s.extend(message(b'c', b""));
        s.extend(message(b'C', b"COPY 2\0"));
        let _ = m.frame(&mut s, 0);
        assert_eq!(m.copy_data_messages(), 2);
        assert_eq!(m.take_copy_rows(), Some(2));
        assert_eq!(m.take_copy_rows(), None);
        let mut s = message(b'C', b"SELECT 5\0");
        s.extend(message(b'C', b"COPY 18446744073709551615\0"));
        let _ = m.frame(&mut s, 0);
        assert_eq!(m.take_copy_rows(), Some(u64::MAX));
        let mut s = message(b'C', b"RELEASE\0");
        let _ = m.frame(&mut s, 0);
        assert_eq!(m.take_copy_rows(), None);
    }

    #[test]
    fn ssl_answer_passes_through_before_messages() {
        let mut s = vec![b'N'];
        s.extend(message(b'R', &[0, 0, 0, 0]));
        let out = run(&s, &[0, 1, 3], 1);
        assert_eq!(out, s);
    }

    #[test]
    fn a_malformed_length_passes_everything_through() {
        let mut s = message(b'd', b"x");
        s.extend([b'E', 0, 0, 0, 1, 9, 9]);
        let out = run(&s, &[], 0);
        assert_eq!(out, s);
    }

    #[test]
    fn runs_are_cut_at_the_limit() {
        let row = vec![7u8; 1000];
        let mut s = Vec::new();
        for _ in 0..600 {
            s.extend(message(b'd', &row));
        }
        let out = parse(&run(&s, &[], 0));
        assert!(out.len() >= 3, "{} messages", out.len());
        assert!(out.iter().all(|(t, b)| *t == b'd' && b.len() <= MAX_MERGED));
        assert_eq!(out.iter().map(|(_, b)| b.len()).sum::<usize>(), 600_000);
    }

    fn messages() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
        prop::collection::vec(
            (
                prop_oneof![
                    6 => Just(b'd'),
                    1 => Just(b'N'),
                    1 => Just(b'C'),
                    1 => Just(b'Z')
                ],
                prop::collection::vec(any::<u8>(), 0..40),
            ),
            0..60,
        )
    }

    proptest! {
        /// However the bytes arrive, the output is the same messages, with each
        /// run of CopyData joined into messages whose payloads concatenate to
        /// the run's payloads.
        #[test]
        fn any_chunking_keeps_the_stream(
            msgs in messages(),
            mut cuts in prop::collection::vec(0usize..3000, 0..20),
            take in 1usize..200,
        ) {
            cuts.sort_unstable();
            let stream: Vec<u8> = msgs.iter().flat_map(|(t, b)| message(*t, b)).collect();
            let out = parse(&run_taking(&stream, &cuts, 0, take));
            let group = |ms: &[(u8, Vec<u8>)]| {
                let mut g: Vec<(u8, Vec<u8>)> = Vec::new();
                for (t, b) in ms {
                    match g.last_mut() {
                        Some((b'd', acc)) if *t == b'd' => acc.extend_from_slice(b),
                        _ => g.push((*t, b.clone())),
                    }
                }
                g
            };
            prop_assert_eq!(group(&out), group(&msgs));
            // Never more messages than went in.
            prop_assert!(out.len() <= msgs.len());
        }
    }
}

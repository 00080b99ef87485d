//! What a person watching a copy sees.
//!
//! On a terminal: one overall bar pinned to the top line (rows, bytes, MB/s,
//! ETA) and a line per worker under it, while log lines scroll below them. The
//! top lines are kept out of the terminal's scrolling region (DECSTBM), and
//! indicatif draws into them through [`PinnedTop`], a `TermLike` that maps its
//! relative cursor moves onto those fixed rows. Elsewhere (stderr not a terminal,
//! `CI` set, `--no-progress`) a plain log line every few seconds replaces it.

use crate::lock::Locked;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Pinned bars on the terminal.
    Bar,
    /// A plain log line every few seconds.
    Lines,
}

/// Chooses how to show progress. Inputs are passed in, not queried, so the
/// choice is testable:
///
/// | stderr is a terminal | `CI` set | `--no-progress` | mode  |
/// |----------------------|----------|-----------------|-------|
/// | yes                  | no       | no              | Bar   |
/// | yes                  | yes      | any             | Lines |
/// | any                  | any      | yes             | Lines |
/// | no                   | any      | any             | Lines |
pub fn choose(is_terminal: bool, ci: bool, no_progress: bool) -> ProgressMode {
    if is_terminal && !ci && !no_progress {
        ProgressMode::Bar
    } else {
        ProgressMode::Lines
    }
}

/// The mode for this process.
pub fn detect(no_progress: bool) -> ProgressMode {
    use std::io::IsTerminal;
    choose(
        std::io::stderr().is_terminal(),
        std::env::var_os("CI").is_some_and(|v| !v.is_empty()),
        no_progress,
    )
}

#[derive(Debug, Default)]
struct Cursor {
    row: usize,
    col: usize,
}

/// A `TermLike` that draws on the first `lines` rows of the screen, whatever
/// the real cursor does: each write saves the cursor, jumps to its row, writes,
/// clears the rest of the row and restores the cursor.
#[derive(Debug)]
pub struct PinnedTop {
    width: u16,
    lines: u16,
    cursor: Mutex<Cursor>,
}

impl PinnedTop {
    fn emit(&self, row: usize, col: usize, text: &str) -> std::io::Result<()> {
        if row >= self.lines as usize {
            return Ok(());
        }
        let mut err = std::io::stderr().lock();
        write!(err, "\x1b7\x1b[{};{}H{text}\x1b[K\x1b8", row + 1, col + 1)?;
        err.flush()
    }
}

impl TermLike for PinnedTop {
    fn width(&self) -> u16 {
        self.width
    }
    fn height(&self) -> u16 {
        self.lines
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        let mut c = self.cursor.locked();
        c.row = c.row.saturating_sub(n);
        Ok(())
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.cursor.locked().row += n;
        Ok(())
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.cursor.locked().col += n;
        Ok(())
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        let mut c = self.cursor.locked();
        c.col = c.col.saturating_sub(n);
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        let mut c = self.cursor.locked();
        self.emit(c.row, c.col, s)?;
        c.row += 1;
        c.col = 0;
        Ok(())
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        let mut c = self.cursor.locked();
        let s = match s.rfind('\r') {
            Some(i) => {
                c.col = 0;
                &s[i + 1..]
            }
            None => s,
        };
        if s.is_empty() {
            return Ok(());
        }
        // indicatif pads each line to the full width and relies on the
        // terminal wrapping the next write onto the next line.
        if c.col >= self.width as usize {
            c.row += 1;
            c.col = 0;
        }
        // The padding itself needs no drawing: every write clears to the end.
        if s.bytes().any(|b| b != b' ') {
            self.emit(c.row, c.col, s)?;
        }
        c.col += console::measure_text_width(s);
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        let mut c = self.cursor.locked();
        c.col = 0;
        self.emit(c.row, 0, "")
    }
    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The live display: an overall bar and a line per worker.
pub struct Display {
    _multi: MultiProgress,
    overall: ProgressBar,
    workers: Vec<ProgressBar>,
    rows_on_screen: u16,
    active: bool,
    /// The last snapshot's `after_units`.
    after_units: AtomicU64,
    /// Set once the bar shows the steps after the load: a late snapshot of
    /// the load (the coordinator's last) no longer redraws it.
    after_began: AtomicBool,
}

/// One update of the display.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Progress in estimated bytes (chunks done count fully).
    pub done_units: u64,
    /// Total estimated bytes.
    pub total_units: u64,
    /// Rows copied, exact.
    pub rows: u64,
    /// Rows expected: estimates, replaced by exact counts as tables finish.
    pub rows_expected: u64,
    /// Bytes streamed.
    pub bytes: u64,
    /// Tables finished / in total.
    pub tables_done: usize,
    /// Tables in total.
    pub tables: usize,
    /// Per worker: what it copies now, if anything.
    pub workers: Vec<Option<String>>,
    /// What the work after the load weighs on the bar, in the same units:
    /// the bar and its ETA count it from the start.
    pub after_units: u64,
}

impl Display {
    /// Starts the pinned display for `workers` workers.
    pub fn start(workers: usize) -> Display {
        let term = console::Term::stderr();
        let (rows, cols) = term.size();
        let lines = (1 + workers as u16).min(rows / 2).max(1);
        // Push what is on screen into the scrollback, then keep the top lines
        // out of the scrolling region and put the cursor at its bottom.
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "{}\x1b[{};{}r\x1b[{};1H",
            "\n".repeat(rows as usize),
            lines + 1,
            rows,
            rows
        );
        let _ = err.flush();
        drop(err);
        let target = ProgressDrawTarget::term_like_with_hz(
            Box::new(PinnedTop {
                width: cols,
                lines,
                cursor: Mutex::new(Cursor::default()),
            }),
            8,
        );
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(1));
        overall.set_style(
            style("pgcopy {bar:30.green/white} {percent:>3}% {msg} ETA {eta}")
                .progress_chars("=> "),
        );
        let workers = (0..lines.saturating_sub(1))
            .map(|i| {
                let b = multi.add(ProgressBar::new_spinner());
                b.set_style(style("  {prefix} {msg}"));
                b.set_prefix(format!("worker {}", i + 1));
                b.set_message("starting");
                b
            })
            .collect();
        Display {
            _multi: multi,
            overall,
            workers,
            rows_on_screen: rows,
            active: true,
            after_units: AtomicU64::new(0),
            after_began: AtomicBool::new(false),
        }
    }

    /// Shows a new state of the load; once the steps after it show, the
    /// bar is theirs.
    pub fn update(&self, s: &Snapshot, secs: f64) {
        if !self.after_began.load(Ordering::Relaxed) {
            self.show(s, secs);
        }
    }

    fn show(&self, s: &Snapshot, secs: f64) {
        self.after_units.store(s.after_units, Ordering::Relaxed);
        self.overall
            .set_length(s.total_units.max(1) + s.after_units);
        self.overall
            .set_position(s.done_units.min(s.total_units.max(1)));
        self.overall.set_message(format!(
            "{} rows of ~{} | {} | {:.1} MB/s | {}/{} tables |",
            s.rows,
            s.rows_expected.max(s.rows),
            crate::format::human_bytes(s.bytes),
            s.bytes as f64 / 1048576.0 / secs.max(0.001),
            s.tables_done,
            s.tables
        ));
        for (bar, w) in self.workers.iter().zip(&s.workers) {
            bar.set_message(w.clone().unwrap_or_else(|| "idle".into()));
        }
    }

    /// After the load: the bar says which step runs now and how far it is
    /// (`engine::after_progress`), and goes on filling as the index builds
    /// it counted end (`fraction` of them done); the workers' lines go.
    pub fn after_load(&self, step: &str, fraction: f64) {
        self.after_began.store(true, Ordering::Relaxed);
        let units = self.after_units.load(Ordering::Relaxed);
        let length = self.overall.length().unwrap_or(1);
        let loaded = length.saturating_sub(units);
        // Never back: steps overlap (keys restored while the load ends).
        let position = loaded + (units as f64 * fraction.clamp(0.0, 1.0)) as u64;
        if position > self.overall.position() {
            self.overall.set_position(position);
        }
        if self.overall.message().starts_with("data copied") {
            self.overall.set_message(format!("data copied · {step}"));
            return;
        }
        // The bar's new words first: clearing the workers' lines redraws
        // the display, and a redraw of the bar alone may wait for the next
        // tick (a terminal would show it without its step a moment).
        self.overall.set_style(
            style("pgcopy {bar:30.green/white} {percent:>3}% {msg}").progress_chars("=> "),
        );
        self.overall.set_message(format!("data copied · {step}"));
        for b in &self.workers {
            b.finish_and_clear();
        }
    }

    /// Leaves the final state on screen and gives the terminal back.
    pub fn finish(&mut self, s: &Snapshot, secs: f64) {
        if !self.active {
            return;
        }
        self.show(s, secs);
        // Every row in: what came after the load ran too.
        if s.done_units >= s.total_units {
            self.overall
                .set_position(self.overall.length().unwrap_or(0));
        }
        self.overall.set_style(
            style("pgcopy {bar:30.green/white} {percent:>3}% {msg} done in {elapsed}")
                .progress_chars("=> "),
        );
        self.overall.tick();
        for b in &self.workers {
            b.finish_and_clear();
        }
        self.overall.abandon();
        self.restore_terminal();
    }

    fn restore_terminal(&mut self) {
        if self.active {
            self.active = false;
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\x1b[r\x1b[{};1H", self.rows_on_screen);
            let _ = err.flush();
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.restore_terminal();
    }
}

/// The style of `template`: a constant of this file, so it parses; were it
/// not to, a plain bar rather than a panic.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_table() {
        assert_eq!(choose(true, false, false), ProgressMode::Bar);
        assert_eq!(choose(true, true, false), ProgressMode::Lines);
        assert_eq!(choose(true, false, true), ProgressMode::Lines);
        assert_eq!(choose(false, false, false), ProgressMode::Lines);
        assert_eq!(choose(false, true, true), ProgressMode::Lines);
    }

    #[test]
    fn pinned_top_never_writes_below_its_lines() {
        let t = PinnedTop {
            width: 80,
            lines: 2,
            cursor: Mutex::new(Cursor::default()),
        };
        t.write_line("a").unwrap();
        t.write_line("b").unwrap();
        assert_eq!(t.cursor.lock().unwrap().row, 2);
        // A third line is dropped rather than drawn over the logs.
        t.write_line("c").unwrap();
        t.move_cursor_up(5).unwrap();
        assert_eq!(t.cursor.lock().unwrap().row, 0);
        t.write_str("\rxy").unwrap();
        assert_eq!(t.cursor.lock().unwrap().col, 2);
        // Padding to the full width wraps the next write to the next row.
        t.write_str(&" ".repeat(78)).unwrap();
        t.write_str("next").unwrap();
        let c = t.cursor.lock().unwrap();
        assert_eq!((c.row, c.col), (1, 4));
    }
}

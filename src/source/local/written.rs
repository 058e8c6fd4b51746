//! Raw rows written in input order while the input is read, for a query without `stats` whose
//! answer is written as it comes (JSON, CSV): memory holds a few batches of rows, not the
//! answer, which for a listing of a day of flow logs is tens of millions of rows.
//!
//! The pool's threads take units in order, as in any run, and hand their rows over in batches
//! ([`Handoff`]); the calling thread runs the commands after the record stage over them and
//! writes them, each unit's after every row of the units before it. A thread reading a unit
//! that is not the one being written waits once the rows waiting take [`HELD_BYTES`], until
//! its turn comes. Once a `limit` has let its rows through, reading stops.
//!
//! A chunk of a plain file starts with the layout of its file's header line. When a header line
//! inside an earlier chunk changed the layout, the chunk after it was read with the wrong one:
//! the writer sees that the layout the chunk started with is not the one the chunk before it
//! ended with, drops what its thread sent, and reads the chunk again itself, with the right one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::eval::{Partial, RawRow, RawRows};
use super::files::{InputError, Unit};
use super::{Batch, ChunkLayout, Emit, LocalError, LocalRun, RunContext, UnitResult};
use crate::source::{Malformed, QueryOutput, Render, RowSink, Table, Value};

/// Bytes of rows waiting to be written, besides those of the unit being written, past which the
/// threads reading later units wait (and of the unit being written, past which its thread
/// waits). Rendered, a row of a listing takes 30-80 bytes: a thread can read a whole chunk of a
/// plain file (32 MiB) ahead of the writer without waiting.
const HELD_BYTES: usize = if cfg!(test) { 2048 } else { 32 << 20 };

/// Reads the units with the pool's threads and writes the rows of the run's one query, which
/// has no `stats`, rendered by `render`, to `sink` in input order; the threads hand them over
/// through `handoff` (a new one: tests keep theirs to read its peak).
pub(super) fn execute(
    handoff: &Handoff,
    ctx: &RunContext<'_>,
    strict: bool,
    units: &[Unit],
    skipped: usize,
    render: &Render<'_>,
    sink: &mut dyn RowSink,
) -> Result<LocalRun, LocalError> {
    let rows = RawRows::new(&ctx.shapes[0], ctx.sort_budget)?;
    let columns = rows.columns().to_vec();
    // Rows that no command after the record stage changes are rendered by the readers, on
    // every core; others by the writer, after the commands.
    let render_raw = |rows: &[RawRow]| render(&columns, &mut rows.iter().map(|r| &r.values[..]));
    let readers_render = rows.passes_through().then_some(&render_raw as _);
    let next = AtomicUsize::new(0);
    let read = |_: rayon::BroadcastContext<'_>| {
        let _stop = StopOnPanic(handoff);
        let mut inflater = None;
        while handoff.open() {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(unit) = units.get(index) else { break };
            let mut read_unit = || {
                let start = if unit.starts_file() {
                    None
                } else {
                    Some(ctx.chunk_start(&ctx.files[unit.file])?)
                };
                handoff.begin(index, start.clone());
                let mut send = |batch| handoff.send(index, batch);
                let mut emit = Emit {
                    send: &mut send,
                    render: readers_render,
                    strict,
                };
                ctx.process(unit, Vec::new(), &mut inflater, start, Some(&mut emit))
            };
            let result = read_unit();
            handoff.finish(index, result);
        }
    };
    let mut writer = Writer {
        rows,
        out: Out {
            sink,
            render,
            columns: columns.clone(),
            started: false,
        },
        strict,
        lines_before: HashMap::new(),
        examples: Vec::new(),
        total: UnitResult::new(ctx.shapes, 0),
        end: None,
    };
    let written = std::thread::scope(|scope| {
        let readers = scope.spawn(|| rayon::broadcast(read));
        // A panic here must not leave the readers waiting for their turn.
        let stop = StopOnPanic(handoff);
        let written = writer.write_units(ctx, handoff, units);
        drop(stop);
        // Done or failed: the readers stop.
        handoff.stop();
        if let Err(panic) = readers.join() {
            std::panic::resume_unwind(panic);
        }
        written
    });
    let ended = written?;
    if let Ended::InUnit(at) = ended
        && let Some(Ok(mut result)) = handoff.take_done(at)
    {
        // The unit a `limit` filled in counts as far as its reader got; its rows past the
        // limit are dropped.
        if let Some(Partial::Rows(rows)) = result.partials.first_mut() {
            rows.clear();
        }
        writer.done(&units[at], result)?;
    }
    let Writer { rows, out, .. } = &mut writer;
    rows.finish(&mut |rows| out.write(&rows).map(|()| true))?;
    let sorted_bytes = rows.spilled_bytes();
    out.start()?;
    out.sink.finish().map_err(LocalError::Write)?;
    let total = writer.total;
    let (statistics, warnings) = ctx.report(
        strict,
        total.statistics,
        writer.examples,
        total.missing,
        skipped,
    )?;
    let mut statistics = statistics;
    statistics.records_matched = total.matched[0];
    statistics.sorted_spilled_bytes = sorted_bytes;
    statistics.stopped_at_limit = match ended {
        Ended::AfterUnit(at) => at < units.len(),
        Ended::InUnit(_) | Ended::Stopped => true,
    };
    Ok(LocalRun {
        outputs: vec![QueryOutput {
            table: Table {
                columns,
                rows: Vec::new(),
            },
            records_matched: total.matched[0],
            ..QueryOutput::default()
        }],
        statistics,
        warnings,
    })
}

/// The calling thread's side: the commands after the record stage, the sink, and what the
/// units written so far add up to.
struct Writer<'a> {
    rows: RawRows,
    out: Out<'a>,
    strict: bool,
    /// Lines of each file (by index) in its units written so far: a chunk's line numbers
    /// count from the chunk.
    lines_before: HashMap<usize, u64>,
    /// Malformed lines, numbered from their files' first lines.
    examples: Vec<Malformed>,
    /// The statistics, matched records and missing fields of the units written.
    total: UnitResult,
    /// The layout the last unit written ended with.
    end: Option<ChunkLayout>,
}

/// Where the rows go, and how they are rendered.
struct Out<'a> {
    sink: &'a mut dyn RowSink,
    render: &'a Render<'a>,
    columns: Vec<String>,
    /// Whether the columns were written: with the first rows, or at the end. A run that fails
    /// before its first row writes nothing.
    started: bool,
}

impl Out<'_> {
    fn start(&mut self) -> Result<(), LocalError> {
        if !self.started {
            self.started = true;
            self.sink
                .columns(&self.columns)
                .map_err(LocalError::Write)?;
        }
        Ok(())
    }

    fn write(&mut self, rows: &[Vec<Value>]) -> Result<(), LocalError> {
        if rows.is_empty() {
            return Ok(());
        }
        let rendered = (self.render)(&self.columns, &mut rows.iter().map(Vec::as_slice));
        self.write_rendered(rendered)
    }

    fn write_rendered(&mut self, rendered: std::io::Result<Vec<u8>>) -> Result<(), LocalError> {
        self.start()?;
        let rendered = rendered.map_err(LocalError::Write)?;
        self.sink.write(&rendered).map_err(LocalError::Write)
    }
}

impl Writer<'_> {
    /// Writes the units' rows in order, as their threads hand them over, until the commands
    /// want no more.
    fn write_units(
        &mut self,
        ctx: &RunContext<'_>,
        handoff: &Handoff,
        units: &[Unit],
    ) -> Result<Ended, LocalError> {
        let mut at = 0;
        let mut first = true;
        while let Some(unit) = units.get(at) {
            let (start, event) = match handoff.next() {
                Some(next) => next,
                // A reader panicked; the panic is the answer.
                None => return Ok(Ended::Stopped),
            };
            if let Event::Done(Err(e)) = event {
                return Err(e.into());
            }
            // Formats only: whether a header line gave one changes only how messages read.
            let format = |layout: Option<&ChunkLayout>| layout.map(|l| Arc::clone(&l.format));
            if first && !unit.starts_file() && format(start.as_ref()) != format(self.end.as_ref()) {
                // Read with the wrong layout (see the module's comment).
                if matches!(event, Event::Batch(_)) {
                    handoff.drop_current();
                }
                drop(event);
                let (strict, start) = (self.strict, self.end.clone());
                let mut failed = None;
                let mut send = |batch| match self.take(unit.file, batch) {
                    Ok(more) => more,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                };
                let mut emit = Emit {
                    send: &mut send,
                    render: None,
                    strict,
                };
                let result = ctx.process(unit, Vec::new(), &mut None, start, Some(&mut emit))?;
                if let Some(e) = failed {
                    return Err(e);
                }
                let more = self.done(unit, result)?;
                at += 1;
                if !more {
                    return Ok(Ended::AfterUnit(at));
                }
                continue;
            }
            first = false;
            match event {
                Event::Batch(batch) => {
                    if !self.take(unit.file, batch)? {
                        return Ok(Ended::InUnit(at));
                    }
                }
                Event::Done(result) => {
                    let more = self.done(unit, result?)?;
                    at += 1;
                    first = true;
                    if !more {
                        return Ok(Ended::AfterUnit(at));
                    }
                }
            }
        }
        Ok(Ended::AfterUnit(at))
    }

    /// Writes a batch of the rows of a unit of file `file`. `Ok(false)`: no more are wanted.
    fn take(&mut self, file: usize, batch: Batch) -> Result<bool, LocalError> {
        if let Some(rendered) = batch.rendered {
            // Rows no command changes: as the reader rendered them.
            if batch.len > 0 {
                self.out.write_rendered(rendered)?;
            }
        } else {
            let rows = self.rows.push(batch.rows)?;
            self.out.write(&rows)?;
        }
        // Under --strict, the malformed line read after the rows.
        if let Some(first) = batch.malformed.into_iter().next() {
            return Err(LocalError::Strict {
                path: first.path,
                line: first.line + self.lines_before.get(&file).copied().unwrap_or(0),
                reason: first.reason,
            });
        }
        Ok(self.rows.wants_more())
    }

    /// Ends a unit: writes its last rows and adds up what it read.
    fn done(&mut self, unit: &Unit, mut result: UnitResult) -> Result<bool, LocalError> {
        let rows = match result.partials.first_mut() {
            Some(Partial::Rows(rows)) => std::mem::take(rows),
            _ => Vec::new(),
        };
        let mut examples = std::mem::take(&mut result.statistics.malformed_examples);
        // Under --strict, the unit's malformed lines went out with its batches; one left
        // here came after every row (a layout the query cannot run on).
        let malformed = if self.strict {
            std::mem::take(&mut examples)
        } else {
            Vec::new()
        };
        let batch = Batch {
            len: rows.len(),
            bytes: 0,
            rows,
            rendered: None,
            malformed,
        };
        let more = self.take(unit.file, batch)?;
        let before = self.lines_before.entry(unit.file).or_insert(0);
        self.examples.extend(examples.into_iter().map(|mut m| {
            m.line += *before;
            m
        }));
        *before += result.lines;
        self.end = result.end.take();
        self.total.absorb(result);
        Ok(more)
    }
}

/// Where the writing ended.
enum Ended {
    /// After the rows of the units before this one: every unit when it is their number.
    AfterUnit(usize),
    /// Inside this unit, whose reader was stopped.
    InUnit(usize),
    /// A reader panicked.
    Stopped,
}

/// What the writer gets next of the unit being written.
enum Event {
    Batch(Batch),
    Done(Result<UnitResult, InputError>),
}

/// Batches on their way from the threads reading units to the thread writing them.
#[derive(Default)]
pub(super) struct Handoff {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// The unit whose rows are being written.
    current: usize,
    /// Units being read or waiting their turn.
    slots: BTreeMap<usize, Slot>,
    /// Bytes of the batches waiting in the slots of units after the current one.
    held: usize,
    /// The writer wants no more, or a reader panicked: every reader stops.
    stopped: bool,
    /// A unit failed: no reader starts another (the writer reports the failure in its turn).
    failed: bool,
    /// The unit the writer reads again itself: what its thread sends is dropped.
    redone: Option<usize>,
    /// The most bytes that waited at once, in the current unit and after it.
    peak: usize,
}

#[derive(Default)]
struct Slot {
    /// The layout a chunk after its file's first started with.
    start: Option<ChunkLayout>,
    batches: VecDeque<Batch>,
    /// Bytes of the batches.
    bytes: usize,
    done: Option<Result<UnitResult, InputError>>,
}

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.wake
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a reader may start another unit.
    fn open(&self) -> bool {
        let state = self.lock();
        !state.stopped && !state.failed
    }

    /// Whether what unit `index`'s reader sends is no longer wanted.
    fn dropped(state: &State, index: usize) -> bool {
        state.stopped || index < state.current || state.redone == Some(index)
    }

    fn begin(&self, index: usize, start: Option<ChunkLayout>) {
        self.lock().slots.entry(index).or_default().start = start;
    }

    /// Hands over a batch of unit `index`'s rows, then waits while too many rows wait to be
    /// written. Whether the reader should go on.
    fn send(&self, index: usize, batch: Batch) -> bool {
        let mut state = self.lock();
        if Self::dropped(&state, index) {
            return false;
        }
        let n = batch.bytes;
        if index != state.current {
            state.held += n;
        }
        let slot = state.slots.entry(index).or_default();
        slot.bytes += n;
        slot.batches.push_back(batch);
        let current = state.slots.get(&state.current).map_or(0, |s| s.bytes);
        state.peak = state.peak.max(state.held + current);
        self.wake.notify_all();
        loop {
            if Self::dropped(&state, index) {
                return false;
            }
            let waiting = if index == state.current {
                state.slots.get(&index).map_or(0, |s| s.bytes)
            } else {
                state.held
            };
            if waiting <= HELD_BYTES {
                return true;
            }
            state = self.wait(state);
        }
    }

    /// Unit `index` was read (or failed, or stopped). A stopped run keeps it too: the unit
    /// being written when a `limit` filled is counted in the statistics.
    fn finish(&self, index: usize, result: Result<UnitResult, InputError>) {
        let mut state = self.lock();
        if index >= state.current && state.redone != Some(index) {
            state.failed |= result.is_err();
            state.slots.entry(index).or_default().done = Some(result);
        }
        self.wake.notify_all();
    }

    /// What unit `index`'s reader ended with, once the readers are done.
    fn take_done(&self, index: usize) -> Option<Result<UnitResult, InputError>> {
        self.lock().slots.get_mut(&index)?.done.take()
    }

    fn stop(&self) {
        self.lock().stopped = true;
        self.wake.notify_all();
    }

    /// The next batch, or the end, of the unit being written, with the layout it started
    /// with; `None` once stopped. The end moves the turn to the next unit.
    fn next(&self) -> Option<(Option<ChunkLayout>, Event)> {
        let mut state = self.lock();
        loop {
            if state.stopped {
                return None;
            }
            let current = state.current;
            if let Some(slot) = state.slots.get_mut(&current) {
                if let Some(batch) = slot.batches.pop_front() {
                    slot.bytes -= batch.bytes;
                    let start = slot.start.clone();
                    self.wake.notify_all();
                    return Some((start, Event::Batch(batch)));
                }
                if let Some(done) = slot.done.take() {
                    let start = slot.start.clone();
                    state.slots.remove(&current);
                    Self::advance(&mut state);
                    self.wake.notify_all();
                    return Some((start, Event::Done(done)));
                }
            }
            state = self.wait(state);
        }
    }

    /// Drops what the current unit's reader sent and will send, and moves the turn on: the
    /// writer reads that unit itself.
    fn drop_current(&self) {
        let mut state = self.lock();
        let current = state.current;
        state.slots.remove(&current);
        state.redone = Some(current);
        Self::advance(&mut state);
        self.wake.notify_all();
    }

    fn advance(state: &mut State) {
        state.current += 1;
        let bytes = state.slots.get(&state.current).map_or(0, |s| s.bytes);
        state.held -= bytes;
    }
}

/// Stops the readers and the writer when the thread it lives on panics.
struct StopOnPanic<'a>(&'a Handoff);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::flow::LogFormat;
    use crate::insights::parse;
    use crate::source::local::{
        LocalOptions, NoProgress, QuerySpec, files, run, run_writing, shapes_for,
    };
    use crate::source::{Statistics, Value, Window};

    /// What a run wrote, the rows rendered by `render`; the `fail_at`th write fails.
    #[derive(Default)]
    struct Collect {
        columns: Vec<String>,
        rows: Vec<Vec<Value>>,
        calls: usize,
        fail_at: Option<usize>,
        pause: Option<std::time::Duration>,
        finished: bool,
    }

    /// Renders each row as one line of its values, tagged with their kinds (the tests' values
    /// hold no newline), for `Collect` to take apart.
    fn render(
        _columns: &[String],
        rows: &mut dyn Iterator<Item = &[Value]>,
    ) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for row in rows {
            let fields: Vec<String> = row
                .iter()
                .map(|v| match v {
                    Value::Int(n) => format!("i{n}"),
                    Value::Str(s) => format!("s{s}"),
                    Value::Null => "n".to_owned(),
                    Value::Time(ms) => format!("t{ms}"),
                    Value::Float(x) => format!("f{}", x.to_bits()),
                })
                .collect();
            out.extend_from_slice(fields.join("\t").as_bytes());
            out.push(b'\n');
        }
        Ok(out)
    }

    impl RowSink for Collect {
        fn columns(&mut self, columns: &[String]) -> std::io::Result<()> {
            self.columns = columns.to_vec();
            Ok(())
        }

        fn finish(&mut self) -> std::io::Result<()> {
            self.finished = true;
            Ok(())
        }

        fn write(&mut self, rendered: &[u8]) -> std::io::Result<()> {
            self.calls += 1;
            if self.fail_at == Some(self.calls) {
                return Err(std::io::Error::other("stop"));
            }
            if let Some(pause) = self.pause {
                std::thread::sleep(pause);
            }
            let text = std::str::from_utf8(rendered).unwrap();
            for line in text.lines() {
                let row = line
                    .split('\t')
                    .map(|f| match f.split_at(1) {
                        ("i", n) => Value::Int(n.parse().unwrap()),
                        ("s", s) => Value::Str(s.into()),
                        ("n", "") => Value::Null,
                        ("t", ms) => Value::Time(ms.parse().unwrap()),
                        ("f", bits) => Value::Float(f64::from_bits(bits.parse().unwrap())),
                        _ => panic!("cannot read back {f}"),
                    })
                    .collect();
                self.rows.push(row);
            }
            Ok(())
        }
    }

    /// Default-format record `i`: values vary so that sorts, filters and dedup have work.
    fn record(i: usize) -> String {
        format!(
            "2 123 eni-{} 10.0.{}.{} 10.0.0.9 {} {} 6 1 {} {} {} ACCEPT OK\n",
            i % 5,
            i % 7,
            i % 250,
            40000 + i % 1000,
            [22, 443, 80][i % 3],
            (i * 7919) % 5000,
            1000 + i,
            1005 + i
        )
    }

    fn records(range: std::ops::Range<usize>) -> String {
        range.map(record).collect()
    }

    fn options(inputs: Vec<PathBuf>, chunk_bytes: u64) -> LocalOptions {
        LocalOptions {
            inputs,
            format: LogFormat::default_v2(),
            strict: false,
            chunk_bytes,
            stream: true,
            memory_limit: None,
        }
    }

    fn spec(query: &str) -> QuerySpec {
        QuerySpec {
            query: parse(query).unwrap(),
            records: false,
        }
    }

    /// The answer `run` holds: columns, rows, statistics.
    fn held(opts: &LocalOptions, query: &str) -> (Vec<String>, Vec<Vec<Value>>, Statistics) {
        let mut opts = opts.clone();
        opts.stream = false;
        let mut run = run(&opts, &[spec(query)], Window::default(), &NoProgress).unwrap();
        let output = run.outputs.remove(0);
        (output.table.columns, output.table.rows, run.statistics)
    }

    fn written(
        opts: &LocalOptions,
        query: &str,
        sink: &mut Collect,
    ) -> Result<LocalRun, LocalError> {
        run_writing(
            opts,
            &spec(query),
            Window::default(),
            &NoProgress,
            &render,
            sink,
        )
        .map(|run| run.expect("a query without stats is written"))
    }

    fn gzip(path: &Path, text: &str) {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        std::fs::write(path, e.finish().unwrap()).unwrap();
    }

    fn lines(s: &Statistics) -> Vec<(String, u64)> {
        s.malformed_examples
            .iter()
            .map(|m| (m.path.clone(), m.line))
            .collect()
    }

    /// Rows written as they are read are the rows `run` holds, in the same order, with the same
    /// statistics, over plain files cut into many chunks, a gzip file and malformed lines; for
    /// every kind of command after the record stage, and with sorts whose rows go through
    /// runs on disk (a memory limit of one byte).
    #[test]
    fn written_rows_are_the_held_rows() {
        let dir = tempfile::tempdir().unwrap();
        let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n";
        let mut a = format!("{header}{}", records(0..1500));
        a.push_str("bogus line\n");
        a.push_str(&records(1500..2500));
        std::fs::write(dir.path().join("a.log"), a).unwrap();
        gzip(&dir.path().join("b.log.gz"), &records(2500..4000));
        std::fs::write(dir.path().join("c.log"), records(4000..4600) + "2 x\n").unwrap();
        let queries = [
            "fields srcAddr, dstPort, bytes",
            "filter dstPort = 443 | fields interfaceId, bytes",
            "fields srcAddr, bytes | sort bytes desc",
            "fields srcAddr, bytes | sort bytes desc, srcAddr | limit 25",
            "fields srcAddr | dedup srcAddr",
            "fields bytes * 2 as double, srcAddr | filter double > 9000",
            "fields srcAddr, bytes | sort srcAddr | dedup srcAddr | limit 40",
            "fields srcAddr, interfaceId | display interfaceId",
            "filter bytes > 4990",
        ];
        for (chunk, limit) in [
            (u64::MAX, None),
            (997, None),
            (16 * 1024, None),
            (997, Some(1)),
        ] {
            let mut opts = options(vec![dir.path().to_path_buf()], chunk);
            opts.memory_limit = limit;
            for query in queries {
                let (columns, rows, statistics) = held(&opts, query);
                let mut sink = Collect::default();
                let run = written(&opts, query, &mut sink).unwrap();
                assert_eq!(sink.columns, columns, "{query}, chunk {chunk}");
                assert_eq!(sink.rows, rows, "{query}, chunk {chunk}");
                assert!(!rows.is_empty(), "{query}");
                assert_eq!(run.outputs[0].table.columns, columns);
                assert!(run.outputs[0].table.rows.is_empty());
                assert!(sink.finished);
                let s = &run.statistics;
                assert_eq!(s.records_scanned, 4600, "{query}, chunk {chunk}");
                assert_eq!(s.records_scanned, statistics.records_scanned);
                assert_eq!(s.records_matched, statistics.records_matched, "{query}");
                assert_eq!(s.bytes_scanned, statistics.bytes_scanned);
                assert_eq!((s.files, s.malformed_lines), (3, 2));
                assert!(!s.stopped_at_limit, "{query}");
                assert_eq!(lines(s), lines(&statistics), "{query}, chunk {chunk}");
                let sorts = query.contains("sort");
                assert_eq!(s.spilled_bytes, 0);
                assert_eq!(
                    s.sorted_spilled_bytes > 0,
                    sorts && limit.is_some(),
                    "{query}"
                );
            }
        }
    }

    /// Under --strict the rows before the first malformed line are written, then the error
    /// names its line as counted from the start of the file, as `run` does.
    #[test]
    fn strict_writes_the_rows_before_the_first_malformed_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(
            &path,
            format!("{}bogus\n{}", records(0..1234), records(0..50)),
        )
        .unwrap();
        for chunk in [u64::MAX, 1000] {
            let mut opts = options(vec![path.clone()], chunk);
            let (_, rows, _) = held(&opts, "fields srcAddr, bytes");
            opts.strict = true;
            let mut sink = Collect::default();
            let err = written(&opts, "fields srcAddr, bytes", &mut sink).unwrap_err();
            assert!(
                matches!(err, LocalError::Strict { line: 1235, .. }),
                "{err}"
            );
            assert_eq!(sink.rows, rows[..1234], "chunk {chunk}");
            let held_err = run(
                &opts,
                &[spec("fields srcAddr")],
                Window::default(),
                &NoProgress,
            )
            .unwrap_err();
            assert_eq!(held_err.to_string(), err.to_string());
        }
    }

    /// A header line that changes the layout inside a file cut into chunks: the chunks after
    /// it were read with the file's first layout, and are read again with the right one.
    #[test]
    fn a_layout_change_inside_a_chunked_file_is_written_correctly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut content = records(0..300);
        content.push_str("interface-id dstport bytes\n");
        for i in 0..400 {
            content.push_str(&format!("eni-x {} {i}\n", 1000 + i));
        }
        content.push_str("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n");
        content.push_str(&records(300..400));
        std::fs::write(&path, content).unwrap();
        let query = "fields interfaceId, dstPort, bytes";
        let (_, whole, statistics) = held(&options(vec![path.clone()], u64::MAX), query);
        assert_eq!((whole.len(), statistics.malformed_lines), (800, 0));
        for chunk in [512, 4096] {
            let opts = options(vec![path.clone()], chunk);
            let mut sink = Collect::default();
            let run = written(&opts, query, &mut sink).unwrap();
            assert_eq!(sink.rows, whole, "chunk {chunk}");
            assert_eq!(run.statistics.malformed_lines, 0);
            assert_eq!(run.statistics.records_scanned, 800);
        }
    }

    /// Once a `limit` has let its rows through, the reading stops: the rest of the input is
    /// neither read nor counted.
    #[test]
    fn a_limit_stops_the_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, records(0..20_000)).unwrap();
        let opts = options(vec![path], 4096);
        let (_, rows, _) = held(&opts, "fields srcAddr, bytes");
        for query in [
            "fields srcAddr, bytes | limit 7",
            "limit 7 | fields srcAddr, bytes",
        ] {
            let mut sink = Collect::default();
            let run = written(&opts, query, &mut sink).unwrap();
            assert_eq!(sink.rows, rows[..7], "{query}");
            assert!(run.statistics.records_scanned < 20_000, "{query}");
            assert!(run.statistics.stopped_at_limit, "{query}");
        }
        // A limit that fills inside a unit: the summary counts what was read up to there,
        // malformed lines included.
        let mut text = records(0..20_000);
        text.insert_str(text.find('\n').unwrap() + 1, "bogus\n");
        std::fs::write(dir.path().join("a.log"), text).unwrap();
        let mut sink = Collect::default();
        let query = "fields srcAddr, bytes | dedup srcAddr | limit 3";
        let run = written(&opts, query, &mut sink).unwrap();
        assert_eq!(sink.rows.len(), 3);
        let s = &run.statistics;
        assert!(s.stopped_at_limit);
        assert!((3..20_000).contains(&s.records_scanned), "{s:?}");
        assert_eq!(s.records_matched, s.records_scanned);
        assert!(s.bytes_scanned > 0);
        assert_eq!((s.malformed_lines, s.malformed_examples[0].line), (1, 2));
        // A limit full at the last row stopped nothing.
        let small = dir.path().join("small.log");
        std::fs::write(&small, records(0..10)).unwrap();
        let mut sink = Collect::default();
        let run = written(&options(vec![small], u64::MAX), "limit 10", &mut sink).unwrap();
        assert_eq!(sink.rows.len(), 10);
        assert!(!run.statistics.stopped_at_limit);
    }

    /// A `limit` stops the reading of the file being read too: a gzip file too large to be
    /// decompressed whole is not read to its end.
    #[test]
    fn a_limit_stops_the_reading_of_a_large_gzip_file() {
        struct Count(std::sync::atomic::AtomicU64);
        impl crate::source::local::Progress for Count {
            fn advance(&self, bytes: u64) {
                self.0.fetch_add(bytes, Ordering::Relaxed);
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log.gz");
        let text = records(0..100_000);
        gzip(&path, &text);
        let mut opts = options(vec![path], u64::MAX);
        // Too little memory to decompress it whole: it is streamed.
        opts.memory_limit = Some(1024);
        let count = Count(0.into());
        let mut sink = Collect::default();
        let query = "fields srcAddr | dedup srcAddr | limit 3";
        let run = run_writing(
            &opts,
            &spec(query),
            Window::default(),
            &count,
            &render,
            &mut sink,
        );
        let run = run.unwrap();
        assert_eq!(sink.rows.len(), 3);
        assert!(run.unwrap().statistics.stopped_at_limit);
        let read = count.0.load(Ordering::Relaxed);
        assert!(
            read > 0 && read < text.len() as u64 / 2,
            "{read} of {}",
            text.len()
        );
    }

    /// However far the readers get ahead of a slow writer, the rows waiting stay within
    /// `HELD_BYTES` and a batch a thread.
    #[test]
    fn rows_waiting_to_be_written_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, records(0..30_000)).unwrap();
        let opts = options(vec![path], 2048);
        let shapes = shapes_for(&[spec("fields srcAddr, bytes")], &opts.format).unwrap();
        let (found, _) = files::discover(&opts.inputs).unwrap();
        let units = files::units(&found, opts.chunk_bytes);
        assert!(units.len() > 50);
        let ctx = RunContext::for_files(
            &opts,
            &found,
            &shapes,
            &units,
            Window::default(),
            &NoProgress,
        );
        let handoff = Handoff::default();
        let mut sink = Collect {
            pause: Some(std::time::Duration::from_micros(100)),
            ..Collect::default()
        };
        execute(&handoff, &ctx, false, &units, 0, &render, &mut sink).unwrap();
        assert_eq!(sink.rows.len(), 30_000);
        let peak = handoff.lock().peak;
        let threads = rayon::current_num_threads();
        assert!(
            peak <= HELD_BYTES + (threads + 1) * 16 * 1024,
            "{peak} bytes waited at once"
        );
        assert!(peak > 0);
    }

    /// A sink that fails stops the run with its error; an input that fails does, after the
    /// rows of the files before it (and of its own lines read before the failure) were
    /// written.
    #[test]
    fn failures_stop_the_run() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.log"), records(0..3000)).unwrap();
        // A gzip file cut short.
        let b = dir.path().join("b.log.gz");
        gzip(&b, &records(0..3000));
        let bytes = std::fs::read(&b).unwrap();
        std::fs::write(&b, &bytes[..bytes.len() / 2]).unwrap();
        std::fs::write(dir.path().join("c.log"), records(0..3000)).unwrap();
        let opts = options(vec![dir.path().to_path_buf()], 1024);
        let mut sink = Collect {
            fail_at: Some(3),
            ..Collect::default()
        };
        let err = written(&opts, "fields srcAddr", &mut sink).unwrap_err();
        assert!(matches!(err, LocalError::Write(_)), "{err}");
        assert!(!sink.finished);
        let mut sink = Collect::default();
        let err = written(&opts, "fields srcAddr", &mut sink).unwrap_err();
        assert!(matches!(err, LocalError::Input(_)), "{err}");
        assert!(err.to_string().contains("b.log.gz"), "{err}");
        assert_eq!(sink.columns, ["srcAddr"]);
        // a.log's rows, and those of b.log.gz read before the cut; none of c.log's.
        let a = (0..3000).map(|i| format!("10.0.{}.{}", i % 7, i % 250));
        let firsts: Vec<String> = sink
            .rows
            .iter()
            .take(3000)
            .map(|r| r[0].to_string())
            .collect();
        assert_eq!(firsts, a.collect::<Vec<_>>());
        assert!(
            (3000..6000).contains(&sink.rows.len()),
            "{}",
            sink.rows.len()
        );
        // A run that fails before its first row writes nothing, not even the columns.
        let only = dir.path().join("only.log.gz");
        gzip(&only, &records(0..10));
        let bytes = std::fs::read(&only).unwrap();
        std::fs::write(&only, &bytes[..bytes.len() - 20]).unwrap();
        let mut sink = Collect::default();
        let err = written(&options(vec![only], u64::MAX), "fields srcAddr", &mut sink);
        assert!(matches!(err, Err(LocalError::Input(_))));
        assert!(sink.columns.is_empty() && sink.calls == 0);
    }

    /// A unit the writer reads again itself may still fail in its own thread; that failure is
    /// not the run's, and the other threads go on taking units.
    #[test]
    fn a_failure_of_a_unit_read_again_is_dropped() {
        let handoff = Handoff::default();
        let batch = || Batch {
            rows: Vec::new(),
            rendered: None,
            len: 0,
            bytes: 0,
            malformed: Vec::new(),
        };
        handoff.begin(0, None);
        assert!(handoff.send(0, batch()));
        assert!(matches!(handoff.next(), Some((None, Event::Batch(_)))));
        handoff.drop_current();
        assert!(!handoff.send(0, batch()));
        handoff.finish(0, Err(InputError::NotFound { path: "x".into() }));
        assert!(handoff.open());
        assert!(handoff.take_done(0).is_none());
        // A failure in its turn is kept, and stops the taking of units.
        handoff.finish(1, Err(InputError::NotFound { path: "y".into() }));
        assert!(!handoff.open());
        assert!(matches!(handoff.next(), Some((None, Event::Done(Err(_))))));
    }

    /// A query with `stats`, or asking for records, is not written as read.
    #[test]
    fn only_raw_rows_are_written_as_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, records(0..10)).unwrap();
        let opts = options(vec![path], u64::MAX);
        let mut sink = Collect::default();
        let stats = spec("stats count(*)");
        let records = QuerySpec {
            records: true,
            ..spec("fields srcAddr")
        };
        for spec in [stats, records] {
            let run = run_writing(
                &opts,
                &spec,
                Window::default(),
                &NoProgress,
                &render,
                &mut sink,
            );
            assert!(run.unwrap().is_none());
        }
        assert!(sink.columns.is_empty() && sink.calls == 0);
    }
}

//! The embedded engine: answers Logs Insights queries from flow-log files on disk.
//!
//! Files are read in parallel (whole gzip files, chunks of large plain files), each line is
//! classified (header, record, blank), records are checked against their layout and fed to
//! every query of the run in one pass, so a command asking several questions reads its input
//! once. Memory holds the aggregation state, not the input.

pub mod eval;
pub mod files;
mod inflate;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod value;
mod written;

use std::cell::Cell;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use self::eval::{Partial, Plan, PlanError, QueryShape, RawRow, RecordInput, Scratch};
use self::files::{Encoding, InputError, InputFile, Layout, Unit};
use self::inflate::Inflater;
use self::value::parse_i64;
use crate::flow::{Field, LineKind, LogFormat, classify_line, normalize_epoch_s, split_tokens};
use crate::insights::ast::Query;
use crate::source::{Malformed, QueryOutput, Statistics, Window};

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{0}")]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Spill(#[from] eval::SpillError),
    #[error("cannot write the answer")]
    Write(#[source] std::io::Error),
    #[error(
        "{path}:{line}: malformed record: {reason} (--strict stops at the first malformed line; without it such lines are counted and skipped)"
    )]
    Strict {
        path: String,
        line: u64,
        reason: String,
    },
}

/// What the engine reads and how.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub inputs: Vec<PathBuf>,
    /// The layout of records in files without a header line.
    pub format: LogFormat,
    pub strict: bool,
    pub chunk_bytes: u64,
    /// Leave `stats` answers by keys that no command follows as sorted groups
    /// (`QueryOutput::stream`), for a caller that writes rows as it goes.
    pub stream: bool,
    /// Bytes all the groups of a run may hold in memory; past their share of it, a thread
    /// writes its groups to a temporary file and starts afresh. `None`: no limit.
    pub memory_limit: Option<u64>,
}

/// One question for a run: a parsed query, and whether to return whole records.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    pub query: Query,
    pub records: bool,
}

/// The answers of a run, in the order the queries were given.
#[derive(Debug)]
pub struct LocalRun {
    pub outputs: Vec<QueryOutput>,
    pub statistics: Statistics,
    pub warnings: Vec<String>,
}

/// Progress callbacks: the total input size once known, then bytes read as they are read.
pub trait Progress: Sync {
    fn total(&self, _bytes: u64) {}
    fn advance(&self, _bytes: u64) {}
}

/// For callers that show no progress.
pub struct NoProgress;
impl Progress for NoProgress {}

/// The queries' shapes, each compiled once for the default layout so that a query the engine
/// cannot run fails before anything is read.
fn shapes_for(specs: &[QuerySpec], format: &LogFormat) -> Result<Vec<QueryShape>, LocalError> {
    let shapes: Vec<QueryShape> = specs
        .iter()
        .map(|s| QueryShape::new(&s.query, s.records))
        .collect::<Result<_, _>>()?;
    for shape in &shapes {
        Plan::compile(shape, format)?;
    }
    Ok(shapes)
}

pub fn run(
    options: &LocalOptions,
    specs: &[QuerySpec],
    window: Window,
    progress: &dyn Progress,
) -> Result<LocalRun, LocalError> {
    let shapes = shapes_for(specs, &options.format)?;
    let (files, skipped) = files::discover(&options.inputs)?;
    let units = files::units(&files, options.chunk_bytes);
    let ctx = RunContext::for_files(options, &files, &shapes, &units, window, progress);
    execute(&ctx, options.strict, &units, skipped)
}

/// Runs one query and writes its rows, rendered by `render`, to `sink` in input order as they
/// are read, holding a few thousand rows, not the answer; the run's answer then has the
/// columns and no rows.
/// `Ok(None)` when the query has `stats` or asks for records: those answers come from `run`
/// (whose `stats` answers are made as they are written, with `LocalOptions::stream`).
pub fn run_writing(
    options: &LocalOptions,
    spec: &QuerySpec,
    window: Window,
    progress: &dyn Progress,
    render: &crate::source::Render<'_>,
    sink: &mut dyn crate::source::RowSink,
) -> Result<Option<LocalRun>, LocalError> {
    let shapes = shapes_for(std::slice::from_ref(spec), &options.format)?;
    if spec.records || shapes[0].has_stats() {
        return Ok(None);
    }
    let (files, skipped) = files::discover(&options.inputs)?;
    let units = files::units(&files, options.chunk_bytes);
    let ctx = RunContext::for_files(options, &files, &shapes, &units, window, progress);
    let handoff = written::Handoff::default();
    written::execute(
        &handoff,
        &ctx,
        options.strict,
        &units,
        skipped,
        render,
        sink,
    )
    .map(Some)
}

/// The limit of one thread's groups of one query: every thread that gets a unit of work holds
/// groups of every `stats` query at once, so each gets an equal share of the run's limit (0:
/// none).
fn group_limit(limit: Option<u64>, shapes: &[QueryShape], units: usize) -> usize {
    let Some(limit) = limit else { return 0 };
    let holders = threads_with_work(units) * shapes.iter().filter(|s| s.has_stats()).count();
    let share = limit / holders.max(1) as u64;
    usize::try_from(share).unwrap_or(usize::MAX).max(1)
}

/// Bytes of rows the `sort`s of each query may hold before they write the rest to disk: half
/// the limit, shared by the queries that sort. A query's rows reach its sorts as its groups
/// are made into rows (groups merged from disk then hold little; groups that never went there
/// stay in memory meanwhile, within their own limit), or, without `stats`, as the readers hand
/// them over (the rows waiting for the writer take at most `HELD_BYTES` more; see `written`).
/// 0: no limit.
fn sort_budget(limit: Option<u64>, shapes: &[QueryShape]) -> usize {
    let Some(limit) = limit else { return 0 };
    let sorting = shapes.iter().filter(|s| s.sorts()).count().max(1);
    usize::try_from(limit / 2 / sorting as u64)
        .unwrap_or(usize::MAX)
        .max(1)
}

/// The threads that get units of work: every thread of the pool, unless there are fewer units.
fn threads_with_work(units: usize) -> usize {
    rayon::current_num_threads().min(units).max(1)
}

/// The most a thread's gzip file may take, compressed and decompressed, to be decompressed
/// whole: half the thread's share of the run's limit (its groups keep the rest; see
/// `Groups::reserve`), and never more than `inflate::WHOLE_MAX`.
fn whole_gzip_budget(limit: Option<u64>, units: usize) -> usize {
    let Some(limit) = limit else {
        return inflate::WHOLE_MAX;
    };
    let half_share = limit / threads_with_work(units) as u64 / 2;
    usize::try_from(half_share).map_or(inflate::WHOLE_MAX, |b| b.min(inflate::WHOLE_MAX))
}

/// Evaluates queries over records already in memory, such as the `@message` values fetched
/// from a CloudWatch log group; `origin` names them in messages about malformed records.
pub fn run_messages(
    origin: &str,
    messages: &[String],
    format: &LogFormat,
    strict: bool,
    specs: &[QuerySpec],
    window: Window,
) -> Result<LocalRun, LocalError> {
    let shapes = shapes_for(specs, format)?;
    let files = [InputFile {
        path: PathBuf::from(origin),
        size: messages.len() as u64,
        encoding: files::Encoding::Plain,
        layout: Layout::Messages,
    }];
    let units = files::units(&files, 0);
    let ctx = RunContext {
        files: &files,
        messages,
        shapes: &shapes,
        default_format: Arc::new(format.clone()),
        window,
        progress: &NoProgress,
        stream: false,
        // The messages are in memory already.
        group_limit: 0,
        whole_gzip: 0,
        sort_budget: 0,
    };
    execute(&ctx, strict, &units, 0)
}

fn execute(
    ctx: &RunContext<'_>,
    strict: bool,
    units: &[Unit],
    skipped: usize,
) -> Result<LocalRun, LocalError> {
    let shapes = ctx.shapes;
    // Every thread of the pool takes the next unit until none is left, folding what it reads
    // into one accumulator of its own: memory holds one aggregation state per thread, and the
    // states merge once, at the end.
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let accs = rayon::broadcast(|_| -> Result<Acc, InputError> {
        // A panic stops the other workers too, like an error.
        let _stop = StopOnPanic(&failed);
        let mut acc = Acc::new(shapes, ctx.group_limit);
        let mut inflater = None;
        while !failed.load(Ordering::Relaxed) {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(unit) = units.get(index) else { break };
            // The unit folds into this thread's groups, not into groups of its own.
            let partials = std::mem::take(&mut acc.total.partials);
            match ctx.process(unit, partials, &mut inflater, None, None) {
                Ok(result) => acc.add(index, unit, result),
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        // Groups that went to disk send the rest there too, on this thread, while the others
        // may still be reading: the answer is merged from runs, and the main thread would
        // otherwise write these one thread's groups after another. (Not when another thread
        // failed: its error is the answer.)
        if !failed.load(Ordering::Relaxed) {
            for partial in &mut acc.total.partials {
                partial.finish_reading();
            }
        }
        Ok(acc)
    });
    // The first error, before any merging.
    let accs = accs.into_iter().collect::<Result<Vec<Acc>, InputError>>()?;
    let mut acc = Acc::new(shapes, ctx.group_limit);
    for other in accs {
        acc.merge(other);
    }
    if !acc.changed.is_empty() {
        // A header inside a chunked file changed its layout: the chunks after it were read
        // with the wrong one. Rare; read those files whole, in order, and start again.
        let mut whole: Vec<Unit> = Vec::with_capacity(units.len());
        for unit in units {
            if !acc.changed.contains(&unit.file) {
                whole.push(unit.clone());
            } else if unit.starts_file() {
                whole.push(Unit {
                    file: unit.file,
                    range: None,
                });
            }
        }
        // The first reading's groups (and the files of its runs) go before the second's.
        drop(acc);
        return execute(ctx, strict, &whole, skipped);
    }
    let Acc {
        total,
        mut rows,
        mut unit_lines,
        examples,
        ..
    } = acc;
    // Line numbers in chunks count from the chunk; shift them by the lines before it.
    unit_lines.sort_unstable();
    let mut offsets: HashMap<usize, u64> = HashMap::new();
    let mut lines_before: HashMap<usize, u64> = HashMap::new();
    for (index, lines) in unit_lines {
        let before = lines_before.entry(units[index].file).or_insert(0);
        offsets.insert(index, *before);
        *before += lines;
    }
    let examples = examples
        .into_iter()
        .map(|(index, mut m)| {
            m.line += offsets.get(&index).copied().unwrap_or(0);
            m
        })
        .collect();
    let (mut statistics, warnings) =
        ctx.report(strict, total.statistics, examples, total.missing, skipped)?;
    let mut outputs = Vec::with_capacity(shapes.len());
    for (q, ((shape, partial), matched)) in shapes
        .iter()
        .zip(total.partials)
        .zip(total.matched)
        .enumerate()
    {
        let mut partial = partial;
        if let Partial::Rows(all) = &mut partial {
            // Raw rows in input order: by unit, and within a unit as read.
            let mut tagged = std::mem::take(&mut rows[q]);
            tagged.sort_by_key(|(index, _)| *index);
            all.extend(tagged.into_iter().flat_map(|(_, r)| r));
        }
        let finished = eval::finish(shape, partial, ctx.stream, ctx.sort_budget)?;
        statistics.spilled_bytes += finished.spilled_bytes;
        statistics.sorted_spilled_bytes += finished.sorted_spilled_bytes;
        outputs.push(QueryOutput {
            table: finished.table,
            records: finished.records,
            records_matched: matched,
            stream: finished.stream,
        });
    }
    statistics.records_matched = outputs.first().map_or(0, |o| o.records_matched);
    release_freed_memory();
    Ok(LocalRun {
        outputs,
        statistics,
        warnings,
    })
}

impl<'a> RunContext<'a> {
    /// The context of a run over files; tells `progress` their total size.
    fn for_files(
        options: &LocalOptions,
        files: &'a [InputFile],
        shapes: &'a [QueryShape],
        units: &[Unit],
        window: Window,
        progress: &'a dyn Progress,
    ) -> Self {
        progress.total(files.iter().map(|f| f.size).sum());
        RunContext {
            files,
            messages: &[],
            shapes,
            default_format: Arc::new(options.format.clone()),
            window,
            progress,
            stream: options.stream,
            group_limit: group_limit(options.memory_limit, shapes, units.len()),
            whole_gzip: whole_gzip_budget(options.memory_limit, units.len()),
            sort_budget: sort_budget(options.memory_limit, shapes),
        }
    }

    /// The statistics and warnings of a run whose units were all read: the first malformed
    /// lines (`examples`, numbered from their files' first lines) in file and line order, the
    /// files read and passed over, the fields some files lack. Under --strict the first
    /// malformed line is the answer.
    fn report(
        &self,
        strict: bool,
        mut statistics: Statistics,
        mut examples: Vec<Malformed>,
        missing: Vec<(String, String)>,
        skipped: usize,
    ) -> Result<(Statistics, Vec<String>), LocalError> {
        let files = self.files;
        examples.sort_by(|a, b| {
            (files_index(files, &a.path), a.line).cmp(&(files_index(files, &b.path), b.line))
        });
        examples.truncate(Statistics::MAX_EXAMPLES);
        if strict && let Some(first) = examples.first() {
            return Err(LocalError::Strict {
                path: first.path.clone(),
                line: first.line,
                reason: first.reason.clone(),
            });
        }
        statistics.malformed_examples = examples;
        statistics.files = files
            .iter()
            .filter(|f| f.layout != Layout::Messages)
            .count() as u64;
        statistics.files_skipped = skipped as u64;
        let warnings = missing
            .into_iter()
            .map(|(field, path)| {
                format!("the query uses `{field}`, which the records of {path} do not have; it is null there")
            })
            .collect();
        Ok((statistics, warnings))
    }
}

/// Tells the groups of every `stats` query that `bytes` of the thread's memory are taken,
/// in equal parts, as their limits were given.
fn reserve(partials: &mut [Partial], bytes: usize) {
    let holders = partials
        .iter()
        .filter(|p| matches!(p, Partial::Groups(_)))
        .count();
    for partial in partials {
        if let Partial::Groups(groups) = partial {
            groups.reserve(bytes / holders);
        }
    }
}

/// Gives the memory the threads' groups freed back to the system before the answer is read
/// and reported on.
///
/// glibc keeps freed blocks of up to 32 MiB for reuse (its mmap threshold grows as large
/// blocks are freed) in the arena of the thread that freed them. That reuse makes the scan
/// faster, but the report is made on another thread, from another arena: without this, a run
/// would hold its freed group tables and its report at once. `malloc_trim` releases the free
/// pages of every arena (glibc manual, "Memory Allocation Tunables"; malloc_trim(3)).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free memory to the system; it takes the arenas'
    // locks itself.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Sets the flag when the thread it lives on unwinds.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// What a thread accumulates: merged aggregation states, raw rows tagged with their unit
/// (they are put in input order at the end), and each unit's line count and malformed lines
/// (their line numbers are fixed up at the end).
struct Acc {
    total: UnitResult,
    rows: Vec<Vec<(usize, Vec<RawRow>)>>,
    unit_lines: Vec<(usize, u64)>,
    examples: Vec<(usize, Malformed)>,
    changed: Vec<usize>,
}

impl Acc {
    fn new(shapes: &[QueryShape], group_limit: usize) -> Self {
        Acc {
            total: UnitResult::new(shapes, group_limit),
            rows: vec![Vec::new(); shapes.len()],
            unit_lines: Vec::new(),
            examples: Vec::new(),
            changed: Vec::new(),
        }
    }

    fn add(&mut self, index: usize, unit: &Unit, mut result: UnitResult) {
        if result.layout_changed && unit.range.is_some() && !self.changed.contains(&unit.file) {
            self.changed.push(unit.file);
        }
        self.unit_lines.push((index, result.lines));
        self.examples.extend(
            result
                .statistics
                .malformed_examples
                .drain(..)
                .map(|m| (index, m)),
        );
        for (q, partial) in result.partials.iter_mut().enumerate() {
            if let Partial::Rows(rows) = partial
                && !rows.is_empty()
            {
                self.rows[q].push((index, std::mem::take(rows)));
            }
        }
        // The unit's partials are this thread's (see `execute`), now with the unit in them.
        self.total.partials = std::mem::take(&mut result.partials);
        self.total.absorb(result);
    }

    fn merge(&mut self, other: Acc) {
        self.total.absorb(other.total);
        for (mine, theirs) in self.rows.iter_mut().zip(other.rows) {
            mine.extend(theirs);
        }
        self.unit_lines.extend(other.unit_lines);
        self.examples.extend(other.examples);
        for file in other.changed {
            if !self.changed.contains(&file) {
                self.changed.push(file);
            }
        }
    }
}

#[cfg(feature = "parquet")]
fn read_parquet(file: &InputFile) -> Result<(Vec<String>, Vec<String>), InputError> {
    Ok(parquet::parquet_records(&file.path)?)
}

#[cfg(not(feature = "parquet"))]
fn read_parquet(file: &InputFile) -> Result<(Vec<String>, Vec<String>), InputError> {
    Err(InputError::ParquetDisabled {
        path: file.path.clone(),
    })
}

fn files_index(files: &[InputFile], path: &str) -> usize {
    files
        .iter()
        .position(|f| f.path.display().to_string() == path)
        .unwrap_or(usize::MAX)
}

/// The layout a unit starts or ends with, and whether a header line gave it.
#[derive(Debug, Clone, PartialEq)]
struct ChunkLayout {
    format: Arc<LogFormat>,
    from_header: bool,
}

/// Raw rows in the order read, and under --strict the malformed line read after them.
struct Batch {
    /// The rows, unless they were rendered.
    rows: Vec<RawRow>,
    /// The rows rendered, by a reader of a query whose rows go out as they are.
    rendered: Option<std::io::Result<Vec<u8>>>,
    /// How many rows, rendered or not.
    len: usize,
    /// About the memory it holds: the bytes rendered, or the rows (see `row_bytes`).
    bytes: usize,
    malformed: Vec<Malformed>,
}

/// The rows a unit gathers before they leave it (see `Emit`).
const BATCH_ROWS: usize = if cfg!(test) { 16 } else { 4096 };

/// Renders a batch of raw rows (see `Emit`).
type RenderRaw<'a> = dyn Fn(&[RawRow]) -> std::io::Result<Vec<u8>> + Sync + 'a;

/// Where a unit's raw rows go while it is read, for a run that writes them as they come (a
/// single query without `stats`): `send` takes a batch and says whether more are wanted. With
/// `render`, the rows leave rendered (no command after the record stage changes them).
struct Emit<'a> {
    send: &'a mut dyn FnMut(Batch) -> bool,
    render: Option<&'a RenderRaw<'a>>,
    strict: bool,
}

struct UnitResult {
    partials: Vec<Partial>,
    matched: Vec<u64>,
    statistics: Statistics,
    lines: u64,
    layout_changed: bool,
    /// The layout in effect after the unit's last line.
    end: Option<ChunkLayout>,
    missing: Vec<(String, String)>,
}

impl UnitResult {
    fn new(shapes: &[QueryShape], group_limit: usize) -> Self {
        UnitResult {
            partials: shapes
                .iter()
                .map(|s| {
                    if s.has_stats() {
                        Partial::Groups(eval::Groups::with_limit(group_limit))
                    } else {
                        Partial::Rows(Vec::new())
                    }
                })
                .collect(),
            matched: vec![0; shapes.len()],
            statistics: Statistics::default(),
            lines: 0,
            layout_changed: false,
            end: None,
            missing: Vec::new(),
        }
    }

    fn absorb(&mut self, other: UnitResult) {
        for (mine, theirs) in self.partials.iter_mut().zip(other.partials) {
            mine.merge(theirs);
        }
        for (a, b) in self.matched.iter_mut().zip(other.matched) {
            *a += b;
        }
        let s = &mut self.statistics;
        let o = other.statistics;
        s.bytes_scanned += o.bytes_scanned;
        s.records_scanned += o.records_scanned;
        s.nodata_records += o.nodata_records;
        s.skipdata_records += o.skipdata_records;
        s.outside_window += o.outside_window;
        s.untimed_records += o.untimed_records;
        s.malformed_lines += o.malformed_lines;
        s.malformed_examples.extend(o.malformed_examples);
        for m in other.missing {
            if !self.missing.contains(&m) {
                self.missing.push(m);
            }
        }
    }
}

struct RunContext<'a> {
    files: &'a [InputFile],
    messages: &'a [String],
    shapes: &'a [QueryShape],
    default_format: Arc<LogFormat>,
    window: Window,
    progress: &'a dyn Progress,
    stream: bool,
    /// Each thread's limit for the groups of each query (see `group_limit`).
    group_limit: usize,
    /// The largest gzip file a thread decompresses whole (see `whole_gzip_budget`).
    whole_gzip: usize,
    /// Bytes of rows each query's `sort`s may hold (see `sort_budget`).
    sort_budget: usize,
}

/// The plans of every query for one layout, with the columns the reader needs.
struct LayoutPlans {
    format: Arc<LogFormat>,
    plans: Vec<Plan>,
    /// The start-time column, when the window or a query reads the record's time.
    start: Option<usize>,
    status: Option<usize>,
    /// Integer columns the queries read: a record whose token there is not a number is
    /// malformed, so no answer mixes numbers with stray text.
    int_columns: Vec<usize>,
}

impl RunContext<'_> {
    fn plans_for(&self, format: Arc<LogFormat>) -> Result<LayoutPlans, PlanError> {
        let plans = self
            .shapes
            .iter()
            .map(|s| Plan::compile(s, &format))
            .collect::<Result<Vec<_>, _>>()?;
        // The start time is parsed only when the window or a query reads it.
        let start = if !self.window.is_unbounded() || plans.iter().any(Plan::reads_time) {
            format.position(Field::Start)
        } else {
            None
        };
        let mut int_columns: Vec<usize> = plans.iter().flat_map(Plan::int_columns).collect();
        int_columns.extend(start);
        int_columns.sort_unstable();
        int_columns.dedup();
        Ok(LayoutPlans {
            int_columns,
            start,
            status: format.position(Field::LogStatus),
            plans,
            format,
        })
    }

    /// The layout a chunk after a file's first starts with: its file's header line's, or the
    /// run's default when the file has none.
    fn chunk_start(&self, file: &InputFile) -> Result<ChunkLayout, InputError> {
        Ok(
            match files::first_line(file)?.as_deref().map(classify_line) {
                Some(LineKind::Header(format)) => ChunkLayout {
                    format: Arc::new(format),
                    from_header: true,
                },
                _ => ChunkLayout {
                    format: Arc::clone(&self.default_format),
                    from_header: false,
                },
            },
        )
    }

    /// Reads one unit, folding its records into `partials` (the thread's so far, or fresh ones
    /// when empty); `inflater` is the thread's, made when it first meets a gzip file. A chunk
    /// after its file's first starts with `start` when given, else with `chunk_start`'s
    /// layout. With `emit`, raw rows leave a batch at a time as they are read.
    fn process(
        &self,
        unit: &Unit,
        partials: Vec<Partial>,
        inflater: &mut Option<Inflater>,
        start: Option<ChunkLayout>,
        mut emit: Option<&mut Emit<'_>>,
    ) -> Result<UnitResult, InputError> {
        let file = &self.files[unit.file];
        let path = file.path.display().to_string();
        let mut result = UnitResult::new(self.shapes, self.group_limit);
        if partials.len() == result.partials.len() {
            result.partials = partials;
        }
        // Compiled plans per layout met in this unit; `active` indexes the current layout's,
        // so a record costs no lookup (a new header line resets it).
        let mut layouts: Vec<LayoutPlans> = Vec::new();
        let mut active: Option<usize> = None;
        let mut current = Arc::clone(&self.default_format);
        let mut from_header = false;
        // Parquet carries its layout in its columns; its rows become record lines.
        let parquet_lines = match file.layout {
            Layout::Parquet => {
                let (names, lines) = read_parquet(file)?;
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                match LogFormat::from_names(&names) {
                    Ok(format) => {
                        current = Arc::new(format);
                        from_header = true;
                    }
                    Err(e) => {
                        return Err(InputError::ParquetColumns {
                            path: file.path.clone(),
                            reason: e.to_string(),
                        });
                    }
                }
                lines
            }
            _ => Vec::new(),
        };
        // Chunks after the first start past the header line; its layout is theirs too.
        if !unit.starts_file() {
            let start = match start {
                Some(start) => start,
                None => self.chunk_start(file)?,
            };
            current = start.format;
            from_header = start.from_header;
        }
        let mut scratch = Scratch::default();
        let mut spans = Vec::with_capacity(32);
        let mut ints: Vec<Option<i64>> = Vec::with_capacity(32);
        let mut line_number: u64 = 0;
        let caps: Vec<Option<usize>> = self.shapes.iter().map(QueryShape::row_cap).collect();
        let mut plan_error = None;
        let mut read_line = |line: files::LineText<'_>, result: &mut UnitResult| {
            line_number += 1;
            let line = line
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .map_err(|b| b.strip_suffix(b"\r").unwrap_or(b));
            let raw = line.map_or_else(|b| b, str::as_bytes);
            let stats = &mut result.statistics;
            stats.bytes_scanned += raw.len() as u64 + 1;
            match classify_line(raw) {
                LineKind::Blank => return,
                LineKind::Header(format) => {
                    let format = Arc::new(format);
                    let first_line_of_file = unit.starts_file() && line_number == 1;
                    if format != current && !first_line_of_file && unit.range.is_some() {
                        result.layout_changed = true;
                    }
                    current = format;
                    from_header = true;
                    active = None;
                    return;
                }
                LineKind::Record => {}
            }
            let malformed = |stats: &mut Statistics, reason: String| {
                stats.malformed_lines += 1;
                if stats.malformed_examples.len() < Statistics::MAX_EXAMPLES {
                    stats.malformed_examples.push(Malformed {
                        path: path.clone(),
                        line: line_number,
                        reason,
                    });
                }
            };
            let Ok(line) = line else {
                malformed(stats, "not UTF-8 text".to_owned());
                return;
            };
            if active.is_none() {
                active = match layouts.iter().position(|l| *l.format == *current) {
                    Some(i) => Some(i),
                    None => match self.plans_for(Arc::clone(&current)) {
                        Ok(plans) => {
                            for plan in &plans.plans {
                                for field in &plan.missing_fields {
                                    result.missing.push((field.clone(), path.clone()));
                                }
                            }
                            layouts.push(plans);
                            Some(layouts.len() - 1)
                        }
                        Err(e) => {
                            plan_error.get_or_insert(e);
                            return;
                        }
                    },
                };
            }
            let Some(layout) = active.and_then(|i| layouts.get(i)) else {
                return;
            };
            let stats = &mut result.statistics;
            split_tokens(raw, &mut spans);
            if spans.len() != layout.format.len() {
                let reason = format!(
                    "expected {} fields ({}), found {}",
                    layout.format.len(),
                    if from_header {
                        "the layout of the file's header line"
                    } else {
                        "the layout given by --log-format, or the default v2 format"
                    },
                    spans.len()
                );
                malformed(stats, reason);
                return;
            }
            ints.resize(spans.len(), None);
            for &i in &layout.int_columns {
                let (s, e) = spans[i];
                let token = &raw[s..e];
                ints[i] = parse_i64(token);
                if ints[i].is_none() && token != b"-" {
                    let column = &layout.format.columns()[i].name;
                    let token = String::from_utf8_lossy(token);
                    malformed(stats, format!("`{column}` is `{token}`, not a number"));
                    return;
                }
            }
            stats.records_scanned += 1;
            if let Some(i) = layout.status {
                let (s, e) = spans[i];
                match &raw[s..e] {
                    b"NODATA" => stats.nodata_records += 1,
                    b"SKIPDATA" => stats.skipdata_records += 1,
                    _ => {}
                }
            }
            let timestamp_ms = layout
                .start
                .and_then(|i| ints[i])
                .map(|v| normalize_epoch_s(v).saturating_mul(1000));
            if !self.window.is_unbounded() && timestamp_ms.is_none() {
                stats.untimed_records += 1;
            }
            if !self.window.is_unbounded()
                && let Some(ms) = timestamp_ms
                && !self.window.contains_ms(ms)
            {
                stats.outside_window += 1;
                return;
            }
            let input = RecordInput {
                line,
                spans: &spans,
                ints: &ints,
                timestamp_ms,
            };
            for (q, (plan, partial)) in layout.plans.iter().zip(&mut result.partials).enumerate() {
                if plan.feed(&input, &layout.format, &mut scratch, partial, caps[q]) {
                    result.matched[q] += 1;
                }
            }
        };
        // With `emit`, rows leave in batches; once the run wants no more, the rest of the unit
        // is passed over.
        let stopped = Cell::new(false);
        let mut handle_line = |line: files::LineText<'_>, result: &mut UnitResult| {
            if stopped.get() {
                return;
            }
            read_line(line, result);
            let Some(emit) = emit.as_deref_mut() else {
                return;
            };
            let Some(Partial::Rows(rows)) = result.partials.first_mut() else {
                return;
            };
            // Under --strict a malformed line goes out at once, after the rows before it.
            let bad = emit.strict && !result.statistics.malformed_examples.is_empty();
            if bad || rows.len() >= BATCH_ROWS {
                let mut rows = std::mem::take(rows);
                let len = rows.len();
                // Rendered here, the rows are also freed on the thread that made them.
                let rendered = emit.render.map(|render| render(&std::mem::take(&mut rows)));
                let bytes = match &rendered {
                    Some(Ok(bytes)) => bytes.len(),
                    _ => rows
                        .iter()
                        .map(|r| size_of::<RawRow>() + crate::source::row_bytes(&r.values))
                        .sum(),
                };
                let batch = Batch {
                    rows,
                    rendered,
                    len,
                    bytes,
                    malformed: if bad {
                        std::mem::take(&mut result.statistics.malformed_examples)
                    } else {
                        Vec::new()
                    },
                };
                stopped.set(!(emit.send)(batch));
            }
        };
        // A gzip file that fits the thread's budget is decompressed whole (see `inflate`).
        let mut whole = false;
        if file.encoding == Encoding::Gzip && self.whole_gzip > 0 {
            let inflater = inflater.get_or_insert_with(Inflater::new);
            if let Some(len) = files::inflate_whole(file, inflater, self.whole_gzip)? {
                // The thread's groups leave room for the buffers, which outlive the file.
                reserve(&mut result.partials, inflater.held());
                self.progress.advance(len as u64);
                files::each_line(inflater.records(len), |line| handle_line(line, &mut result));
                whole = true;
            }
        }
        match file.layout {
            _ if whole => {}
            Layout::Lines => {
                files::for_each_line(
                    file,
                    unit.range,
                    |line| handle_line(line, &mut result),
                    |n| {
                        self.progress.advance(n);
                        if stopped.get() {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    },
                )?;
            }
            Layout::Messages => {
                let (start, end) = unit.range.unwrap_or((0, file.size));
                let range = usize::try_from(start).unwrap_or(usize::MAX)
                    ..usize::try_from(end).unwrap_or(usize::MAX);
                for message in self.messages.get(range).unwrap_or_default() {
                    handle_line(Ok(message), &mut result);
                }
            }
            Layout::Parquet => {
                self.progress.advance(file.size);
                for line in parquet_lines {
                    handle_line(Ok(&line), &mut result);
                }
            }
            Layout::SubscriptionJson => {
                let messages = files::subscription_messages(file)?;
                self.progress.advance(file.size);
                for message in messages {
                    handle_line(Ok(&message), &mut result);
                }
            }
        }
        result.lines = line_number;
        result.end = Some(ChunkLayout {
            format: current,
            from_header,
        });
        for partial in &mut result.partials {
            partial.settle()?;
        }
        if let Some(e) = plan_error {
            // Layouts met inside files compile like the default one did; a failure here means
            // a field name conflicts with the query in a way only that layout shows.
            result.statistics.malformed_lines += 1;
            result.statistics.malformed_examples.push(Malformed {
                path,
                line: 0,
                reason: format!("the query cannot run on this file's layout: {e}"),
            });
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests;

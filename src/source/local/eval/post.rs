//! The commands after the record stage (after `stats`, or on raw rows), run over rows one at a
//! time as they come, so that an answer of millions of groups is never held as rows unless a
//! command needs them all.
//!
//! `filter`, `fields`/`display`, `limit` and `dedup` look at one row at a time. `sort` needs
//! every row before it can give the first, so it collects them, sorts them when the input
//! ends, and passes them on to the commands after it. A `sort` that a `limit` follows keeps
//! little more than the rows the limit lets through: `stats ... | sort bytes desc | limit 10`,
//! the usual "top N", holds at most ten rows and a thousand more however many groups there
//! are. A `sort` given a memory budget writes the rows past it to sorted runs on disk and
//! merges them when the input ends (see `row_runs`), so sorting millions of rows holds a
//! budget's worth of them; the rows after the sort then come out a chunk at a time, to be
//! written as they come (`Post::end_input_with`, `SortedRows`). Once a `limit` that no `sort`
//! comes before has let its rows through, no further row can reach the output, and
//! [`Post::wants_more`] tells the reader to stop.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

use rustc_hash::FxHashSet;

use super::row_runs::{RowMerge, RowRun, RowRunWriter};
use super::spill::SpillError;
use super::{
    CExpr, FlowRecord, PlanError, Resolver, RowContext, RowScope, column_name, compile_expr,
    encode_key,
};
use crate::insights::ast::{Command, Expr};
use crate::source::local::value::Scalar;
use crate::source::{Table, Value, handed_over, prefetch, row_bytes, text_bytes};

/// Rows that come out of the commands once the input ended are handed on this many at a time.
const CHUNK: usize = 1 << 12;
/// A `sort` past its budget writes a run of at least this many rows, so that a tiny budget
/// does not make a file a row.
const MIN_RUN_ROWS: usize = if cfg!(test) { 16 } else { 1 << 10 };
/// Once this many runs of one size wait, a `sort` merges them into one run: rows merged from
/// disk are read from a few dozen files at once however many went there, and each row is
/// written again once for every `FAN_IN` times more rows.
const FAN_IN: usize = if cfg!(test) { 4 } else { 32 };
/// Rows written in key order ask for the values of the one this far ahead.
const PREFETCH_ROWS: usize = 8;

/// The post-stage commands, compiled against the columns they see, and the rows that came out
/// of them so far.
#[derive(Debug, Clone)]
pub(super) struct Post {
    stages: Vec<Stage>,
    columns: Vec<String>,
    /// The columns `fields`/`display` chose, by index (the last of them wins); `None`: the
    /// first `shown` columns.
    selection: Option<Vec<usize>>,
    rows: Vec<Vec<Value>>,
}

#[derive(Debug, Clone)]
enum Stage {
    Filter(CExpr),
    /// The columns `fields`/`display` computes, appended to the row in order (each may use the
    /// ones before it).
    Compute(Vec<CExpr>),
    Limit {
        n: usize,
        passed: usize,
    },
    /// Rows with a null in a dedup field are kept, as Logs Insights documents.
    Dedup {
        slots: Vec<usize>,
        seen: FxHashSet<Vec<u8>>,
    },
    Sort(Sorting),
}

/// A `sort`: its keys, descending or not, and the rows so far with their key values.
///
/// The key values are held one row after another in one array, not as a vector a row:
/// sorting millions of rows then compares values that lie in the array being sorted (each
/// row's first key, beside its number) instead of following a pointer to a row's key at every
/// comparison, and the keys cost no allocation a row. Rows move in and out whole, never copied.
#[derive(Debug, Clone)]
struct Sorting {
    keys: Vec<(CExpr, bool)>,
    /// The rows a `limit` right after the sort lets through: no more need be kept.
    keep: Option<usize>,
    rows: Vec<Vec<Value>>,
    /// The rows' key values, `keys.len()` a row.
    key_values: Vec<Value>,
    /// Once the rows were cut to `keep`, the key of the last row kept: a row that does not
    /// sort before it would come after it, and be cut.
    bound: Option<Vec<Value>>,
    /// Bytes the rows may hold before they go to a run on disk; 0: no limit.
    budget: usize,
    /// Bytes the rows' own allocations and their key values' texts take, about (see
    /// `row_bytes`); `memory` adds the arrays.
    held: usize,
    /// Rows written to disk, each run sorted, in input order, with how many times its rows
    /// were merged (which never grows along the list: see `spill`).
    runs: Vec<(RowRun, u32)>,
    spilled_bytes: u64,
    /// The rows held, sorted and shared, once `seal` made them so: each reading copies them
    /// out a row at a time.
    sealed: Option<Arc<[Vec<Value>]>>,
}

/// Sorted rows read back one at a time.
type SortedIter = Box<dyn Iterator<Item = Result<Vec<Value>, SpillError>>>;

impl Sorting {
    fn new(keys: Vec<(CExpr, bool)>, keep: Option<usize>) -> Self {
        Sorting {
            keys,
            keep,
            rows: Vec::new(),
            key_values: Vec::new(),
            bound: None,
            budget: 0,
            held: 0,
            runs: Vec::new(),
            spilled_bytes: 0,
            sealed: None,
        }
    }

    fn push(&mut self, row: Cow<'_, [Value]>) -> Result<(), SpillError> {
        let ctx = RowContext { values: &row };
        if let Some(bound) = &self.bound {
            let order = self
                .keys
                .iter()
                .zip(bound)
                .map(|((e, descending), b)| {
                    directed(e.eval(&ctx).to_value().total_cmp(b), *descending)
                })
                .find(|o| o.is_ne());
            if order != Some(Ordering::Less) {
                return Ok(());
            }
        }
        let keys_from = self.key_values.len();
        self.key_values
            .extend(self.keys.iter().map(|(e, _)| e.eval(&ctx).to_value()));
        let row = row.into_owned();
        self.held += row_bytes(&row) + text_bytes(&self.key_values[keys_from..]);
        self.rows.push(row);
        if let Some(keep) = self.keep {
            // Sorting and cutting the rows whenever they are twice (and at least a thousand
            // more than) what is kept costs a few comparisons a row.
            if self.rows.len() >= keep.saturating_mul(2).max(keep.saturating_add(1024)) {
                self.cut(keep);
            }
        }
        if self.budget > 0 && self.memory() > self.budget && self.rows.len() >= MIN_RUN_ROWS {
            self.spill()?;
        }
        Ok(())
    }

    /// The bytes the rows held take, and those sorting them would: their allocations, the
    /// arrays of rows and key values, and the array `order` sorts.
    fn memory(&self) -> usize {
        self.held
            + self.rows.capacity() * size_of::<Vec<Value>>()
            + self.key_values.capacity() * size_of::<Value>()
            + self.rows.len() * size_of::<(Value, usize)>()
    }

    fn descending(&self) -> Vec<bool> {
        self.keys.iter().map(|&(_, d)| d).collect()
    }

    /// Writes the rows held, sorted (as many as `keep` lets through), to a new run, and holds
    /// none. A `bound` stays: it was right for every row so far.
    fn spill(&mut self) -> Result<(), SpillError> {
        let k = self.keys.len();
        let keep = self.keep.unwrap_or(usize::MAX);
        let mut run = RowRunWriter::create()?;
        let order = self.order();
        let order = &order[..order.len().min(keep)];
        for (n, &i) in order.iter().enumerate() {
            // Rows in key order are reads from anywhere in memory: a row's place in the list
            // and its key values are asked for a few rows ahead, its values fewer.
            if let Some(&far) = order.get(n + 2 * PREFETCH_ROWS) {
                prefetch(&self.rows[far]);
                prefetch(&self.key_values[far * k]);
            }
            if let Some(first) = order
                .get(n + PREFETCH_ROWS)
                .and_then(|&j| self.rows[j].first())
            {
                prefetch(first);
            }
            run.push(&self.key_values[i * k..(i + 1) * k], &self.rows[i])?;
        }
        if let Some(&last) = self
            .keep
            .and_then(|keep| keep.checked_sub(1))
            .and_then(|i| order.get(i))
        {
            // The run holds the `keep` rows that sort first so far: a row that does not sort
            // before the last of them would be cut, as after a cut.
            self.bound = Some(self.key_values[last * k..(last + 1) * k].to_vec());
        }
        let run = run.finish()?;
        self.spilled_bytes += run.bytes();
        self.runs.push((run, 0));
        self.rows.clear();
        self.key_values.clear();
        self.held = 0;
        // The last `FAN_IN` runs, when they were merged as often, become one: runs that follow
        // each other hold rows that follow each other, so the merged run takes their place.
        while let Some(first) = self.runs.len().checked_sub(FAN_IN)
            && self.runs[first].1 == self.runs[self.runs.len() - 1].1
        {
            let merged = self.runs[first].1 + 1;
            let runs: Vec<RowRun> = self.runs.drain(first..).map(|(run, _)| run).collect();
            let mut run = RowRunWriter::create()?;
            let mut merge = RowMerge::open(&runs, self.descending())?;
            let mut keys = Vec::new();
            for _ in 0..keep {
                let Some(row) = merge.next_keyed(&mut keys) else {
                    break;
                };
                run.push(&keys, &row?)?;
            }
            self.runs.push((run.finish()?, merged));
        }
        Ok(())
    }

    /// The rows' numbers in key order, stably: rows of equal keys stay in the order they
    /// came (and rows kept from an earlier cut came before every row after them).
    fn order(&self) -> Vec<usize> {
        let k = self.keys.len();
        let Some(&(_, first_descending)) = self.keys.first() else {
            return (0..self.rows.len()).collect();
        };
        // The first key of each row sits beside its number; the others are looked up only
        // when first keys tie.
        let mut order: Vec<(Value, usize)> = (0..self.rows.len())
            .map(|i| (self.key_values[i * k].clone(), i))
            .collect();
        let rest = |i: usize, j: usize| {
            self.key_values[i * k + 1..(i + 1) * k]
                .iter()
                .zip(&self.key_values[j * k + 1..(j + 1) * k])
                .zip(&self.keys[1..])
                .map(|((x, y), (_, descending))| directed(x.total_cmp(y), *descending))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        };
        // Ties go to the earlier row: stable, without the buffer a stable sort takes.
        order.sort_unstable_by(|(a, i), (b, j)| {
            directed(a.total_cmp(b), first_descending)
                .then_with(|| rest(*i, *j))
                .then(i.cmp(j))
        });
        order.into_iter().map(|(_, i)| i).collect()
    }

    /// Sorts the rows and keeps the first `keep`, in order; the last of them bounds the rows
    /// to come.
    fn cut(&mut self, keep: usize) {
        let k = self.keys.len();
        let order = self.order();
        let mut rows = Vec::with_capacity(keep.min(order.len()));
        let mut key_values = Vec::with_capacity(rows.capacity() * k);
        for &i in order.iter().take(keep) {
            rows.push(std::mem::take(&mut self.rows[i]));
            key_values.extend_from_slice(&self.key_values[i * k..(i + 1) * k]);
        }
        self.held = rows.iter().map(row_bytes).sum::<usize>() + text_bytes(&key_values);
        self.rows = rows;
        self.key_values = key_values;
        if let Some(last) = keep.checked_sub(1).filter(|_| self.rows.len() == keep) {
            self.bound = Some(self.key_values[last * k..].to_vec());
        }
    }

    /// Every row, in key order (as many as `keep` lets through), leaving none held: the rows
    /// held, or, once some went to disk, the rest written too and all the runs merged.
    fn drain_sorted(&mut self) -> Result<SortedIter, SpillError> {
        let keep = self.keep.unwrap_or(usize::MAX);
        if let Some(sealed) = self.sealed.take() {
            return Ok(Box::new(
                (0..sealed.len()).map(move |i| Ok(sealed[i].clone())),
            ));
        }
        if self.runs.is_empty() {
            let order = self.order();
            self.key_values = Vec::new();
            self.held = 0;
            let mut rows = std::mem::take(&mut self.rows);
            return Ok(Box::new(
                order
                    .into_iter()
                    .take(keep)
                    .map(move |i| Ok(std::mem::take(&mut rows[i]))),
            ));
        }
        if !self.rows.is_empty() {
            self.spill()?;
        }
        let runs: Vec<RowRun> = std::mem::take(&mut self.runs)
            .into_iter()
            .map(|(run, _)| run)
            .collect();
        Ok(Box::new(
            RowMerge::open(&runs, self.descending())?.take(keep),
        ))
    }

    /// Makes the rows ready to be read any number of times without a copy of them all: rows
    /// held beside runs go to a run too, and rows held alone are sorted and shared.
    fn seal(&mut self) -> Result<(), SpillError> {
        if !self.runs.is_empty() {
            if !self.rows.is_empty() {
                self.spill()?;
            }
        } else if self.sealed.is_none() {
            let rows: Vec<Vec<Value>> = self.drain_sorted()?.collect::<Result<_, _>>()?;
            self.sealed = Some(rows.into());
        }
        Ok(())
    }
}

fn directed(order: Ordering, descending: bool) -> Ordering {
    if descending { order.reverse() } else { order }
}

impl Post {
    /// Compiles `commands` against rows of `columns`.
    pub(super) fn compile(
        commands: &[Command],
        mut columns: Vec<String>,
    ) -> Result<Self, PlanError> {
        let mut stages = Vec::new();
        let mut selection = None;
        for (i, command) in commands.iter().enumerate() {
            let stage = match command {
                Command::Filter(e) => {
                    Stage::Filter(compile_expr(e, &mut RowScope { columns: &columns })?)
                }
                Command::Sort(keys) => {
                    let keys = keys
                        .iter()
                        .map(|k| {
                            Ok((
                                compile_expr(&k.expr, &mut RowScope { columns: &columns })?,
                                k.descending,
                            ))
                        })
                        .collect::<Result<_, PlanError>>()?;
                    let keep = match commands.get(i + 1) {
                        Some(Command::Limit(n)) => Some(limit(*n)),
                        _ => None,
                    };
                    Stage::Sort(Sorting::new(keys, keep))
                }
                Command::Limit(n) => Stage::Limit {
                    n: limit(*n),
                    passed: 0,
                },
                Command::Dedup(names) => {
                    let mut scope = RowScope { columns: &columns };
                    let slots = names
                        .iter()
                        .map(|n| scope.slot(n))
                        .collect::<Result<_, _>>()?;
                    Stage::Dedup {
                        slots,
                        seen: FxHashSet::default(),
                    }
                }
                Command::Fields(list) | Command::Display(list) => {
                    let mut chosen = Vec::new();
                    let mut computed = Vec::new();
                    for p in list {
                        let index = match (&p.expr, &p.alias) {
                            (Expr::Field(f), None) => RowScope { columns: &columns }.slot(f)?,
                            _ => {
                                computed.push(compile_expr(
                                    &p.expr,
                                    &mut RowScope { columns: &columns },
                                )?);
                                columns.push(column_name(&p.expr, p.alias.as_ref()));
                                columns.len() - 1
                            }
                        };
                        chosen.push(index);
                    }
                    selection = Some(chosen);
                    if computed.is_empty() {
                        continue;
                    }
                    Stage::Compute(computed)
                }
                Command::Stats(_) | Command::Parse(_) => continue,
            };
            stages.push(stage);
        }
        Ok(Post {
            stages,
            columns,
            selection,
            rows: Vec::new(),
        })
    }

    /// Gives the `sort`s `bytes` of memory between them for the rows they hold; past it, their
    /// rows go to disk (see `Sorting::spill`). 0: no limit.
    pub(super) fn with_sort_budget(mut self, bytes: usize) -> Self {
        let sorts = self.sorts();
        for stage in &mut self.stages {
            if let Stage::Sort(sorting) = stage {
                sorting.budget = if bytes == 0 {
                    0
                } else {
                    (bytes / sorts).max(1)
                };
            }
        }
        self
    }

    /// The `sort`s among the commands.
    pub(super) fn sorts(&self) -> usize {
        self.stages
            .iter()
            .filter(|s| matches!(s, Stage::Sort(_)))
            .count()
    }

    /// Bytes of rows the `sort`s wrote to disk so far.
    pub(super) fn spilled_bytes(&self) -> u64 {
        self.stages
            .iter()
            .map(|s| match s {
                Stage::Sort(sorting) => sorting.spilled_bytes,
                _ => 0,
            })
            .sum()
    }

    /// Whether there are no commands: rows come out as they go in, with the columns shown.
    pub(super) fn is_empty(&self) -> bool {
        self.stages.is_empty() && self.selection.is_none()
    }

    /// Runs a row through the commands. A row is copied only if a command keeps it or adds
    /// to it.
    pub(super) fn push(&mut self, row: &[Value]) -> Result<(), SpillError> {
        self.push_from(0, Cow::Borrowed(row))
    }

    /// Runs a row the caller no longer needs through the commands: it moves where they keep
    /// it, so rows held by the caller are not held twice.
    pub(super) fn push_owned(&mut self, row: Vec<Value>) -> Result<(), SpillError> {
        self.push_from(0, Cow::Owned(row))
    }

    fn push_from(&mut self, first: usize, mut row: Cow<'_, [Value]>) -> Result<(), SpillError> {
        for stage in &mut self.stages[first..] {
            match stage {
                Stage::Filter(e) => {
                    if !e.test(&RowContext { values: &row }) {
                        return Ok(());
                    }
                }
                Stage::Compute(exprs) => {
                    for e in exprs.iter() {
                        let value = e.eval(&RowContext { values: &row }).to_value();
                        row.to_mut().push(value);
                    }
                }
                Stage::Limit { n, passed } => {
                    if *passed >= *n {
                        return Ok(());
                    }
                    *passed += 1;
                }
                Stage::Dedup { slots, seen } => {
                    if slots.iter().all(|&s| !row[s].is_null()) {
                        let mut key = Vec::new();
                        for &s in slots.iter() {
                            encode_key(&Scalar::from_value(&row[s]), &mut key);
                        }
                        if !seen.insert(key) {
                            return Ok(());
                        }
                    }
                }
                Stage::Sort(sorting) => return sorting.push(row),
            }
        }
        self.rows.push(row.into_owned());
        Ok(())
    }

    /// Whether another row could still reach the output (or a `sort`): not once a `limit` has
    /// let all its rows through. (A `limit` after a `sort` gets rows only when the input ends.)
    pub(super) fn wants_more(&self) -> bool {
        self.wants_more_from(0)
    }

    /// Whether another row could still come out of the commands from stage `first` on.
    fn wants_more_from(&self, first: usize) -> bool {
        !self.stages[first..]
            .iter()
            .any(|stage| matches!(stage, Stage::Limit { n, passed } if passed >= n))
    }

    /// Ends the input: sorts, and runs the sorted rows through the commands after each sort.
    /// `emit` gets the rows that come out (with every column: `Shown::cut_rows` cuts them) a
    /// chunk at a time as the sorted rows are read, and returns `false` when it wants no more:
    /// rows that spilled to disk are never all held again. A sort stops being read once a
    /// `limit` after it is full.
    pub(super) fn end_input_with<E: From<SpillError>>(
        &mut self,
        emit: &mut dyn FnMut(Vec<Vec<Value>>) -> Result<bool, E>,
    ) -> Result<(), E> {
        for i in 0..self.stages.len() {
            let Stage::Sort(sorting) = &mut self.stages[i] else {
                continue;
            };
            for row in sorting.drain_sorted()? {
                self.push_from(i + 1, Cow::Owned(row?))?;
                if self.rows.len() >= CHUNK && !emit(std::mem::take(&mut self.rows))? {
                    return Ok(());
                }
                if !self.wants_more_from(i + 1) {
                    break;
                }
            }
        }
        let rows = std::mem::take(&mut self.rows);
        if !rows.is_empty() {
            emit(rows)?;
        }
        Ok(())
    }

    /// The columns the output shows: those `fields`/`display` chose, or the first `shown`.
    pub(super) fn shown(&self, shown: usize) -> Shown {
        let selection = self
            .selection
            .clone()
            .unwrap_or_else(|| (0..shown).collect());
        Shown {
            columns: selection.iter().map(|&i| self.columns[i].clone()).collect(),
            identity: selection.iter().enumerate().all(|(k, &i)| k == i),
            selection,
        }
    }

    /// Takes the rows that came out of the commands so far, in order, each cut to the
    /// columns shown.
    pub(super) fn take_rows(&mut self, shown: &Shown) -> Vec<Vec<Value>> {
        shown.cut_rows(std::mem::take(&mut self.rows))
    }

    /// Ends the input and gives the answer: the rows left, with the columns shown, and, for
    /// raw rows numbered in `record_column`, the records of the rows left.
    pub(super) fn finish(
        mut self,
        shown: usize,
        record_column: Option<usize>,
        mut records: Vec<Option<FlowRecord>>,
    ) -> Result<(Table, Vec<FlowRecord>), SpillError> {
        let mut rows = Vec::new();
        self.end_input_with(&mut |chunk| -> Result<bool, SpillError> {
            rows.extend(chunk);
            Ok(true)
        })?;
        let shown = self.shown(shown);
        let records = record_column.map_or_else(Vec::new, |c| {
            rows.iter()
                .filter_map(|values| {
                    let i = values.get(c)?.as_i64()?;
                    records.get_mut(usize::try_from(i).ok()?)?.take()
                })
                .collect()
        });
        let rows = shown.cut_rows(rows);
        Ok((
            Table {
                columns: shown.columns,
                rows,
            },
            records,
        ))
    }
}

/// The rows of an answer that a `sort` orders, left to be read from its runs as they are
/// written: the commands with every row in, and the input not ended. Each reading ends the
/// input of a copy, so the rows can be read more than once.
#[derive(Debug, Clone)]
pub struct SortedRows {
    post: Post,
    shown: Shown,
}

impl SortedRows {
    /// The rows of `post`, whose input has every row, to be read as they are written. The
    /// first `sort` has all its rows (a later one gets them as they are read); the commands
    /// before it get no more, so they go (a `dedup`'s values with them).
    pub(super) fn new(mut post: Post, shown: Shown) -> Result<Self, SpillError> {
        let first = post
            .stages
            .iter()
            .position(|stage| matches!(stage, Stage::Sort(_)));
        if let Some(first) = first {
            post.stages.drain(..first);
            if let Stage::Sort(sorting) = &mut post.stages[0] {
                sorting.seal()?;
            }
        }
        Ok(SortedRows { post, shown })
    }

    /// The columns of the rows.
    pub fn columns(&self) -> &[String] {
        &self.shown.columns
    }

    /// Bytes of rows the `sort`s wrote to disk before the rows are read (a later `sort`
    /// writes its own as they are, not counted here).
    pub fn spilled_bytes(&self) -> u64 {
        self.post.spilled_bytes()
    }

    /// Calls `f` with the rows in order, a chunk at a time, until it fails.
    pub fn try_for_each_chunk<E: From<std::io::Error>>(
        &self,
        mut f: impl FnMut(Vec<Vec<Value>>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut post = self.post.clone();
        let mut failed = None;
        let read = post.end_input_with(&mut |rows| -> std::io::Result<bool> {
            match f(self.shown.cut_rows(rows)) {
                Ok(()) => Ok(true),
                Err(e) => {
                    failed = Some(e);
                    Ok(false)
                }
            }
        });
        match failed {
            Some(e) => Err(e),
            None => read.map_err(E::from),
        }
    }

    /// Renders the rows to bytes and passes them to `write` in order: a thread reads the
    /// rows (merging them from disk) while the chunk before is rendered and written.
    pub fn try_for_each_rendered<E: Send + From<std::io::Error>>(
        &self,
        render: impl Fn(&mut dyn Iterator<Item = &[Value]>) -> Result<Vec<u8>, E> + Sync,
        mut write: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        // Rendered here, not on the pool: its idle threads would spin for work on the cores
        // the reading needs.
        handed_over(
            |send| {
                self.try_for_each_chunk(|rows| {
                    if send(rows) {
                        Ok(())
                    } else {
                        Err(std::io::Error::other("the writer stopped"))
                    }
                })
            },
            |rows: Vec<Vec<Value>>| write(&render(&mut rows.iter().map(Vec::as_slice))?),
        )
    }
}

/// The columns an answer shows, and where their values are in the rows the commands made.
#[derive(Debug, Clone)]
pub(super) struct Shown {
    pub(super) columns: Vec<String>,
    selection: Vec<usize>,
    /// The columns shown are the rows' first ones, in order.
    identity: bool,
}

impl Shown {
    pub(super) fn cut_rows(&self, rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
        // Rows move out; a copy of every row would double the peak memory.
        rows.into_iter().map(|values| self.cut(values)).collect()
    }

    fn cut(&self, mut values: Vec<Value>) -> Vec<Value> {
        if self.identity {
            values.truncate(self.selection.len());
            values
        } else {
            self.selection
                .iter()
                .map(|&i| values.get(i).cloned().unwrap_or(Value::Null))
                .collect()
        }
    }
}

fn limit(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::insights::parser::parse;

    fn post(query: &str) -> Post {
        let commands = parse(query).unwrap().commands;
        Post::compile(&commands, vec!["a".into(), "b".into()]).unwrap()
    }

    /// Runs rows through `query` the way the engine does: pushed one at a time while more are
    /// wanted.
    fn run(query: &str, rows: &[Vec<Value>]) -> (Vec<Vec<Value>>, usize) {
        run_within(query, rows, 0)
    }

    /// As `run`, with the sorts' rows past `budget` bytes on disk (0: no limit).
    fn run_within(query: &str, rows: &[Vec<Value>], budget: usize) -> (Vec<Vec<Value>>, usize) {
        let mut commands = post(query).with_sort_budget(budget);
        let mut pushed = 0;
        for row in rows {
            commands.push(row).unwrap();
            pushed += 1;
            if !commands.wants_more() {
                break;
            }
        }
        (commands.finish(2, None, Vec::new()).unwrap().0.rows, pushed)
    }

    fn sortings(post: &Post) -> impl Iterator<Item = &Sorting> {
        post.stages.iter().filter_map(|s| match s {
            Stage::Sort(sorting) => Some(sorting),
            _ => None,
        })
    }

    fn int(v: Option<i64>) -> Value {
        v.map_or(Value::Null, Value::Int)
    }

    /// The same commands over rows held all at once, one command after another.
    fn held(commands: &[Held], mut rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
        for command in commands {
            match *command {
                Held::FilterAAbove(x) => rows.retain(|r| r[0].as_i64().is_some_and(|a| a > x)),
                Held::SortBDescThenA => {
                    rows.sort_by(|r, s| s[1].total_cmp(&r[1]).then_with(|| r[0].total_cmp(&s[0])))
                }
                Held::SortA => rows.sort_by(|r, s| r[0].total_cmp(&s[0])),
                Held::Limit(n) => rows.truncate(n),
                Held::DedupA => {
                    let mut seen = Vec::new();
                    rows.retain(|r| {
                        r[0].is_null() || {
                            let new = !seen.contains(&r[0]);
                            seen.push(r[0].clone());
                            new
                        }
                    });
                }
            }
        }
        rows
    }

    #[derive(Debug, Clone, Copy)]
    enum Held {
        FilterAAbove(i64),
        SortBDescThenA,
        SortA,
        Limit(usize),
        DedupA,
    }

    impl Held {
        fn text(self) -> String {
            match self {
                Held::FilterAAbove(x) => format!("filter a > {x}"),
                Held::SortBDescThenA => "sort b desc, a".into(),
                Held::SortA => "sort a".into(),
                Held::Limit(n) => format!("limit {n}"),
                Held::DedupA => "dedup a".into(),
            }
        }
    }

    fn command() -> impl Strategy<Value = Held> {
        prop_oneof![
            (-2i64..6).prop_map(Held::FilterAAbove),
            Just(Held::SortBDescThenA),
            Just(Held::SortA),
            // Limits small and large against rows of up to 3,000, so that a sort kept to a
            // limit cuts its rows many times, or never.
            prop_oneof![1usize..40, 1usize..4000].prop_map(Held::Limit),
            Just(Held::DedupA),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Rows pushed one at a time, with sorts kept to the limit after them and the input
        /// stopped once a limit is reached, give the rows that running each command over all
        /// of them gives, in the same order (ties stay in input order).
        #[test]
        fn commands_over_streamed_rows_answer_as_over_held_ones(
            commands in proptest::collection::vec(command(), 1..5),
            rows in proptest::collection::vec((proptest::option::of(0i64..8), 0i64..100_000), 0..3000),
            // Few values of `b` (ties everywhere) or many (a sort's kept rows span many keys).
            spread in prop_oneof![Just(5i64), Just(100_000)],
        ) {
            let rows: Vec<Vec<Value>> = rows
                .iter()
                .map(|&(a, b)| vec![int(a), Value::Int(b % spread)])
                .collect();
            let query = commands.iter().map(|c| c.text()).collect::<Vec<_>>().join(" | ");
            let (streamed, _) = run(&query, &rows);
            // Sorts that hold a few dozen rows at most: the rest go through runs on disk.
            let (spilled, _) = run_within(&query, &rows, 2000);
            let expected = held(&commands, rows);
            prop_assert_eq!(&streamed, &expected, "{}", query);
            prop_assert_eq!(&spilled, &expected, "{} (spilled)", query);
        }
    }

    /// A sort holds at most its budget of rows (and one more): the rest go to runs on disk,
    /// which come back merged in order, through the commands after the sort, a chunk at a
    /// time; the input read to its end is read again by a copy made before it ended.
    #[test]
    fn a_sort_past_its_budget_writes_runs_and_merges_them_a_chunk_at_a_time() {
        let budget = 64 << 10;
        let mut commands = post("sort b desc | filter a > 0").with_sort_budget(budget);
        let n = 20_000i64;
        for i in 0..n {
            commands
                .push(&[
                    Value::Int(i % 5),
                    Value::Str(format!("{:05}", (i * 7919) % n).into()),
                ])
                .unwrap();
            let sorting = sortings(&commands).next().unwrap();
            assert!(
                sorting.memory() <= budget,
                "{} bytes held",
                sorting.memory()
            );
        }
        let sorting = sortings(&commands).next().unwrap();
        // Runs of one size merge, FAN_IN at a time: a few are left, of several sizes.
        let levels: Vec<u32> = sorting.runs.iter().map(|&(_, level)| level).collect();
        assert!(levels.len() < 4 * FAN_IN, "{levels:?}");
        assert!(levels.windows(2).all(|w| w[0] >= w[1]), "{levels:?}");
        assert!(levels[0] >= 2, "{levels:?}");
        assert!(
            commands.spilled_bytes() > 20_000 * 8,
            "{}",
            commands.spilled_bytes()
        );
        let again = commands.clone();
        let mut chunks = Vec::new();
        commands
            .end_input_with(&mut |rows| -> Result<bool, SpillError> {
                chunks.push(rows);
                Ok(true)
            })
            .unwrap();
        assert!(
            chunks.iter().all(|c| c.len() <= CHUNK),
            "chunks of at most CHUNK rows"
        );
        assert!(chunks.len() > 1);
        let b: Vec<String> = chunks.concat().iter().map(|r| r[1].to_string()).collect();
        // Each b is one row's (7919 and n have no common factor); its a is i % 5.
        let mut a_of_b = vec![0; n as usize];
        for i in 0..n {
            a_of_b[((i * 7919) % n) as usize] = i % 5;
        }
        let expected: Vec<String> = (0..n)
            .rev()
            .filter(|&b| a_of_b[b as usize] > 0)
            .map(|b| format!("{b:05}"))
            .collect();
        assert_eq!(b, expected);
        let (table, _) = again.finish(2, None, Vec::new()).unwrap();
        assert_eq!(table.rows.len(), expected.len());
    }

    /// A sort kept to a limit that goes to disk keeps the limit's rows in the run it writes,
    /// and the last of them bounds the rows to come, as a cut does: rows that sort after it are
    /// never held or written again.
    #[test]
    fn a_sort_kept_to_a_limit_is_bounded_by_its_first_run() {
        let mut commands = post("sort a | limit 20").with_sort_budget(4096);
        for i in 0..100_000 {
            commands.push(&[Value::Int(i), Value::Null]).unwrap();
        }
        let sorting = sortings(&commands).next().unwrap();
        assert_eq!(sorting.runs.len(), 1);
        assert!(sorting.rows.is_empty());
        let (table, _) = commands.finish(2, None, Vec::new()).unwrap();
        let a: Vec<Value> = table.rows.iter().map(|r| r[0].clone()).collect();
        assert_eq!(a, (0..20).map(Value::Int).collect::<Vec<_>>());
    }

    /// A sorted answer keeps only the commands from its first sort on: those before it (a
    /// `dedup` with the values it saw) get no more rows.
    #[test]
    fn a_sorted_answer_drops_the_commands_before_its_sort() {
        let mut commands = post("dedup a | filter a > 1 | sort a desc | limit 3");
        for i in 0..1000 {
            commands.push(&[Value::Int(i % 50), Value::Int(i)]).unwrap();
        }
        let shown = commands.shown(2);
        let sorted = SortedRows::new(commands, shown).unwrap();
        assert_eq!(sorted.post.stages.len(), 2, "{:?}", sorted.post.stages);
        for _ in 0..2 {
            let mut rows = Vec::new();
            sorted
                .try_for_each_chunk(|chunk| -> std::io::Result<()> {
                    rows.extend(chunk);
                    Ok(())
                })
                .unwrap();
            assert_eq!(
                rows,
                [49, 48, 47].map(|a| vec![Value::Int(a), Value::Int(a)])
            );
        }
    }

    /// Rows sorted from disk stop being read once a `limit` after the sort is full, and a
    /// consumer that wants no more stops them too.
    #[test]
    fn reading_sorted_runs_stops_when_no_more_rows_are_wanted() {
        let rows: Vec<Vec<Value>> = (0..10_000)
            .map(|i| vec![Value::Int(i), Value::Int(-i)])
            .collect();
        let (first, _) = run_within("sort a desc | limit 3", &rows, 4096);
        assert_eq!(
            first,
            [9_999, 9_998, 9_997].map(|a| vec![Value::Int(a), Value::Int(-a)])
        );
        let mut commands = post("sort a").with_sort_budget(4096);
        for row in &rows {
            commands.push(row).unwrap();
        }
        let mut calls = 0;
        commands
            .end_input_with(&mut |rows| -> Result<bool, SpillError> {
                calls += 1;
                assert_eq!(rows[0][0], Value::Int(0));
                Ok(false)
            })
            .unwrap();
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_sort_keeps_a_thousand_rows_beyond_a_small_limit_after_it() {
        let mut commands = post("sort b desc | limit 3");
        let (mut before, mut cuts) = (0, 0);
        for i in 0..100_000 {
            commands.push(&[Value::Int(i % 7), Value::Int(i)]).unwrap();
            let Stage::Sort(sorting) = &commands.stages[0] else {
                panic!("the first stage sorts");
            };
            let kept = sorting.rows.len();
            assert!(kept < 3 + 1024, "{kept} rows kept");
            if kept < before {
                assert_eq!(kept, 3, "a cut keeps the limit's rows");
                cuts += 1;
            }
            before = kept;
        }
        assert!(cuts > 90, "{cuts} cuts");
        let (table, _) = commands.finish(2, None, Vec::new()).unwrap();
        let b: Vec<Value> = table.rows.iter().map(|r| r[1].clone()).collect();
        assert_eq!(b, [99_999, 99_998, 99_997].map(Value::Int));
    }

    #[test]
    fn a_limit_too_large_to_reach_keeps_every_row() {
        let rows: Vec<Vec<Value>> = (0..50)
            .map(|i| vec![Value::Int(i % 3), Value::Int(i)])
            .collect();
        let all = format!("sort a | limit {}", u64::MAX);
        let (sorted, pushed) = run(&all, &rows);
        assert_eq!(pushed, 50);
        assert_eq!(sorted, held(&[Held::SortA], rows));
    }

    #[test]
    fn the_input_stops_once_a_limit_before_any_sort_is_full() {
        let rows: Vec<Vec<Value>> = (0..100)
            .map(|i| vec![Value::Int(i), Value::Int(0)])
            .collect();
        assert_eq!(run("limit 3", &rows).1, 3);
        assert_eq!(run("filter a > 10 | limit 3 | sort a desc", &rows).1, 14);
        assert_eq!(run("sort a desc | limit 3", &rows).1, 100);
        let (rows, _) = run("filter a > 10 | limit 3 | sort a desc", &rows);
        assert_eq!(
            rows,
            [13, 12, 11].map(|a| vec![Value::Int(a), Value::Int(0)])
        );
    }
}

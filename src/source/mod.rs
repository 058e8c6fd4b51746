//! Where answers come from: the embedded engine over files (`local`) and, later, CloudWatch Logs
//! Insights. Both answer the same parsed query with the same row shape.
//!
//! Owns the result types every source produces: typed values, rows keyed by field name, the
//! statistics of a run and the time window.

pub mod cloudwatch;
pub mod local;

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use rayon::prelude::*;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::flow::FlowRecord;
use crate::source::local::eval::Streamed;
use crate::source::local::value::Scalar;

/// A typed value of a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    /// Text; shared, since answers repeat the same few strings (interfaces, actions) in
    /// millions of rows.
    Str(Arc<str>),
    /// A point in time in epoch milliseconds (`@timestamp`, `bin(...)`).
    Time(i64),
}

impl Value {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(n) | Value::Time(n) => Some(*n),
            Value::Float(f) if f.fract() == 0.0 && f.is_finite() => {
                // Exact: the value is integral; out-of-range floats saturate.
                Some(*f as i64)
            }
            Value::Str(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(n) | Value::Time(n) => Some(*n as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => s.parse().ok(),
            Value::Null => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The order `sort` uses: nulls first, then numbers (and times) by their exact values,
    /// then strings (see `Scalar::total_cmp`).
    pub fn total_cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            // The usual cases first: sorts compare millions of values.
            (Value::Int(a), Value::Int(b)) | (Value::Time(a), Value::Time(b)) => a.cmp(b),
            (Value::Str(a), Value::Str(b)) => a.cmp(b),
            _ => Scalar::from_value(self).total_cmp(&Scalar::from_value(other)),
        }
    }
}

/// Times print the way Logs Insights shows them, in UTC with milliseconds.
pub fn format_time_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Seconds since the epoch as RFC 3339, for report windows.
pub fn format_time_s(s: i64) -> String {
    DateTime::<Utc>::from_timestamp(s, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| s.to_string())
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
            Value::Time(ms) => f.write_str(&format_time_ms(*ms)),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Int(n) => serializer.serialize_i64(*n),
            Value::Float(x) => serializer.serialize_f64(*x),
            Value::Str(s) => serializer.serialize_str(s),
            Value::Time(ms) => serializer.serialize_str(&format_time_ms(*ms)),
        }
    }
}

/// The answer to one query: named columns and rows of values aligned with them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

/// Rows of one width, one after another in one array: a chunk of an answer's rows costs one
/// allocation, not one a row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowBlock {
    width: usize,
    values: Vec<Value>,
    rows: usize,
}

impl RowBlock {
    pub fn with_capacity(values: usize) -> Self {
        RowBlock {
            values: Vec::with_capacity(values),
            ..RowBlock::default()
        }
    }

    /// The values of the rows, the row being made last.
    pub fn values_mut(&mut self) -> &mut Vec<Value> {
        &mut self.values
    }

    /// Ends the row whose values were pushed since the last; the first row sets the width.
    pub fn end_row(&mut self) {
        self.rows += 1;
        if self.rows == 1 {
            self.width = self.values.len();
        }
        debug_assert_eq!(self.values.len(), self.rows * self.width);
    }

    /// Where the last row ended (where the row being made starts).
    pub fn end(&self) -> usize {
        self.rows * self.width
    }

    /// Appends `other`'s rows after these; a row either was making is dropped.
    pub fn append(&mut self, mut other: RowBlock) {
        other.values.truncate(other.end());
        if self.rows == 0 {
            *self = other;
        } else if other.rows > 0 {
            debug_assert_eq!(self.width, other.width);
            self.values.truncate(self.end());
            self.values.extend(other.values);
            self.rows += other.rows;
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The rows in order.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, Value> {
        self.values[..self.end()].chunks_exact(self.width.max(1))
    }

    /// The rows, `n` rows at a time.
    pub fn runs(&self, n: usize) -> impl Iterator<Item = &[Value]> + '_ {
        self.values[..self.end()].chunks(n * self.width.max(1))
    }

    pub fn width(&self) -> usize {
        self.width
    }
}

/// A row borrowed with its column names; serializes as a JSON object.
pub struct KeyedRow<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl<'a> KeyedRow<'a> {
    pub fn new(columns: &'a [String], values: &'a [Value]) -> Self {
        KeyedRow { columns, values }
    }
}

impl Serialize for KeyedRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.columns.len()))?;
        for (name, value) in self.columns.iter().zip(self.values) {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// A file line that is not a record of its layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub path: String,
    pub line: u64,
    pub reason: String,
}

/// What a run read and skipped, reported on stderr after the answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Statistics {
    pub files: u64,
    /// Files in input folders passed over because their names do not look like flow logs.
    pub files_skipped: u64,
    pub bytes_scanned: u64,
    pub records_scanned: u64,
    pub records_matched: u64,
    pub nodata_records: u64,
    pub skipdata_records: u64,
    pub outside_window: u64,
    /// Records in a bounded window without a start time: they were kept, unplaced.
    pub untimed_records: u64,
    pub malformed_lines: u64,
    /// The first few malformed lines, in file and line order.
    pub malformed_examples: Vec<Malformed>,
    /// Bytes of groups written to temporary files because they outgrew `--memory-limit`.
    pub spilled_bytes: u64,
    /// Bytes of rows that `sort`s wrote to temporary files because they outgrew their share
    /// of `--memory-limit`.
    pub sorted_spilled_bytes: u64,
    /// A `limit` was full before the input ended, so the rest was not read.
    pub stopped_at_limit: bool,
}

impl Statistics {
    pub const MAX_EXAMPLES: usize = 5;

    /// SKIPDATA records mean the flow-log service dropped records in their capture window.
    pub fn coverage_incomplete(&self) -> bool {
        self.skipdata_records > 0
    }
}

/// The answer to one query, with what it cost.
#[derive(Debug, Clone, Default)]
pub struct QueryOutput {
    pub table: Table,
    /// Whole records, for `query --records`: filled only when records were asked for.
    pub records: Vec<FlowRecord>,
    /// Records that passed the query's record stages (its filters).
    pub records_matched: u64,
    /// The rows of a `stats` answer left to be made as they are written (asked for with
    /// `LocalOptions::stream`); `table` then has the columns and no rows.
    pub stream: Option<local::eval::Streamed>,
}

/// A held table as an answer, for analyses given rows rather than a run.
impl From<Table> for QueryOutput {
    fn from(table: Table) -> Self {
        QueryOutput {
            table,
            ..QueryOutput::default()
        }
    }
}

/// Rows of a held answer asked for ahead of the one being read.
const PREFETCH_ROWS: usize = 16;

impl QueryOutput {
    /// Calls `f` with each row of the answer in order, whether its rows are held in `table` or
    /// made one at a time from `stream` (an error reading groups that went to disk is `E`).
    pub fn try_for_each_row<E: From<std::io::Error>>(
        &self,
        mut f: impl FnMut(&[Value]) -> Result<(), E>,
    ) -> Result<(), E> {
        match &self.stream {
            Some(Streamed::Groups(groups)) => groups.try_for_each(f),
            Some(Streamed::Sorted(sorted)) => {
                sorted.try_for_each_chunk(|rows| rows.iter().try_for_each(|row| f(row)))
            }
            None => self.table.rows.iter().try_for_each(|row| f(row)),
        }
    }

    /// Whether the rows come in the order of their first column, as the groups of a `stats`
    /// answer streamed by its keys do.
    pub fn in_first_column_order(&self) -> bool {
        matches!(self.stream, Some(Streamed::Groups(_)))
    }

    /// Renders the rows to bytes, a run of consecutive rows at a time, and passes the bytes to
    /// `write` in order. A streamed answer renders its runs in parallel.
    pub fn try_for_each_rendered<E: Send + From<std::io::Error>>(
        &self,
        render: impl Fn(&mut dyn Iterator<Item = &[Value]>) -> Result<Vec<u8>, E> + Sync,
        mut write: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        match &self.stream {
            Some(Streamed::Groups(groups)) => groups.try_for_each_rendered(render, write),
            Some(Streamed::Sorted(sorted)) => sorted.try_for_each_rendered(render, write),
            None => {
                // A held answer's rows lie anywhere in memory once a `sort` has reordered
                // them, so rendering them is mostly waiting for memory: each core renders a
                // run at once, and the runs are written in order.
                let runs: Vec<&[Vec<Value>]> = self.table.rows.chunks(1 << 10).collect();
                for window in runs.chunks(2 * rayon::current_num_threads()) {
                    let rendered: Vec<Result<Vec<u8>, E>> = window
                        .par_iter()
                        .map(|rows| {
                            // Each row is an allocation of its own: the next few are asked
                            // for while this one is rendered.
                            let mut ahead = rows.iter().skip(PREFETCH_ROWS);
                            render(&mut rows.iter().map(|row| {
                                if let Some(first) = ahead.next().and_then(|next| next.first()) {
                                    prefetch(first);
                                }
                                row.as_slice()
                            }))
                        })
                        .collect();
                    for bytes in rendered {
                        write(&bytes?)?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Renders rows of the given columns to the bytes a `RowSink` writes. It may be called on any
/// thread, for runs of consecutive rows; the bytes of the runs are written in order.
pub type Render<'a> =
    dyn Fn(&[String], &mut dyn Iterator<Item = &[Value]>) -> std::io::Result<Vec<u8>> + Sync + 'a;

/// Where a run that writes rows as it reads them puts them, instead of returning them: the
/// columns once, then the rows, rendered, in order, then the end of a run that succeeded.
pub trait RowSink {
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()>;
    fn write(&mut self, rendered: &[u8]) -> std::io::Result<()>;
    fn finish(&mut self) -> std::io::Result<()>;
    /// After a run that failed: writes the rows the sink still holds (the rows before an
    /// error stay written), and no end.
    fn abandon(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The inclusive time window a run covers, in epoch seconds; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub start_s: Option<i64>,
    pub end_s: Option<i64>,
}

impl Window {
    pub fn contains_ms(&self, ms: i64) -> bool {
        let s = ms.div_euclid(1000);
        self.start_s.is_none_or(|start| s >= start) && self.end_s.is_none_or(|end| s <= end)
    }

    pub fn is_unbounded(&self) -> bool {
        self.start_s.is_none() && self.end_s.is_none()
    }
}

/// The bytes the allocator takes for `n` bytes, about: `n` rounded up to 16, and 16 more.
fn allocated(n: usize) -> usize {
    n.next_multiple_of(16) + 16
}

/// The bytes the texts among `values` take in memory: each as if no other value shared it
/// (which errs on the safe side), with its reference counts.
pub(crate) fn text_bytes(values: &[Value]) -> usize {
    values
        .iter()
        .map(|v| match v {
            Value::Str(text) => allocated(16 + text.len()),
            _ => 0,
        })
        .sum()
}

/// The bytes a row's allocations take in memory, about: its values and their texts (not the
/// vector itself, which lies wherever the row is kept). What memory limits count rows by.
pub(crate) fn row_bytes(row: &Vec<Value>) -> usize {
    allocated(row.capacity() * size_of::<Value>()) + text_bytes(row)
}

/// Calls `f` with each item `produce` makes, in order, while `produce`, on a thread of its
/// own, makes the next: each is handed over when `f` is ready for it. The `send` that
/// `produce` gets returns `false` once `f` has failed (it should then stop); an error of
/// `produce` comes after the items it sent.
pub(crate) fn handed_over<T: Send, E: From<std::io::Error>>(
    produce: impl FnOnce(&mut dyn FnMut(T) -> bool) -> std::io::Result<()> + Send,
    f: impl FnMut(T) -> Result<(), E>,
) -> Result<(), E> {
    std::thread::scope(|scope| {
        let (items, made) = std::sync::mpsc::sync_channel(0);
        let producer = scope.spawn(move || produce(&mut |item| items.send(item).is_ok()));
        // A failure drops the receiver: the producer's next `send` fails.
        let consumed = made.into_iter().try_for_each(f);
        let produced = producer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        consumed?;
        produced.map_err(E::from)
    })
}

/// Asks the processor to bring `item` into the cache, without waiting for it.
#[inline]
pub(crate) fn prefetch<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing into the program, never faults, and SSE,
    // which it needs, is part of every x86_64 target.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(item).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(rows: &[&[i64]]) -> RowBlock {
        let mut block = RowBlock::default();
        for row in rows {
            block
                .values_mut()
                .extend(row.iter().map(|&n| Value::Int(n)));
            block.end_row();
        }
        block
    }

    fn ints(rows: impl Iterator<Item = impl AsRef<[Value]>>) -> Vec<Vec<i64>> {
        rows.map(|r| r.as_ref().iter().map(|v| v.as_i64().unwrap()).collect())
            .collect()
    }

    /// A block's rows come back as pushed, a row or a run at a time, after another block's
    /// and with empty blocks anywhere.
    /// `sort`'s order: nulls, then numbers and times by their exact values, then text.
    #[test]
    fn values_sort_nulls_numbers_then_text() {
        let two53 = 1i64 << 53;
        let mut values = vec![
            Value::Str("10".into()),
            Value::Int(two53 + 1),
            Value::Null,
            Value::Float(two53 as f64),
            Value::Time(two53 - 1),
            Value::Float(-0.5),
            Value::Str("9".into()),
            Value::Int(-1),
        ];
        values.sort_by(Value::total_cmp);
        assert_eq!(
            values,
            [
                Value::Null,
                Value::Int(-1),
                Value::Float(-0.5),
                Value::Time(two53 - 1),
                Value::Float(two53 as f64),
                Value::Int(two53 + 1),
                Value::Str("10".into()),
                Value::Str("9".into()),
            ]
        );
    }

    #[test]
    fn a_row_block_gives_back_its_rows() {
        let mut all = RowBlock::default();
        all.append(RowBlock::default());
        all.append(block(&[&[1, 2], &[3, 4]]));
        all.append(RowBlock::default());
        all.append(block(&[&[5, 6]]));
        assert_eq!((all.len(), all.width(), all.end()), (3, 2, 6));
        assert_eq!(ints(all.rows()), [[1, 2], [3, 4], [5, 6]]);
        let runs: Vec<Vec<i64>> = all
            .runs(2)
            .map(|run| run.iter().map(|v| v.as_i64().unwrap()).collect())
            .collect();
        assert_eq!(runs, [vec![1, 2, 3, 4], vec![5, 6]]);
        // A row being made is not one of the rows yet, nor is it kept by an append.
        all.values_mut().push(Value::Int(7));
        assert_eq!(all.rows().count(), 3);
        let mut more = block(&[&[8, 9]]);
        more.values_mut().push(Value::Int(10));
        all.append(more);
        assert_eq!(ints(all.rows()), [[1, 2], [3, 4], [5, 6], [8, 9]]);
        assert!(RowBlock::default().rows().next().is_none());
        assert!(RowBlock::default().is_empty());
    }

    /// A held answer's rows are rendered a run at a time on several cores; the bytes still
    /// come out in row order, every row once, however many runs a window of them holds.
    #[test]
    fn held_rows_render_in_order() {
        let rows: Vec<Vec<Value>> = (0..20_000).map(|i| vec![Value::Int(i)]).collect();
        let output = QueryOutput::from(Table {
            columns: vec!["n".into()],
            rows,
        });
        let mut written = Vec::new();
        output
            .try_for_each_rendered(
                |rows| -> Result<Vec<u8>, std::io::Error> {
                    let mut bytes = Vec::new();
                    for row in rows {
                        bytes.extend_from_slice(row[0].to_string().as_bytes());
                        bytes.push(b'\n');
                    }
                    Ok(bytes)
                },
                |bytes| {
                    written.extend_from_slice(bytes);
                    Ok(())
                },
            )
            .unwrap();
        let expected: String = (0..20_000).map(|i| format!("{i}\n")).collect();
        assert_eq!(String::from_utf8(written).unwrap(), expected);
    }
}

//! The rows of a `sort` that outgrow the memory limit, on disk: sorted runs of rows in
//! temporary files, merged as the sorted rows are read.
//!
//! A `sort` holds its rows until the input ends. Past its share of `--memory-limit`, it sorts
//! the rows it holds, writes them to a run and starts afresh; at the end the runs are merged
//! a row at a time, so memory holds one row a run (and a read buffer) however many rows the
//! answer has. Runs are temporary files with no name, as the groups' runs are (see `spill`).
//!
//! A row in a run is the length of the rest (LEB128), its number of values and of its sort
//! keys' values (LEB128), then the keys' values, then the row's; a value is a tag byte and
//! its payload. The merge compares the keys
//! as the `sort` does (`Value::total_cmp`, each key ascending or descending), and a tie goes
//! to the earlier run: runs are written in input order, so the sort stays stable.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use super::spill::{SpillError, TempWriter, damaged, read_at, varint_at, write_varint};
use crate::source::Value;

/// Bytes buffered reading a run: the merge reads every run at once.
const READ_BUFFER: usize = 1 << 16;

const NULL: u8 = 0;
const INT: u8 = 1;
const FLOAT: u8 = 2;
const TIME: u8 = 3;
const TEXT: u8 = 4;

/// A run of sorted rows on disk; the file goes when the last clone does.
#[derive(Debug, Clone)]
pub(super) struct RowRun {
    file: Arc<File>,
    bytes: u64,
}

impl RowRun {
    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Writes one run, a row at a time in sorted order.
pub(super) struct RowRunWriter {
    file: TempWriter,
    record: Vec<u8>,
}

impl RowRunWriter {
    pub(super) fn create() -> Result<Self, SpillError> {
        Self::create_in(&std::env::temp_dir())
    }

    fn create_in(dir: &Path) -> Result<Self, SpillError> {
        Ok(RowRunWriter {
            file: TempWriter::create_in(dir)?,
            record: Vec::new(),
        })
    }

    /// Appends a row and the values of its sort keys.
    pub(super) fn push(&mut self, keys: &[Value], row: &[Value]) -> Result<(), SpillError> {
        let record = &mut self.record;
        record.clear();
        let mut head = [0u8; 10];
        for n in [row.len(), keys.len()] {
            let len = write_varint(n as u64, &mut head);
            record.extend_from_slice(&head[..len]);
        }
        for value in keys.iter().chain(row) {
            write_value(value, record);
        }
        let len = write_varint(record.len() as u64, &mut head);
        self.file.write(&[&head[..len], record])
    }

    pub(super) fn finish(self) -> Result<RowRun, SpillError> {
        let (file, bytes) = self.file.finish()?;
        Ok(RowRun { file, bytes })
    }
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(NULL),
        Value::Int(n) => {
            out.push(INT);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::Float(x) => {
            out.push(FLOAT);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Value::Time(ms) => {
            out.push(TIME);
            out.extend_from_slice(&ms.to_le_bytes());
        }
        Value::Str(text) => {
            out.push(TEXT);
            let mut head = [0u8; 10];
            let len = write_varint(text.len() as u64, &mut head);
            out.extend_from_slice(&head[..len]);
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// A run's bytes from an offset of its own (`pread`), so that any number of readers, of this
/// answer or of a clone of it, read one file.
struct RunBytes {
    file: Arc<File>,
    offset: u64,
    size: u64,
}

impl Read for RunBytes {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.size.saturating_sub(self.offset);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = read_at(&self.file, &mut buf[..want], self.offset)?;
        if n == 0 {
            // The file ends before the bytes the run was written with.
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Reads a run's rows in order.
struct RowRunReader {
    bytes: BufReader<RunBytes>,
    /// The bytes of the run left to read.
    left: u64,
    /// The record being parsed.
    record: Vec<u8>,
    /// The texts of the row before, by their place in it: a text the row repeats (such as an
    /// interface, in rows sorted by it) is that one again, shared rather than allocated.
    texts: Vec<Option<Arc<str>>>,
}

impl RowRunReader {
    fn open(run: &RowRun) -> Self {
        RowRunReader {
            bytes: BufReader::with_capacity(
                READ_BUFFER,
                RunBytes {
                    file: Arc::clone(&run.file),
                    offset: 0,
                    size: run.bytes,
                },
            ),
            left: run.bytes,
            record: Vec::new(),
            texts: Vec::new(),
        }
    }

    /// Reads the next row: its sort keys' values into `keys` (whose values it replaces), and
    /// its own; `None` after the last.
    fn next_row(&mut self, keys: &mut Vec<Value>) -> io::Result<Option<Vec<Value>>> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut head = [0u8; 10];
        let mut len = 0;
        // The record's length, a byte at a time (at most ten), then the record whole.
        let length = loop {
            self.bytes
                .read_exact(&mut head[len..=len])
                .map_err(|_| damaged())?;
            len += 1;
            let mut at = 0;
            match varint_at(&head[..len], &mut at)? {
                Some(n) => break n,
                None if len < head.len() => continue,
                None => return Err(damaged()),
            }
        };
        // A length past the run's end is damage, not a reason to allocate.
        let length = length
            .checked_add(len as u64)
            .filter(|&n| n <= self.left)
            .ok_or_else(damaged)?;
        self.left -= length;
        self.record.resize((length - len as u64) as usize, 0);
        self.bytes
            .read_exact(&mut self.record)
            .map_err(|_| damaged())?;
        let record = &self.record[..];
        let mut at = 0;
        let mut count = || -> io::Result<usize> {
            let n = varint_at(record, &mut at)?.ok_or_else(damaged)?;
            usize::try_from(n).map_err(|_| damaged())
        };
        let (width, key_count) = (count()?, count()?);
        // Each value takes a byte at least: counts past the record's bytes are damage.
        let total = width
            .checked_add(key_count)
            .filter(|&n| n <= record.len())
            .ok_or_else(damaged)?;
        if self.texts.len() < total {
            self.texts.resize(total, None);
        }
        keys.clear();
        let mut row = Vec::with_capacity(width);
        for (place, last) in self.texts[..total].iter_mut().enumerate() {
            let value = value_at(record, &mut at, last).ok_or_else(damaged)?;
            if place < key_count {
                keys.push(value);
            } else {
                row.push(value);
            }
        }
        if at != record.len() {
            return Err(damaged());
        }
        Ok(Some(row))
    }
}

/// Parses the value at `*at` in `bytes`, moving `*at` past it; `None` if the bytes are not a
/// value. A text equal to `last` (the text at its place in the row before) is that one,
/// shared, and a new text becomes `last`.
fn value_at(bytes: &[u8], at: &mut usize, last: &mut Option<Arc<str>>) -> Option<Value> {
    let tag = *bytes.get(*at)?;
    *at += 1;
    let word = |at: &mut usize| -> Option<[u8; 8]> {
        let raw = bytes.get(*at..*at + 8)?.try_into().ok()?;
        *at += 8;
        Some(raw)
    };
    Some(match tag {
        NULL => Value::Null,
        INT => Value::Int(i64::from_le_bytes(word(at)?)),
        FLOAT => Value::Float(f64::from_bits(u64::from_le_bytes(word(at)?))),
        TIME => Value::Time(i64::from_le_bytes(word(at)?)),
        TEXT => {
            let len = usize::try_from(varint_at(bytes, at).ok()??).ok()?;
            let text = std::str::from_utf8(bytes.get(*at..at.checked_add(len)?)?).ok()?;
            *at += len;
            match last {
                Some(same) if **same == *text => Value::Str(Arc::clone(same)),
                _ => {
                    let text: Arc<str> = text.into();
                    *last = Some(Arc::clone(&text));
                    Value::Str(text)
                }
            }
        }
        _ => return None,
    })
}

/// Runs merged into one sequence of rows in sort order: a binary heap of the runs by their
/// next row's keys (ties to the earlier run).
pub(super) struct RowMerge {
    readers: Vec<RowRunReader>,
    /// Each run's next row (`None` once the run has no more), and its key values.
    rows: Vec<Option<Vec<Value>>>,
    keys: Vec<Vec<Value>>,
    /// Runs with a next row, as a heap: the least first.
    heap: Vec<usize>,
    descending: Vec<bool>,
    /// Key values of the row `Iterator::next` gives, dropped.
    scratch: Vec<Value>,
    failed: bool,
}

impl RowMerge {
    /// Merges `runs`, written in input order, whose rows sort by keys ascending or
    /// `descending`.
    pub(super) fn open(runs: &[RowRun], descending: Vec<bool>) -> Result<Self, SpillError> {
        let mut readers: Vec<RowRunReader> = runs.iter().map(RowRunReader::open).collect();
        let mut keys = vec![Vec::new(); readers.len()];
        let rows = readers
            .iter_mut()
            .zip(&mut keys)
            .map(|(reader, keys)| reader.next_row(keys))
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| SpillError::new("read", e))?;
        let mut merge = RowMerge {
            heap: (0..rows.len()).filter(|&r| rows[r].is_some()).collect(),
            readers,
            rows,
            keys,
            descending,
            scratch: Vec::new(),
            failed: false,
        };
        for i in (0..merge.heap.len() / 2).rev() {
            merge.sift_down(i);
        }
        Ok(merge)
    }

    /// Whether run `a`'s next row comes before run `b`'s (both have one).
    fn before(&self, a: usize, b: usize) -> bool {
        self.keys[a]
            .iter()
            .zip(&self.keys[b])
            .zip(&self.descending)
            .map(|((x, y), &descending)| {
                let order = x.total_cmp(y);
                if descending { order.reverse() } else { order }
            })
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.cmp(&b))
            .is_lt()
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (left, right) = (2 * i + 1, 2 * i + 2);
            let mut least = i;
            if left < n && self.before(self.heap[left], self.heap[least]) {
                least = left;
            }
            if right < n && self.before(self.heap[right], self.heap[least]) {
                least = right;
            }
            if least == i {
                return;
            }
            self.heap.swap(i, least);
            i = least;
        }
    }

    /// The next row, its key values into `keys` (whose values it replaces); `None` after the
    /// last, or after a failure.
    pub(super) fn next_keyed(
        &mut self,
        keys: &mut Vec<Value>,
    ) -> Option<Result<Vec<Value>, SpillError>> {
        if self.failed {
            return None;
        }
        let &run = self.heap.first()?;
        let row = self.rows[run].take()?;
        // The row's keys go out; their vector comes back to hold the run's next keys.
        std::mem::swap(keys, &mut self.keys[run]);
        match self.readers[run].next_row(&mut self.keys[run]) {
            Ok(next) => self.rows[run] = next,
            Err(e) => {
                self.failed = true;
                return Some(Err(SpillError::new("read", e)));
            }
        }
        if self.rows[run].is_none() {
            let last = self.heap.pop().expect("the heap holds this run");
            if !self.heap.is_empty() {
                self.heap[0] = last;
            }
        }
        self.sift_down(0);
        Some(Ok(row))
    }
}

impl Iterator for RowMerge {
    type Item = Result<Vec<Value>, SpillError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut keys = std::mem::take(&mut self.scratch);
        let row = self.next_keyed(&mut keys);
        self.scratch = keys;
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rows: &[(Vec<Value>, Vec<Value>)]) -> RowRun {
        let mut writer = RowRunWriter::create().unwrap();
        for (keys, row) in rows {
            writer.push(keys, row).unwrap();
        }
        writer.finish().unwrap()
    }

    #[test]
    fn values_of_every_kind_come_back_as_written() {
        let row = vec![
            Value::Null,
            Value::Int(-7),
            Value::Int(i64::MAX),
            Value::Float(-0.5),
            Value::Float(f64::INFINITY),
            Value::Time(1_700_000_000_000),
            Value::Str("".into()),
            Value::Str("eni-0a1b \u{e9}\0 x".into()),
        ];
        // The same text twice in a row, and then another, at one place.
        let again = [
            Value::Str("eni-0a1b \u{e9}\0 x".into()),
            Value::Str("eni-2".into()),
        ];
        let written = run(&[
            (vec![Value::Int(1)], row.clone()),
            (vec![], vec![]),
            (vec![Value::Str("k".into())], again[..1].to_vec()),
            (vec![Value::Str("k".into())], again[1..].to_vec()),
        ]);
        let mut reader = RowRunReader::open(&written);
        let mut keys = vec![Value::Int(99)];
        let mut next = || {
            reader
                .next_row(&mut keys)
                .unwrap()
                .map(|row| (keys.clone(), row))
        };
        assert_eq!(next(), Some((vec![Value::Int(1)], row)));
        assert_eq!(next(), Some((vec![], vec![])));
        assert_eq!(
            next(),
            Some((vec![Value::Str("k".into())], again[..1].to_vec()))
        );
        assert_eq!(
            next(),
            Some((vec![Value::Str("k".into())], again[1..].to_vec()))
        );
        assert_eq!(next(), None);
    }

    #[test]
    fn runs_merge_by_their_keys_and_ties_go_to_the_earlier_run() {
        let keyed = |k: i64, tag: &str| (vec![Value::Int(k)], vec![Value::Str(tag.into())]);
        let a = run(&[
            keyed(9, "a9"),
            keyed(5, "a5"),
            keyed(5, "a5'"),
            keyed(1, "a1"),
        ]);
        let b = run(&[keyed(8, "b8"), keyed(5, "b5"), keyed(0, "b0")]);
        let c = run(&[]);
        let merged: Vec<String> = RowMerge::open(&[a, c, b], vec![true])
            .unwrap()
            .map(|row| row.unwrap()[0].to_string())
            .collect();
        assert_eq!(merged, ["a9", "b8", "a5", "a5'", "b5", "a1", "b0"]);
    }

    #[test]
    fn a_damaged_run_is_an_error_not_a_panic() {
        let good = run(&[(vec![Value::Int(1)], vec![Value::Str("text".into())])]);
        // The same file read as if it were shorter: the text is cut.
        let cut = RowRun {
            file: Arc::clone(&good.file),
            bytes: good.bytes - 2,
        };
        let mut merge = RowMerge::open(&[cut], vec![false]);
        let error = match merge.as_mut().map(|m| m.next()) {
            Err(e) => e.to_string(),
            Ok(Some(Err(e))) => e.to_string(),
            Ok(other) => panic!("read a cut run: {other:?}"),
        };
        assert!(error.contains("damaged"), "{error}");
    }

    #[test]
    fn a_run_that_cannot_be_made_names_the_folder() {
        let missing = std::env::temp_dir().join("flowsift-no-such-folder/inner");
        let Err(e) = RowRunWriter::create_in(&missing) else {
            panic!("made a run in a missing folder");
        };
        let message = e.to_string();
        assert!(
            message.contains("cannot create a temporary file"),
            "{message}"
        );
        assert!(
            message.contains(&missing.display().to_string()),
            "{message}"
        );
    }
}

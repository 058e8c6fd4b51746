//! Groups beyond the memory limit, on disk. A thread whose groups outgrow their share of
//! `--memory-limit` writes them, sorted by key, to a temporary file (a run) and starts afresh;
//! the answer is the runs merged a group at a time in key order as its rows are made, so
//! memory holds one group a run however many groups the answer has.
//!
//! A run is a sequence of groups, each the length of its key and of its states (LEB128), the
//! key (its values' `encode_key` bytes, which compare as the values sort, so runs merge by
//! comparing bytes), then its states as `AggState::write` wrote them. Runs are temporary
//! files in the system's temporary folder (`TMPDIR`) that have no name there (they are
//! removed as soon as they are made), so nothing is left behind however the process ends.
//! A run stays open while it is needed; readers of several key ranges read it at their own
//! offsets, so a run is one open file however many ranges are merged at once.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use super::{AggState, Texts, decode_key_after};
use crate::source::Value;

/// Runs merged at once; more are first merged in rounds of this many into longer runs.
const FAN_IN: usize = 32;
/// Bytes buffered writing a run.
const WRITE_BUFFER: usize = 1 << 16;
/// Bytes buffered a run by the reader of one range: a few cores' ranges read up to `FAN_IN`
/// runs each at once, and a range is a small part of a run.
const READ_BUFFER: usize = 1 << 14;
/// A run remembers the key and the place of every this many groups, so that the answer can
/// be merged a range of keys at a time, ranges in parallel.
const INDEX_EVERY: u64 = 1 << 7;
/// Groups (over all runs) in one range of the merge, at most about; fewer with many cores.
const RANGE: u64 = 1 << 14;
/// Rows the merge makes ahead of the writer, about: ranges merged at once times their size.
const ROWS_AHEAD: u64 = 1 << 16;

/// From a key (inclusive; `None`: the first) to a key (exclusive; `None`: past the last).
type KeyRange<'k> = (Option<&'k [u8]>, Option<&'k [u8]>);

/// A temporary file that could not be written or read.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot {action} a temporary file in {dir}: {source} (the groups of an answer larger than \
     --memory-limit are kept there; free some space, point TMPDIR at a folder with room, or \
     raise --memory-limit)"
)]
pub struct SpillError {
    action: &'static str,
    dir: PathBuf,
    #[source]
    source: io::Error,
}

impl SpillError {
    fn new(action: &'static str, source: io::Error) -> Self {
        SpillError {
            action,
            dir: std::env::temp_dir(),
            source,
        }
    }
}

/// Rows are read through `io::Error`s, which keep the kind and the message.
impl From<SpillError> for io::Error {
    fn from(e: SpillError) -> Self {
        io::Error::new(e.source.kind(), e)
    }
}

/// A run on disk; the file goes when the last clone does.
#[derive(Debug, Clone)]
pub(super) struct Run {
    file: Arc<File>,
    /// The key of every `INDEX_EVERY`th group and where the group starts, in key order.
    index: Arc<[(Box<[u8]>, u64)]>,
    bytes: u64,
}

impl Run {
    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Writes one run, a group at a time in key order.
pub(super) struct RunWriter {
    file: BufWriter<File>,
    record: Vec<u8>,
    groups: u64,
    offset: u64,
    index: Vec<(Box<[u8]>, u64)>,
}

impl RunWriter {
    pub(super) fn create() -> Result<Self, SpillError> {
        Self::create_in(&std::env::temp_dir())
    }

    fn create_in(dir: &Path) -> Result<Self, SpillError> {
        let file = tempfile::tempfile_in(dir).map_err(|e| SpillError {
            action: "create",
            dir: dir.to_path_buf(),
            source: e,
        })?;
        Ok(RunWriter {
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            record: Vec::new(),
            groups: 0,
            offset: 0,
            index: Vec::new(),
        })
    }

    /// Appends a group: its key, then its states, whose texts are in `texts`.
    pub(super) fn push(
        &mut self,
        key: &[u8],
        states: &[AggState],
        texts: &Texts,
    ) -> Result<(), SpillError> {
        if self.groups.is_multiple_of(INDEX_EVERY) {
            self.index.push((key.into(), self.offset));
        }
        self.groups += 1;
        let record = &mut self.record;
        record.clear();
        for state in states {
            state.write(texts, record);
        }
        let mut head = [0u8; 20];
        let mut n = write_varint(key.len() as u64, &mut head);
        n += write_varint(record.len() as u64, &mut head[n..]);
        self.offset += (n + key.len() + record.len()) as u64;
        let write = |file: &mut BufWriter<File>| {
            file.write_all(&head[..n])?;
            file.write_all(key)?;
            file.write_all(record)
        };
        write(&mut self.file).map_err(|e| SpillError::new("write", e))
    }

    pub(super) fn finish(self) -> Result<Run, SpillError> {
        let file = self
            .file
            .into_inner()
            .map_err(|e| SpillError::new("write", e.into_error()))?;
        Ok(Run {
            file: Arc::new(file),
            index: self.index.into(),
            bytes: self.offset,
        })
    }
}

/// Writes `n` as LEB128; returns the bytes written (at most 10).
fn write_varint(mut n: u64, out: &mut [u8]) -> usize {
    let mut i = 0;
    while n >= 0x80 {
        out[i] = (n as u8) | 0x80;
        n >>= 7;
        i += 1;
    }
    out[i] = n as u8;
    i + 1
}

/// Reads a LEB128 number; `None` at the end of the input before its first byte.
fn read_varint(input: &mut impl Read) -> io::Result<Option<u64>> {
    let mut n = 0u64;
    let mut byte = [0u8];
    for shift in (0..64).step_by(7) {
        if input.read(&mut byte)? == 0 {
            return if shift == 0 {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        n |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] < 0x80 {
            return Ok(Some(n));
        }
    }
    Err(damaged())
}

fn damaged() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the file is damaged: it does not hold the groups flowsift wrote",
    )
}

/// Reads a file from an offset of its own, whatever other readers of the file do.
struct ReadAt {
    file: Arc<File>,
    offset: u64,
}

impl Read for ReadAt {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.offset)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(&*self.file, buf, self.offset)?;
        #[cfg(not(any(unix, windows)))]
        let n: usize = {
            let _ = buf;
            return Err(io::ErrorKind::Unsupported.into());
        };
        self.offset += n as u64;
        Ok(n)
    }
}

/// Reads a run's groups in a range of keys a group at a time; `key` and `states` hold the
/// current group's bytes.
struct RunReader<'r> {
    file: BufReader<ReadAt>,
    key: Vec<u8>,
    states: Vec<u8>,
    done: bool,
    /// Where the range ends (the first key past it); `None`: at the end of the run.
    end: Option<&'r [u8]>,
}

impl<'r> RunReader<'r> {
    /// A reader of the groups of `run` from key `start` (inclusive; `None`: the first) to key
    /// `end` (exclusive).
    fn open(run: &Run, start: Option<&[u8]>, end: Option<&'r [u8]>) -> Result<Self, SpillError> {
        // From the last indexed group before `start`: the groups between are skipped.
        let from = start.map_or(0, |start| {
            let after = run.index.partition_point(|(key, _)| **key < *start);
            after.checked_sub(1).map_or(0, |i| run.index[i].1)
        });
        let file = ReadAt {
            file: Arc::clone(&run.file),
            offset: from,
        };
        let mut reader = RunReader {
            file: BufReader::with_capacity(READ_BUFFER, file),
            key: Vec::new(),
            states: Vec::new(),
            done: false,
            end,
        };
        reader.advance()?;
        if let Some(start) = start {
            while !reader.done && reader.key.as_slice() < start {
                reader.advance()?;
            }
        }
        Ok(reader)
    }

    fn advance(&mut self) -> Result<(), SpillError> {
        let mut read = || -> io::Result<bool> {
            let Some(key) = read_varint(&mut self.file)? else {
                return Ok(false);
            };
            let states = read_varint(&mut self.file)?.ok_or_else(damaged)?;
            let len = |n: u64| usize::try_from(n).map_err(|_| damaged());
            self.key.resize(len(key)?, 0);
            self.file.read_exact(&mut self.key)?;
            self.states.resize(len(states)?, 0);
            self.file.read_exact(&mut self.states)?;
            Ok(true)
        };
        self.done = !read().map_err(|e| SpillError::new("read", e))?
            || self.end.is_some_and(|end| self.key.as_slice() >= end);
        Ok(())
    }

    /// The current group's states, their texts into `texts`.
    fn read_states(&self, states: &mut Vec<AggState>, texts: &mut Texts) -> Result<(), SpillError> {
        let mut bytes = &self.states[..];
        while !bytes.is_empty() {
            let state = AggState::read(&mut bytes, texts)
                .ok_or_else(|| SpillError::new("read", damaged()))?;
            states.push(state);
        }
        Ok(())
    }
}

/// Runs merged into one sequence of groups in key order; a key in several runs is one group,
/// its states merged (in the order of the runs).
struct Merge<'r> {
    readers: Vec<RunReader<'r>>,
    /// The readers not done, as a binary heap whose top has the least key (the first run of
    /// those with it): a group costs a few comparisons however many runs there are.
    heap: Vec<usize>,
    /// Another run's states of the current key, and their texts.
    theirs: Vec<AggState>,
    their_texts: Texts,
}

impl<'r> Merge<'r> {
    /// The groups of `runs` from key `start` (inclusive) to key `end` (exclusive).
    fn open(runs: &[Run], start: Option<&[u8]>, end: Option<&'r [u8]>) -> Result<Self, SpillError> {
        let readers: Vec<RunReader<'r>> = runs
            .iter()
            .map(|run| RunReader::open(run, start, end))
            .collect::<Result<_, _>>()?;
        let mut merge = Merge {
            heap: (0..readers.len()).filter(|&r| !readers[r].done).collect(),
            readers,
            theirs: Vec::new(),
            their_texts: Texts::default(),
        };
        for i in (0..merge.heap.len() / 2).rev() {
            merge.sift_down(i);
        }
        Ok(merge)
    }

    /// Whether reader `a`'s group comes before reader `b`'s.
    fn before(&self, a: usize, b: usize) -> bool {
        (&self.readers[a].key, a) < (&self.readers[b].key, b)
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (left, right) = (2 * i + 1, 2 * i + 2);
            let mut least = i;
            for child in [left, right] {
                if child < self.heap.len() && self.before(self.heap[child], self.heap[least]) {
                    least = child;
                }
            }
            if least == i {
                return;
            }
            self.heap.swap(i, least);
            i = least;
        }
    }

    /// Moves the top reader to its next group, and the heap's top to the least key again.
    fn advance_top(&mut self) -> Result<(), SpillError> {
        let top = self.heap[0];
        self.readers[top].advance()?;
        if self.readers[top].done {
            self.heap.swap_remove(0);
        }
        self.sift_down(0);
        Ok(())
    }

    /// The next group: its key into `key`, its states into `states` (their texts into
    /// `texts`); `false` after the last.
    fn next(
        &mut self,
        key: &mut Vec<u8>,
        states: &mut Vec<AggState>,
        texts: &mut Texts,
    ) -> Result<bool, SpillError> {
        let Some(&first) = self.heap.first() else {
            return Ok(false);
        };
        key.clear();
        key.extend_from_slice(&self.readers[first].key);
        states.clear();
        *texts = Texts::default();
        self.readers[first].read_states(states, texts)?;
        self.advance_top()?;
        // The same key in later runs comes next, run by run.
        while let Some(&next) = self.heap.first() {
            let reader = &self.readers[next];
            if reader.key != *key {
                break;
            }
            self.theirs.clear();
            self.their_texts = Texts::default();
            reader.read_states(&mut self.theirs, &mut self.their_texts)?;
            if self.theirs.len() != states.len() {
                return Err(SpillError::new("read", damaged()));
            }
            for (mine, theirs) in states.iter_mut().zip(self.theirs.drain(..)) {
                mine.merge(theirs, texts, &self.their_texts);
            }
            self.advance_top()?;
        }
        Ok(true)
    }
}

/// Merges runs in rounds, `FAN_IN` at a time into one, until at most `FAN_IN` are left: the
/// merge that makes rows then reads a bounded number of files at once.
fn reduce(mut runs: Vec<Run>) -> Result<Vec<Run>, SpillError> {
    let (mut key, mut states, mut texts) = (Vec::new(), Vec::new(), Texts::default());
    while runs.len() > FAN_IN {
        let mut merge = Merge::open(&runs[..FAN_IN], None, None)?;
        let mut merged = RunWriter::create()?;
        while merge.next(&mut key, &mut states, &mut texts)? {
            merged.push(&key, &states, &texts)?;
        }
        runs.drain(..FAN_IN);
        runs.push(merged.finish()?);
    }
    Ok(runs)
}

/// The groups of an answer that outgrew memory: at most `FAN_IN` runs, merged as the rows
/// are made.
#[derive(Debug, Clone)]
pub(super) struct SpilledGroups {
    runs: Vec<Run>,
}

impl SpilledGroups {
    pub(super) fn new(runs: Vec<Run>) -> Result<Self, SpillError> {
        Ok(SpilledGroups {
            runs: reduce(runs)?,
        })
    }

    /// Calls `f` with `make` of the rows (key values, then aggregates) in key order, a range
    /// of keys at a time, until `f` returns `false` or the rows end. Ranges are merged (and
    /// made) a few at a time in parallel.
    pub(super) fn for_each_made<T: Send>(
        &self,
        make: &(impl Fn(Vec<Vec<Value>>) -> T + Sync),
        mut f: impl FnMut(T) -> bool,
    ) -> Result<(), SpillError> {
        // A few ranges a core are merged at once, each of about `RANGE` groups, fewer when
        // the cores are many so that the rows made ahead stay about `ROWS_AHEAD`. Every
        // `step`th indexed key starts a range.
        let at_once = 2 * rayon::current_num_threads();
        let range = (ROWS_AHEAD / at_once as u64).clamp(INDEX_EVERY, RANGE);
        let mut keys: Vec<&[u8]> = self
            .runs
            .iter()
            .flat_map(|run| run.index.iter().map(|(key, _)| &**key))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let step = (range / INDEX_EVERY) as usize;
        let mut bounds: Vec<Option<&[u8]>> = vec![None];
        bounds.extend(keys.iter().skip(step).step_by(step).map(|&k| Some(k)));
        bounds.push(None);
        let ranges: Vec<KeyRange<'_>> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        for window in ranges.chunks(at_once) {
            let made: Vec<Result<T, SpillError>> = window
                .par_iter()
                .map(|&(start, end)| self.range_rows(start, end).map(make))
                .collect();
            for rows in made {
                if !f(rows?) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The rows of the groups from key `start` (inclusive) to key `end` (exclusive).
    fn range_rows(
        &self,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> Result<Vec<Vec<Value>>, SpillError> {
        let mut merge = Merge::open(&self.runs, start, end)?;
        let (mut key, mut states, mut texts) = (Vec::new(), Vec::new(), Texts::default());
        let mut prev_key = Vec::new();
        let mut rows: Vec<Vec<Value>> = Vec::new();
        while merge.next(&mut key, &mut states, &mut texts)? {
            let (prev, width) = rows.last().map_or((&[][..], 0), |r| (&r[..], r.len()));
            let mut row = decode_key_after(&key, &prev_key, prev, width);
            row.extend(states.iter().map(|state| state.finish(&texts)));
            rows.push(row);
            std::mem::swap(&mut prev_key, &mut key);
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// LEB128 numbers read back as written, one after another.
        #[test]
        fn varints_round_trip(numbers in proptest::collection::vec(any::<u64>(), 0..20)) {
            let mut bytes = Vec::new();
            for &n in &numbers {
                let mut buf = [0u8; 10];
                let len = write_varint(n, &mut buf);
                bytes.extend_from_slice(&buf[..len]);
            }
            let mut input = &bytes[..];
            let mut read = Vec::new();
            while let Some(n) = read_varint(&mut input).unwrap() {
                read.push(n);
            }
            prop_assert_eq!(read, numbers);
        }
    }

    /// A run has no name in the temporary folder from the start, so nothing is left there
    /// however the process ends; merged with itself, read in several ranges at once through
    /// the one open file, every group comes once with its states merged, in key order.
    #[test]
    fn runs_leave_no_files_and_merge_in_ranges() {
        use super::super::encode_key;
        use crate::source::local::value::Scalar;
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RunWriter::create_in(dir.path()).unwrap();
        let groups = 50_000i64;
        let mut key = Vec::new();
        for i in 0..groups {
            key.clear();
            encode_key(&Scalar::Int(i - 100), &mut key);
            encode_key(&Scalar::Str(&format!("k{i}")), &mut key);
            writer
                .push(&key, &[AggState::Count(i as u64)], &Texts::default())
                .unwrap();
        }
        let run = writer.finish().unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let spilled = SpilledGroups::new(vec![run.clone(), run]).unwrap();
        let mut rows = Vec::new();
        let mut chunks = 0;
        spilled
            .for_each_made(&|chunk| chunk, |chunk| {
                chunks += 1;
                rows.extend(chunk);
                true
            })
            .unwrap();
        assert!(chunks > 2, "{chunks} ranges");
        let expected: Vec<Vec<Value>> = (0..groups)
            .map(|i| {
                vec![
                    Value::Int(i - 100),
                    Value::Str(format!("k{i}").into()),
                    Value::Int(2 * i),
                ]
            })
            .collect();
        assert_eq!(rows, expected);
    }

    /// A run cut short is reported as damaged or cut, not read as fewer groups.
    #[test]
    fn a_truncated_varint_is_an_error() {
        let mut input: &[u8] = &[0x80];
        assert!(read_varint(&mut input).is_err());
    }
}

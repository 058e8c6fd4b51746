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
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use super::{AggState, Texts, common_prefix, decode_key_after};
use crate::source::RowBlock;

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
    "cannot {action} a temporary file in {dir}: {source} (the groups and sorted rows of an answer larger than \
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
    pub(super) fn new(action: &'static str, source: io::Error) -> Self {
        Self::in_dir(action, &std::env::temp_dir(), source)
    }

    pub(super) fn in_dir(action: &'static str, dir: &Path, source: io::Error) -> Self {
        SpillError {
            action,
            dir: dir.to_path_buf(),
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

/// A temporary file written through a buffer, with the bytes written so far: what the runs
/// of groups and of sorted rows are written with.
pub(super) struct TempWriter {
    file: BufWriter<File>,
    bytes: u64,
}

impl TempWriter {
    /// A new temporary file, with no name, in `dir`.
    pub(super) fn create_in(dir: &Path) -> Result<Self, SpillError> {
        let file = tempfile::tempfile_in(dir).map_err(|e| SpillError::in_dir("create", dir, e))?;
        Ok(TempWriter {
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            bytes: 0,
        })
    }

    /// Appends `parts`, one after another.
    pub(super) fn write(&mut self, parts: &[&[u8]]) -> Result<(), SpillError> {
        for part in parts {
            self.file
                .write_all(part)
                .map_err(|e| SpillError::new("write", e))?;
            self.bytes += part.len() as u64;
        }
        Ok(())
    }

    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The file, every byte written, and how many there are.
    pub(super) fn finish(self) -> Result<(Arc<File>, u64), SpillError> {
        let file = self
            .file
            .into_inner()
            .map_err(|e| SpillError::new("write", e.into_error()))?;
        Ok((Arc::new(file), self.bytes))
    }
}

/// Writes one run, a group at a time in key order.
pub(super) struct RunWriter {
    file: TempWriter,
    record: Vec<u8>,
    groups: u64,
    index: Vec<(Box<[u8]>, u64)>,
}

impl RunWriter {
    pub(super) fn create() -> Result<Self, SpillError> {
        Self::create_in(&std::env::temp_dir())
    }

    fn create_in(dir: &Path) -> Result<Self, SpillError> {
        Ok(RunWriter {
            file: TempWriter::create_in(dir)?,
            record: Vec::new(),
            groups: 0,
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
            self.index.push((key.into(), self.file.bytes()));
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
        self.file.write(&[&head[..n], key, record])
    }

    pub(super) fn finish(self) -> Result<Run, SpillError> {
        let (file, bytes) = self.file.finish()?;
        Ok(Run {
            file,
            index: self.index.into(),
            bytes,
        })
    }
}

/// Writes `n` as LEB128; returns the bytes written (at most 10).
pub(super) fn write_varint(mut n: u64, out: &mut [u8]) -> usize {
    let mut i = 0;
    while n >= 0x80 {
        out[i] = (n as u8) | 0x80;
        n >>= 7;
        i += 1;
    }
    out[i] = n as u8;
    i + 1
}

/// Reads a LEB128 number from the front of `bytes` at `*at`, moving `*at` past it; `None`
/// when the bytes end before it does.
pub(super) fn varint_at(bytes: &[u8], at: &mut usize) -> io::Result<Option<u64>> {
    let mut n = 0u64;
    for (i, shift) in (0..64).step_by(7).enumerate() {
        let Some(&byte) = bytes.get(*at + i) else {
            return Ok(None);
        };
        n |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            *at += i + 1;
            return Ok(Some(n));
        }
    }
    Err(damaged())
}

pub(super) fn damaged() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the file is damaged: it does not hold what flowsift wrote",
    )
}

/// Reads `file` at `offset` into `buf`, whatever other readers of the file do.
pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    return std::os::unix::fs::FileExt::read_at(file, buf, offset);
    #[cfg(windows)]
    return std::os::windows::fs::FileExt::seek_read(file, buf, offset);
    #[cfg(not(any(unix, windows)))]
    {
        let _ = (file, buf, offset);
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Reads a run's groups in a range of keys a group at a time, through a buffer of its own at
/// its own offset in the file: the current group's key and states are parsed where they were
/// read, in the buffer (only the unparsed tail moves to its front before the next read).
struct RunReader<'r> {
    file: Arc<File>,
    /// The bytes the run was written with: a length past them, or a file that ends before
    /// them, is damage.
    size: u64,
    /// Where the next read from the file starts.
    offset: u64,
    /// Bytes read from the file; those from `at` are not parsed yet.
    buf: Vec<u8>,
    at: usize,
    /// The file has no bytes past `buf`.
    eof: bool,
    /// The current group's key and states in `buf`.
    key: Range<usize>,
    states: Range<usize>,
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
        let mut reader = RunReader {
            file: Arc::clone(&run.file),
            size: run.bytes,
            offset: from,
            buf: Vec::new(),
            at: 0,
            eof: false,
            key: 0..0,
            states: 0..0,
            done: false,
            end,
        };
        reader.advance()?;
        if let Some(start) = start {
            while !reader.done && reader.key() < start {
                reader.advance()?;
            }
        }
        Ok(reader)
    }

    /// The current group's key.
    fn key(&self) -> &[u8] {
        &self.buf[self.key.clone()]
    }

    fn advance(&mut self) -> Result<(), SpillError> {
        let read = self.next_group().map_err(|e| SpillError::new("read", e))?;
        self.done = !read || self.end.is_some_and(|end| self.key() >= end);
        Ok(())
    }

    /// Parses the next group, reading more of the file when the buffer ends within it;
    /// `false` at the end of the run.
    fn next_group(&mut self) -> io::Result<bool> {
        loop {
            let rest = &self.buf[self.at..];
            let mut head = 0;
            let lengths = match varint_at(rest, &mut head)? {
                Some(key) => varint_at(rest, &mut head)?.map(|states| (key, states)),
                None => None,
            };
            // The bytes the group needs in the buffer; at least one more when its lengths
            // are cut.
            let need = match lengths {
                Some((key, states)) => {
                    let len = |n: u64| usize::try_from(n).map_err(|_| damaged());
                    let (key, states) = (len(key)?, len(states)?);
                    let need = head
                        .checked_add(key)
                        .and_then(|n| n.checked_add(states))
                        .ok_or_else(damaged)?;
                    // The run's bytes from this group's start.
                    let left = self.size.saturating_sub(self.offset - rest.len() as u64);
                    if need as u64 > left {
                        return Err(damaged());
                    }
                    if need <= rest.len() {
                        let start = self.at + head;
                        self.key = start..start + key;
                        self.states = start + key..start + key + states;
                        self.at += need;
                        return Ok(true);
                    }
                    need
                }
                None => rest.len() + 1,
            };
            if self.eof {
                return if rest.is_empty() && self.offset >= self.size {
                    Ok(false)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
            self.fill(need)?;
        }
    }

    /// Moves the bytes not parsed yet to the front of the buffer, and reads after them until
    /// it holds `need` bytes, or more up to `READ_BUFFER`, or the file ends.
    fn fill(&mut self, need: usize) -> io::Result<()> {
        self.buf.drain(..self.at);
        self.at = 0;
        let mut filled = self.buf.len();
        self.buf.resize(need.max(READ_BUFFER).max(filled), 0);
        while filled < need {
            let n = match read_at(&self.file, &mut self.buf[filled..], self.offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                read => read?,
            };
            if n == 0 {
                self.eof = true;
                break;
            }
            filled += n;
            self.offset += n as u64;
        }
        self.buf.truncate(filled);
        Ok(())
    }

    /// The current group's states, their texts into `texts`.
    fn read_states(&self, states: &mut Vec<AggState>, texts: &mut Texts) -> Result<(), SpillError> {
        let mut bytes = &self.buf[self.states.clone()];
        while !bytes.is_empty() {
            let state = AggState::read(&mut bytes, texts)
                .ok_or_else(|| SpillError::new("read", damaged()))?;
            states.push(state);
        }
        Ok(())
    }
}

/// How two keys compare: by the first byte after the prefix they share, found eight bytes at
/// a time (keys of one answer share long prefixes, such as an interface, and are a few dozen
/// bytes: a call to `memcmp` costs more than the loop). A key that ends there comes first.
fn compare_keys(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let n = common_prefix(a, b);
    a.get(n).cmp(&b.get(n))
}

/// Runs merged into one sequence of groups in key order; a key in several runs is one group,
/// its states merged (in the order of the runs).
///
/// The readers play a tournament (a tree of losers, Knuth's TAOCP vol. 3, 5.4.1): each inner
/// node keeps the reader that lost the match there, the root's winner has the least key (the
/// first run of those with it), and a reader that moves on replays only the matches on its
/// way to the root: a group costs one comparison a level, half what a binary heap's sift
/// takes.
struct Merge<'r> {
    readers: Vec<RunReader<'r>>,
    /// `tree[0]`: the winner; `tree[n]` for `n` in `1..readers.len()`: the loser of the match
    /// at node `n`, whose children are nodes `2n` and `2n + 1`; node `readers.len() + r` is
    /// reader `r`.
    tree: Vec<usize>,
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
            tree: vec![0; readers.len()],
            readers,
            theirs: Vec::new(),
            their_texts: Texts::default(),
        };
        if !merge.readers.is_empty() {
            merge.tree[0] = merge.play(1);
        }
        Ok(merge)
    }

    /// Plays the matches below node `node`, keeping their losers; returns the winner.
    fn play(&mut self, node: usize) -> usize {
        let k = self.readers.len();
        if node >= k {
            return node - k;
        }
        let (a, b) = (self.play(2 * node), self.play(2 * node + 1));
        let (winner, loser) = if self.before(a, b) { (a, b) } else { (b, a) };
        self.tree[node] = loser;
        winner
    }

    /// Whether reader `a`'s group comes before reader `b`'s: by key, then by run; readers
    /// that are done come after all others.
    fn before(&self, a: usize, b: usize) -> bool {
        let (ra, rb) = (&self.readers[a], &self.readers[b]);
        match (ra.done, rb.done) {
            (false, false) => compare_keys(ra.key(), rb.key()).then(a.cmp(&b)).is_lt(),
            (false, true) => true,
            (true, false) => false,
            (true, true) => a < b,
        }
    }

    /// Moves the winner to its next group, and replays its matches to find the next winner.
    fn advance_top(&mut self) -> Result<(), SpillError> {
        let k = self.readers.len();
        let mut winner = self.tree[0];
        self.readers[winner].advance()?;
        let mut node = (winner + k) / 2;
        while node >= 1 {
            if self.before(self.tree[node], winner) {
                std::mem::swap(&mut self.tree[node], &mut winner);
            }
            node /= 2;
        }
        self.tree[0] = winner;
        Ok(())
    }

    /// The reader with the least key, if any has a group left.
    fn top(&self) -> Option<usize> {
        let &top = self.tree.first()?;
        (!self.readers[top].done).then_some(top)
    }

    /// The next group: its key into `key`, its states into `states` (their texts into
    /// `texts`); `false` after the last.
    fn next(
        &mut self,
        key: &mut Vec<u8>,
        states: &mut Vec<AggState>,
        texts: &mut Texts,
    ) -> Result<bool, SpillError> {
        let Some(first) = self.top() else {
            return Ok(false);
        };
        key.clear();
        key.extend_from_slice(self.readers[first].key());
        states.clear();
        *texts = Texts::default();
        self.readers[first].read_states(states, texts)?;
        self.advance_top()?;
        // The same key in later runs comes next, run by run.
        while let Some(next) = self.top() {
            let reader = &self.readers[next];
            if reader.key() != key.as_slice() {
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
        make: &(impl Fn(RowBlock) -> T + Sync),
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
    fn range_rows(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<RowBlock, SpillError> {
        let mut merge = Merge::open(&self.runs, start, end)?;
        let (mut key, mut states, mut texts) = (Vec::new(), Vec::new(), Texts::default());
        let mut prev_key = Vec::new();
        let mut rows = RowBlock::default();
        // Where the row before starts.
        let mut prev = 0;
        while merge.next(&mut key, &mut states, &mut texts)? {
            let start = rows.end();
            let values = rows.values_mut();
            decode_key_after(&key, &prev_key, values, prev);
            values.extend(states.iter().map(|state| state.finish(&texts)));
            // A key or states cut short would shift every row after it.
            if rows.width() > 0 && rows.values_mut().len() != start + rows.width() {
                return Err(SpillError::new("read", damaged()));
            }
            rows.end_row();
            prev = start;
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
            let mut at = 0;
            let mut read = Vec::new();
            while let Some(n) = varint_at(&bytes, &mut at).unwrap() {
                read.push(n);
            }
            prop_assert_eq!(at, bytes.len());
            prop_assert_eq!(&read, &numbers);
            // Cut within its last number, the bytes hold one number fewer.
            if let Some(cut) = bytes.len().checked_sub(1) {
                let (mut at, mut read) = (0, 0);
                while varint_at(&bytes[..cut], &mut at).unwrap().is_some() {
                    read += 1;
                }
                prop_assert_eq!(read, numbers.len() - 1);
            }
        }

        /// Runs merged, whole or a range at a time, give each key once, in order, its counts
        /// summed: keys of any length and bytes, shared by any of the runs, runs empty or
        /// longer than a reader's buffer.
        #[test]
        fn runs_merge_as_a_map_would(
            runs in proptest::collection::vec(
                proptest::collection::vec(
                    (proptest::collection::vec(0u8..4, 0..24), 1u64..1000), 0..60),
                0..7),
            long in proptest::option::of(0usize..60),
            split in proptest::collection::vec(0u8..4, 0..6),
        ) {
            let mut model = std::collections::BTreeMap::<Vec<u8>, u64>::new();
            let mut written = Vec::new();
            for (r, run) in runs.into_iter().enumerate() {
                let mut run: std::collections::BTreeMap<Vec<u8>, u64> = run.into_iter().collect();
                if let (Some(i), 0) = (long, r) {
                    // A group longer than the buffer a reader starts with.
                    run.insert(vec![i as u8 % 4; READ_BUFFER + 100 + i], 7);
                }
                let mut writer = RunWriter::create().unwrap();
                for (key, &n) in &run {
                    *model.entry(key.clone()).or_default() += n;
                    writer.push(key, &[AggState::Count(n)], &Texts::default()).unwrap();
                }
                written.push(writer.finish().unwrap());
            }
            let merged = |start: Option<&[u8]>, end: Option<&[u8]>| {
                let mut merge = Merge::open(&written, start, end).unwrap();
                let (mut key, mut states, mut texts) = (Vec::new(), Vec::new(), Texts::default());
                let mut out = Vec::new();
                while merge.next(&mut key, &mut states, &mut texts).unwrap() {
                    let [AggState::Count(n)] = states[..] else { panic!("{states:?}") };
                    out.push((key.clone(), n));
                }
                out
            };
            let expected: Vec<(Vec<u8>, u64)> = model.into_iter().collect();
            prop_assert_eq!(&merged(None, None), &expected);
            let mut halves = merged(None, Some(&split));
            halves.extend(merged(Some(&split), None));
            prop_assert_eq!(&halves, &expected);
        }

        /// Keys compare as byte strings do.
        #[test]
        fn keys_compare_as_bytes(
            a in proptest::collection::vec(0u8..3, 0..30),
            b in proptest::collection::vec(0u8..3, 0..30),
        ) {
            prop_assert_eq!(compare_keys(&a, &b), a.cmp(&b));
            prop_assert_eq!(compare_keys(&a, &a), std::cmp::Ordering::Equal);
        }
    }

    /// A run has no name in the temporary folder from the start, so nothing is left there
    /// however the process ends; merged with itself, read in several ranges at once through
    /// the one open file, every group comes once with its states merged, in key order.
    #[test]
    fn runs_leave_no_files_and_merge_in_ranges() {
        use super::super::encode_key;
        use crate::source::Value;
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
                rows.extend(chunk.rows().map(<[Value]>::to_vec));
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

    /// A run cut short, within a group or between two, is reported as damaged or cut, not
    /// read as fewer groups; so is a length longer than any number or than the run.
    #[test]
    fn a_run_cut_within_a_group_is_an_error() {
        let mut writer = RunWriter::create().unwrap();
        let mut ends = Vec::new();
        for i in 0..3u64 {
            writer
                .push(&[i as u8; 300], &[AggState::Count(i)], &Texts::default())
                .unwrap();
            ends.push(writer.file.bytes());
        }
        let run = writer.finish().unwrap();
        let read_all = |run: &Run| -> Result<usize, SpillError> {
            let mut reader = RunReader::open(run, None, None)?;
            let mut groups = 0;
            while !reader.done {
                groups += 1;
                reader.advance()?;
            }
            Ok(groups)
        };
        assert_eq!(read_all(&run).unwrap(), 3);
        assert_eq!(ends.last(), Some(&run.bytes));
        for cut in (0..run.bytes).rev() {
            run.file.set_len(cut).unwrap();
            assert!(read_all(&run).is_err(), "cut at {cut}");
        }
        // A key length of 2^62 in a run of a few bytes: damage, not an allocation.
        #[cfg(unix)]
        {
            let mut writer = RunWriter::create().unwrap();
            writer
                .push(b"k", &[AggState::Count(1)], &Texts::default())
                .unwrap();
            let run = writer.finish().unwrap();
            let mut head = [0u8; 20];
            let n = write_varint(1 << 62, &mut head);
            std::os::unix::fs::FileExt::write_all_at(&*run.file, &head[..n], 0).unwrap();
            let error = read_all(&run).expect_err("damaged");
            assert!(error.to_string().contains("damaged"), "{error}");
        }
        let mut at = 0;
        assert!(varint_at(&[0x80; 11], &mut at).is_err());
    }
}

//! The groups of one `stats` command.
//!
//! A group key is a few `u32` codes held inline, so finding a record's group hashes and compares
//! 16 bytes and follows no pointer. Each key part codes its value: a non-negative integer below
//! 2^31 (a port, a protocol, a count) stands for itself; any other value (text, null, a time, a
//! large number) is looked up in the part's dictionary (text by its text, anything else by its
//! order-preserving encoding), which stays small for the columns people group by (interfaces,
//! addresses, actions). A `by` list of more than four expressions shares the last part: their
//! encodings, concatenated, are one dictionary value.
//!
//! Each thread folds into its own `Groups`, spread over shards by a hash of the key values; a
//! shard is an open-addressing table of keys and group numbers beside the groups' states.
//! With millions of groups, finding a group and updating its states are reads from anywhere
//! in memory, so records fold into small tables that stay in the cache, whose groups move to
//! the shards' tables a thousand at a time with their reads prefetched (see [`Groups`]).
//! Merging translates the other thread's dictionary codes, then merges shard by shard in
//! parallel. Output order is the order of the values, as
//! `encode_key` defines it.
//!
//! Groups given a memory limit write themselves to a sorted run on disk when they outgrow it,
//! and start afresh; the answer is then the runs merged (see `spill`).

use std::collections::VecDeque;
use std::ops::Range;

use rayon::prelude::*;

use super::spill::{Run, RunWriter, SpillError, SpilledGroups};
use super::{
    AggFunc, AggState, CompiledStats, RecordContext, Texts, decode_key, encode_key, le_word,
};
use crate::source::local::value::Scalar;
use crate::source::{RowBlock, Value, handed_over, prefetch};

/// Key parts held inline.
const PARTS: usize = 4;
/// Codes below this stand for themselves (non-negative integers); from it up, they index the
/// part's dictionary.
const DIRECT: u32 = 1 << 31;

type Key = [u32; PARTS];

/// The key columns part `p` of `keys` columns codes.
fn part_columns(keys: usize, p: usize) -> Range<usize> {
    if keys > PARTS && p == PARTS - 1 {
        p..keys
    } else {
        p..p + 1
    }
}

/// Values that do not stand for themselves, by their `encode_key` bytes.
#[derive(Debug, Default)]
struct Dictionary {
    /// Other values (and several key values that share a part), by their encoding.
    codes: BytesTable,
    /// Single text values, by their text: looked up without encoding them.
    texts: BytesTable,
    /// The values' encodings, one after another: a value costs no allocation of its own
    /// (a column of addresses has hundreds of thousands, made again after every run).
    entry_bytes: Vec<u8>,
    /// Where each value's encoding ends in `entry_bytes`, in code order.
    entry_ends: Vec<usize>,
}

/// A code, and a hash of its value that is the same in every thread's dictionary (unlike the
/// code).
type Coded = (u32, u64);

impl Dictionary {
    /// Codes a value that is not a single text by its encoding.
    fn intern(&mut self, encoded: &[u8]) -> Coded {
        let hash = bytes_hash(encoded);
        if let Some(coded) = self.codes.get(encoded, hash) {
            return coded;
        }
        let code = self.add(encoded);
        self.codes.insert(encoded, hash, code);
        (code, hash)
    }

    fn add(&mut self, encoded: &[u8]) -> u32 {
        // 2^31 distinct values of one column would take far more memory than any machine
        // this runs on has, so the count always fits.
        let code = DIRECT
            + u32::try_from(self.len())
                .ok()
                .filter(|&n| n < DIRECT)
                .expect("fewer than 2^31 distinct values in one group-by column");
        self.entry_bytes.extend_from_slice(encoded);
        self.entry_ends.push(self.entry_bytes.len());
        code
    }

    /// The number of values.
    fn len(&self) -> usize {
        self.entry_ends.len()
    }

    /// The encoding of value `i` (of code `DIRECT + i`).
    fn entry(&self, i: usize) -> &[u8] {
        let start = i.checked_sub(1).map_or(0, |before| self.entry_ends[before]);
        &self.entry_bytes[start..self.entry_ends[i]]
    }

    /// Heap bytes held, roughly.
    fn memory(&self) -> usize {
        self.codes.memory()
            + self.texts.memory()
            + self.entry_bytes.capacity()
            + self.entry_ends.capacity() * size_of::<usize>()
    }

    /// How `other`'s codes read in this dictionary (indexed by their code - `DIRECT`).
    fn translate(&mut self, other: &Dictionary, scratch: &mut Vec<u8>) -> Vec<u32> {
        let mut map = vec![0; other.len()];
        for (text, (code, _)) in other.texts.iter() {
            // Texts went in as `str`s.
            let text = std::str::from_utf8(text).expect("dictionary texts are UTF-8");
            map[(code - DIRECT) as usize] = self.text(text, scratch).0;
        }
        for (encoded, (code, _)) in other.codes.iter() {
            map[(code - DIRECT) as usize] = self.intern(encoded).0;
        }
        map
    }

    fn text(&mut self, text: &str, scratch: &mut Vec<u8>) -> Coded {
        let hash = bytes_hash(text.as_bytes());
        if let Some(coded) = self.texts.get(text.as_bytes(), hash) {
            return coded;
        }
        scratch.clear();
        encode_key(&Scalar::Str(text), scratch);
        let code = self.add(scratch);
        self.texts.insert(text.as_bytes(), hash, code);
        (code, hash)
    }

    fn code(&mut self, value: &Scalar<'_>, scratch: &mut Vec<u8>) -> Coded {
        match *value {
            // `encode_key` writes booleans as the integers 0 and 1; so do codes.
            Scalar::Int(n) if (0..i64::from(DIRECT)).contains(&n) => (n as u32, n as u64),
            Scalar::Bool(b) => (u32::from(b), u64::from(b)),
            Scalar::Str(text) => self.text(text, scratch),
            Scalar::Owned(ref text) => self.text(text, scratch),
            _ => {
                scratch.clear();
                encode_key(value, scratch);
                self.intern(scratch)
            }
        }
    }
}

/// Byte strings and their codes: open addressing over one buffer of all the strings. A slot
/// keeps its string's hash, so a probe compares bytes only when the hashes agree, and then
/// a word at a time: dictionaries are looked up for every record, mostly with short texts
/// (addresses, interface ids).
#[derive(Debug, Default)]
struct BytesTable {
    /// Linear probing; a power of two long, at most 3/4 full (empty before the first string).
    slots: Vec<BytesSlot>,
    len: usize,
    bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, Default)]
struct BytesSlot {
    /// `bytes_hash` of the string; also the value hash of its code (see `Coded`).
    hash: u64,
    /// Where the string starts in `bytes`: a dictionary may hold more than 4 GiB of values
    /// (`by @message` over a large input), so the offset is 64 bits.
    start: u64,
    len: u32,
    /// The code; 0 (never a dictionary code) when the slot is empty.
    code: u32,
}

impl BytesTable {
    fn get(&self, key: &[u8], hash: u64) -> Option<Coded> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = &self.slots[i];
            if slot.code == 0 {
                return None;
            }
            if slot.hash == hash
                && slot.len as usize == key.len()
                && same_bytes(&self.bytes[slot.start as usize..][..key.len()], key)
            {
                return Some((slot.code, slot.hash));
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `key`, which is not in the table, with its `bytes_hash`.
    fn insert(&mut self, key: &[u8], hash: u64, code: u32) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            let size = (self.slots.len() * 2).max(16);
            let old = std::mem::replace(&mut self.slots, vec![BytesSlot::default(); size]);
            for slot in old.into_iter().filter(|s| s.code != 0) {
                self.place(slot);
            }
        }
        let slot = BytesSlot {
            hash,
            start: self.bytes.len() as u64,
            // One value is part of one line, which is read into memory whole.
            len: u32::try_from(key.len()).expect("a key value under 4 GiB"),
            code,
        };
        self.bytes.extend_from_slice(key);
        self.place(slot);
        self.len += 1;
    }

    fn memory(&self) -> usize {
        self.slots.capacity() * size_of::<BytesSlot>() + self.bytes.capacity()
    }

    fn place(&mut self, slot: BytesSlot) {
        let mask = self.slots.len() - 1;
        let mut i = slot.hash as usize & mask;
        while self.slots[i].code != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], Coded)> + '_ {
        self.slots.iter().filter(|s| s.code != 0).map(|s| {
            (
                &self.bytes[s.start as usize..][..s.len as usize],
                (s.code, s.hash),
            )
        })
    }
}

/// Words that together hold every byte of `bytes`, and which words they are depends on the
/// length alone, so two strings of one length are equal when their words are: 8-byte words
/// from the start, the last one ending at the end (overlapping the one before); a string under
/// 8 bytes is one word, of two overlapping halves or of its bytes (as wyhash reads them).
fn words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let n = bytes.len();
    let word = move |at: usize| le_word(bytes, at);
    let half = |at: usize| {
        u64::from(u32::from_le_bytes(
            bytes[at..at + 4].try_into().expect("4 bytes"),
        ))
    };
    let short = match n {
        0 => None,
        1..4 => {
            Some(u64::from(bytes[0]) << 16 | u64::from(bytes[n / 2]) << 8 | u64::from(bytes[n - 1]))
        }
        4..8 => Some(half(0) << 32 | half(n - 4)),
        _ => None,
    };
    let long = if n >= 8 { n / 8 } else { 0 };
    let last = (n >= 8 && !n.is_multiple_of(8)).then(|| word(n - 8));
    short
        .into_iter()
        .chain((0..long).map(move |i| word(i * 8)))
        .chain(last)
}

/// A hash of a byte string for `BytesTable`, the same in every thread: a word at a time, each
/// folded in by a multiplication whose high and low halves are combined (as in foldhash).
fn bytes_hash(bytes: &[u8]) -> u64 {
    words(bytes).fold(
        (bytes.len() as u64) ^ 0x243f_6a88_85a3_08d3,
        |hash, word| folded_multiply(hash ^ word, 0x1319_8a2e_0370_7344),
    )
}

/// The high and low halves of a 128-bit product, combined (foldhash's mixing step): every
/// bit of the result depends on every bit of both factors.
fn folded_multiply(x: u64, k: u64) -> u64 {
    let product = u128::from(x) * u128::from(k);
    (product as u64) ^ (product >> 64) as u64
}

/// Whether two byte strings are equal, a word at a time: the words of `words`, compared in
/// a plain loop (the iterator chain does not inline into one). For the short strings of a
/// record's fields this costs less than a call to `memcmp`.
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return words(a).next() == words(b).next();
    }
    (0..n / 8).all(|i| le_word(a, i * 8) == le_word(b, i * 8))
        && le_word(a, n - 8) == le_word(b, n - 8)
}

/// A dictionary's codes in value order. Direct integers sit between the entries that sort
/// before the integer 0 (nulls, negative numbers) and those after (everything else), since
/// every integer in between is direct; so ranks fit in a `u32` and map back to codes.
#[derive(Debug, Clone)]
struct Ranking {
    /// Entries (as indexes) in value order.
    order: Vec<u32>,
    /// Each entry's place in `order`.
    position: Vec<u32>,
    below_zero: u32,
}

impl Ranking {
    fn new(dictionary: &Dictionary) -> Self {
        let entry = |e: u32| dictionary.entry(e as usize);
        let mut order: Vec<u32> = (0..dictionary.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| entry(a).cmp(entry(b)));
        let mut position = vec![0u32; order.len()];
        for (pos, &e) in order.iter().enumerate() {
            position[e as usize] = pos as u32;
        }
        let mut zero = Vec::new();
        encode_key(&Scalar::Int(0), &mut zero);
        let below_zero = order.partition_point(|&e| entry(e) < &zero[..]) as u32;
        Ranking {
            order,
            position,
            below_zero,
        }
    }

    fn rank(&self, code: u32) -> u32 {
        if code < DIRECT {
            self.below_zero + code
        } else {
            let pos = self.position[(code - DIRECT) as usize];
            if pos < self.below_zero {
                pos
            } else {
                DIRECT + pos
            }
        }
    }

    fn code(&self, rank: u32) -> u32 {
        if rank < self.below_zero {
            DIRECT + self.order[rank as usize]
        } else if rank - self.below_zero < DIRECT {
            rank - self.below_zero
        } else {
            DIRECT + self.order[(rank - DIRECT) as usize]
        }
    }
}

/// Groups are spread over shards by a hash of their key values, so that merging two threads'
/// groups is one independent merge a shard, in parallel.
const SHARDS: usize = 16;

/// Groups of one `stats` command: each group's key indexes its aggregation states in one flat
/// array of its shard (`width` states a group).
///
/// With millions of groups, finding a record's group and then its states are two reads from
/// memory that is not in any cache, each costing more than the rest of the record's work. So
/// a record folds into its shard's front table, a table like the shard's own of at most
/// `FRONT` groups, which stays in the cache. A full front table moves its groups to the
/// shard: new ones take their states along, the others merge them; the moves are in a row, so
/// the slot of a group several moves ahead and the states of one a few ahead are prefetched,
/// and the reads overlap instead of waiting one after another. A group met again while it is
/// in the front table costs no read from memory at all (flow records of a connection come
/// close together), and the groups of a query of few groups stay in their front tables until
/// the thread has read its part of the input.
/// [`Groups::settle`] moves every front table's groups; everything that reads the groups
/// settles them first.
#[derive(Debug, Default)]
pub struct Groups {
    shards: Vec<Shard>,
    dictionaries: Vec<Dictionary>,
    funcs: Vec<AggFunc>,
    /// Front tables, one a shard: the groups of the records folded last (see [`Groups`]).
    front: Vec<Shard>,
    /// Scratch for moving a front table's groups to its shard.
    moving: Vec<(Key, u64, usize)>,
    /// The heap bytes of a new group's states.
    new_heap: usize,
    /// Scratch for `count_distinct`'s encodings.
    scratch: Vec<u8>,
    /// Heap bytes the states hold beyond their 16 each (averages, distinct values), roughly.
    heap: usize,
    /// Bytes of memory past which the groups go to a run on disk; 0: no limit.
    limit: usize,
    /// Bytes of the limit that the thread holds for other things (see `reserve`).
    reserved: usize,
    /// Records folded since memory was last checked.
    unchecked: u32,
    /// Groups written to disk, each run sorted by key.
    runs: Vec<Run>,
    /// The bytes of the runs written (not counting their merges).
    spilled_bytes: u64,
    /// The first run that could not be written; reported by `settle_or_error`.
    error: Option<SpillError>,
}

/// Groups a front table holds before they move to its shard: the `SHARDS` front tables of this
/// many take about 1 MiB (with two aggregates), which stays in the 2 MiB cache of a core.
const FRONT: usize = 1 << 10;
/// Records folded between two checks of memory against the limit.
const CHECK_EVERY: u32 = 1 << 10;
/// Groups made into rows by one task.
const RUN: usize = 1 << 10;
/// Groups read in key order prefetch the states of the one this far ahead.
const PREFETCH_AHEAD: usize = 8;

/// A slot of a shard's open-addressing table: a key and its group number + 1 (0: empty), so
/// one probe reads one cache line or two.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: Key,
    group: u32,
}

#[derive(Debug, Default)]
struct Shard {
    /// Linear probing; a power of two long, at most 3/4 full (empty before the first group).
    slots: Vec<Slot>,
    len: usize,
    /// `width` states a group, in group order.
    states: Vec<AggState>,
    /// The text of the states' text minimums and maximums.
    texts: Texts,
}

impl Shard {
    /// Prefetches the slot of `slot_hash` and the line after it: a 20-byte slot may end in
    /// the next line, and probes go on into it.
    fn prefetch(&self, slot_hash: u64) {
        let i = slot_hash as usize & self.slots.len().wrapping_sub(1);
        prefetch_at(&self.slots, i);
        prefetch_at(&self.slots, i + 3);
    }

    /// The group of `key`, and whether it is new: the caller then adds its states.
    fn group_of(&mut self, key: Key, slot_hash: u64) -> (usize, bool) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = slot_hash as usize & mask;
        loop {
            let slot = &mut self.slots[i];
            if slot.group == 0 {
                let group = self.len;
                *slot = Slot {
                    key,
                    group: group_number(group + 1),
                };
                self.len += 1;
                return (group, true);
            }
            if slot.key == key {
                return (slot.group as usize - 1, false);
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(64);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); size]);
        let mask = size - 1;
        for slot in old.into_iter().filter(|s| s.group != 0) {
            let mut i = slot_hash(&slot.key) as usize & mask;
            while self.slots[i].group != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }

    /// Makes room for `n` more states. A full array grows by a quarter, not to twice its size
    /// as `Vec` would: the states are most of the groups' memory, so doubling would leave up
    /// to half of what counts against the limit unused, and runs would be that much smaller.
    /// (The copies cost little: the array is read in order, and a table kept across runs
    /// grows again only when a run has more groups than the runs before.)
    fn room_for_states(&mut self, n: usize) {
        let states = &mut self.states;
        if states.len() + n > states.capacity() {
            states.reserve_exact((states.len() / 4).max(n).max(64));
        }
    }

    /// Updates the `width` states of `group` with `args`, one a state (`None` for `count(*)`);
    /// returns the heap bytes they grew by.
    fn update<'v>(
        &mut self,
        group: usize,
        width: usize,
        args: impl Iterator<Item = Option<Scalar<'v>>>,
        scratch: &mut Vec<u8>,
    ) -> usize {
        let mut grown = 0;
        for (state, arg) in self.states[group * width..(group + 1) * width]
            .iter_mut()
            .zip(args)
        {
            grown += state.update(arg.as_ref(), scratch, &mut self.texts);
        }
        self.compact_texts();
        grown
    }

    /// Forgets every group, keeping the memory of the table and the states.
    fn clear(&mut self) {
        self.slots.fill(Slot::default());
        self.len = 0;
        self.states.clear();
        self.texts = Texts::default();
    }

    /// Keys and group numbers, in no order.
    fn groups(&self) -> impl Iterator<Item = (Key, usize)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.group != 0)
            .map(|s| (s.key, s.group as usize - 1))
    }

    /// Merges another thread's shard, whose dictionary codes `translate` maps to mine.
    fn absorb(&mut self, other: Shard, translate: &[Vec<u32>], width: usize) {
        // Their groups as mine, first, so that the slot and the states of a group a few
        // ahead can be prefetched: both are reads from anywhere in memory.
        let incoming: Vec<(Key, u64, usize)> = other
            .groups()
            .map(|(mut key, g)| {
                for (code, map) in key.iter_mut().zip(translate) {
                    if *code >= DIRECT {
                        *code = map[(*code - DIRECT) as usize];
                    }
                }
                (key, slot_hash(&key), g)
            })
            .collect();
        let mut theirs = other.states;
        drop(other.slots);
        self.take(&incoming, &mut theirs, &other.texts, width);
    }

    /// Moves this front table's groups to its shard `back` (see [`Groups`]) and empties it,
    /// keeping its table's memory; returns what `take` returns.
    fn move_to(
        &mut self,
        back: &mut Shard,
        width: usize,
        moving: &mut Vec<(Key, u64, usize)>,
    ) -> (usize, usize) {
        moving.clear();
        moving.extend(self.groups().map(|(key, g)| (key, slot_hash(&key), g)));
        let merged = back.take(moving, &mut self.states, &self.texts, width);
        self.clear();
        merged
    }

    /// Takes the groups of another table, given as their keys (in my dictionary codes), slot
    /// hashes and numbers in `theirs`: new groups move their states (and texts) over, groups I
    /// have merge them. Returns how many merged, and the heap bytes their states held that
    /// merging freed (see `AggState::merge`).
    fn take(
        &mut self,
        incoming: &[(Key, u64, usize)],
        theirs: &mut [AggState],
        their_texts: &Texts,
        width: usize,
    ) -> (usize, usize) {
        // The slot of a group this many ahead is prefetched; the states of a group I have,
        // this many merges before they merge: a move costs a few dozen nanoseconds, and a read
        // from memory several times that.
        const AHEAD: usize = 48;
        const MERGE_AHEAD: usize = 16;
        let mut merging: VecDeque<(usize, usize)> = VecDeque::with_capacity(MERGE_AHEAD + 1);
        let mut merged = 0;
        let mut freed = 0;
        let mut merge = |shard: &mut Shard, theirs: &mut [AggState], (mine, g): (usize, usize)| {
            let states = theirs[g * width..(g + 1) * width]
                .iter_mut()
                .map(|s| std::mem::replace(s, AggState::Count(0)));
            for (a, b) in shard.states[mine * width..(mine + 1) * width]
                .iter_mut()
                .zip(states)
            {
                freed += a.merge(b, &mut shard.texts, their_texts);
            }
        };
        for (i, &(key, hash, g)) in incoming.iter().enumerate() {
            if let Some(&(_, hash, _)) = incoming.get(i + AHEAD) {
                self.prefetch(hash);
            }
            let (group, new) = self.group_of(key, hash);
            if new {
                self.room_for_states(width);
                for state in &mut theirs[g * width..(g + 1) * width] {
                    let mut state = std::mem::replace(state, AggState::Count(0));
                    state.move_text(their_texts, &mut self.texts);
                    self.states.push(state);
                }
            } else {
                prefetch_at(&self.states, group * width);
                merging.push_back((group, g));
                merged += 1;
                if merging.len() > MERGE_AHEAD {
                    let next = merging.pop_front().expect("a group to merge");
                    merge(self, theirs, next);
                }
            }
        }
        for next in merging {
            merge(self, theirs, next);
        }
        // Merged bounds that grew left their old text behind.
        self.compact_texts();
        (merged, freed)
    }

    /// Drops the text that replaced minimums and maximums left behind, once it is most of it.
    fn compact_texts(&mut self) {
        if self.texts.wasteful() {
            self.texts = self.texts.compacted(&mut self.states);
        }
    }
}

/// Where a key goes in a shard's table. Codes differ between threads' dictionaries, so this is
/// not the hash that picks the shard.
fn slot_hash(key: &Key) -> u64 {
    let a = u64::from(key[0]) | u64::from(key[1]) << 32;
    let b = u64::from(key[2]) | u64::from(key[3]) << 32;
    // Each half is folded by a constant, not by the other half: no value of one half makes
    // the other drop out (as a product of the two would, when one of them is zero).
    folded_multiply(
        folded_multiply(a ^ 0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344) ^ b,
        0xa409_3822_299f_31d0 | 1,
    )
}

/// Prefetches `items[i]`, if there is one.
fn prefetch_at<T>(items: &[T], i: usize) {
    if let Some(item) = items.get(i) {
        prefetch(item);
    }
}

impl Groups {
    /// Groups that go to disk when they hold more than `limit` bytes (0: never).
    pub fn with_limit(limit: usize) -> Self {
        Groups {
            limit,
            ..Groups::default()
        }
    }

    /// Leaves `bytes` of the limit to something else the thread holds (its buffers for a gzip
    /// file decompressed whole): the groups go to disk that much sooner.
    pub fn reserve(&mut self, bytes: usize) {
        self.reserved = bytes;
    }

    pub(super) fn fold<'a>(
        &mut self,
        stats: &'a CompiledStats,
        ctx: &RecordContext<'a>,
        scratch: &mut Vec<u8>,
    ) {
        let keys = stats.keys.len();
        let parts = keys.min(PARTS);
        if self.shards.is_empty() {
            self.shards.resize_with(SHARDS, Shard::default);
            self.dictionaries.resize_with(parts, Dictionary::default);
            self.funcs = stats.aggregates.iter().map(|(func, _)| *func).collect();
            self.new_heap = self.funcs.iter().map(|&f| AggState::heap_bytes(f)).sum();
        }
        if self.front.is_empty() {
            self.front.resize_with(SHARDS, Shard::default);
        }
        let mut key: Key = [0; PARTS];
        let mut hash: u64 = 0;
        for (p, code) in key.iter_mut().enumerate().take(parts) {
            let columns = part_columns(keys, p);
            let dictionary = &mut self.dictionaries[p];
            let (coded, value_hash) = if columns.len() == 1 {
                dictionary.code(&stats.keys[columns.start].eval(ctx), scratch)
            } else {
                scratch.clear();
                for e in &stats.keys[columns] {
                    encode_key(&e.eval(ctx), scratch);
                }
                dictionary.intern(scratch)
            };
            *code = coded;
            hash = (hash.rotate_left(5) ^ value_hash).wrapping_mul(SEED);
        }
        let shard = shard_of(hash);
        let width = self.funcs.len();
        let front = &mut self.front[shard];
        let (group, new) = front.group_of(key, slot_hash(&key));
        if new {
            front.room_for_states(width);
            front
                .states
                .extend(self.funcs.iter().map(|func| AggState::new(*func)));
            self.heap += self.new_heap;
        }
        let args = stats
            .aggregates
            .iter()
            .map(|(_, arg)| arg.as_ref().map(|e| e.eval(ctx)));
        self.heap += front.update(group, width, args, &mut self.scratch);
        if front.len >= FRONT {
            self.move_front(shard);
        }
        if self.limit > 0 {
            self.unchecked += 1;
            if self.unchecked == CHECK_EVERY {
                self.unchecked = 0;
                if self.error.is_none() && self.memory() + self.reserved > self.limit {
                    self.error = self.spill().err();
                }
            }
        }
    }

    /// Moves a front table's groups to their shard. A group that was there already no longer
    /// holds the heap of a new group's states twice, nor of the values both had.
    fn move_front(&mut self, shard: usize) {
        let width = self.funcs.len();
        let (merged, freed) =
            self.front[shard].move_to(&mut self.shards[shard], width, &mut self.moving);
        self.heap = self.heap.saturating_sub(merged * self.new_heap + freed);
    }

    /// Moves every front table's groups to their shards: everything that reads the groups
    /// settles them first.
    pub fn settle(&mut self) {
        for shard in 0..self.front.len() {
            if self.front[shard].len > 0 {
                self.move_front(shard);
            }
        }
    }

    /// Settles the groups, and reports a run that could not be written.
    pub fn settle_or_error(&mut self) -> Result<(), SpillError> {
        self.settle();
        self.error.take().map_or(Ok(()), Err)
    }

    /// Heap bytes held, roughly, and those that sorting the groups to write them would take:
    /// what the limit is compared with.
    fn memory(&self) -> usize {
        // The sorted array, and the words it is made from (see `sorted_keys`).
        let sorting = self.len() * (size_of::<(Key, u32, u32)>() + size_of::<u64>());
        let shards: usize = self
            .shards
            .iter()
            .chain(&self.front)
            .map(|s| {
                s.slots.capacity() * size_of::<Slot>()
                    + s.states.capacity() * size_of::<AggState>()
                    + s.texts.capacity()
            })
            .sum();
        let dictionaries: usize = self.dictionaries.iter().map(Dictionary::memory).sum();
        shards + dictionaries + self.heap + sorting
    }

    /// Writes the groups to a new run, sorted by key, and empties the tables of them.
    fn spill(&mut self) -> Result<(), SpillError> {
        self.settle();
        if self.is_empty() {
            return Ok(());
        }
        let held = self.memory();
        let width = self.funcs.len();
        let (rankings, groups) = self.sorted_keys();
        let mut run = RunWriter::create()?;
        let mut key = Vec::new();
        for (i, &(ranks, shard, g)) in groups.iter().enumerate() {
            // States are read in key order, which is no order in memory (see `run_rows`).
            if let Some(&(_, shard, g)) = groups.get(i + PREFETCH_AHEAD) {
                prefetch_at(&self.shards[shard as usize].states, g as usize * width);
            }
            key.clear();
            for ((&rank, ranking), dictionary) in
                ranks.iter().zip(&rankings).zip(&self.dictionaries)
            {
                let code = ranking.code(rank);
                if code < DIRECT {
                    encode_key(&Scalar::Int(i64::from(code)), &mut key);
                } else {
                    key.extend_from_slice(dictionary.entry((code - DIRECT) as usize));
                }
            }
            let shard = &self.shards[shard as usize];
            let start = g as usize * width;
            run.push(&key, &shard.states[start..start + width], &shard.texts)?;
        }
        let run = run.finish()?;
        self.spilled_bytes += run.bytes();
        self.runs.push(run);
        // The tables stay, emptied, at the size they grew to: the groups fill them to it again
        // before the next run, without growing through every size on the way (each growth
        // moves every group to a new place in memory).
        for shard in &mut self.shards {
            shard.clear();
        }
        for dictionary in &mut self.dictionaries {
            *dictionary = Dictionary::default();
        }
        self.heap = 0;
        // Unless they leave too little of the limit for the next run's groups: less than half
        // of what this run's took beyond the tables (the thread may hold more of the limit for
        // other things since, see `reserve`; or, with no limit, this is the last run). Then
        // they go, and `fold` makes them again as the groups need them, so runs never shrink
        // to a few groups each.
        let tables = self.memory();
        let room = self.limit.saturating_sub(self.reserved + tables);
        if room < held.saturating_sub(tables) / 2 {
            self.drop_tables();
        }
        Ok(())
    }

    /// Frees the tables and dictionaries of groups that hold none; `fold` makes them again.
    fn drop_tables(&mut self) {
        debug_assert!(self.is_empty());
        self.shards = Vec::new();
        self.front = Vec::new();
        self.dictionaries = Vec::new();
    }

    /// Once the thread has folded its last record: groups that have gone to disk write the
    /// rest to a run now, on this thread, rather than when the threads' groups merge (see
    /// `merge`), one thread's after another; the tables are not needed after it. An error is
    /// reported as `spill`'s are.
    pub fn finish_reading(&mut self) {
        if !self.runs.is_empty() && self.error.is_none() {
            self.error = self.spill().err();
            if self.error.is_none() {
                self.drop_tables();
            }
        }
    }

    pub fn merge(&mut self, mut other: Groups) {
        self.settle();
        other.settle();
        let spilled = !self.runs.is_empty() || !other.runs.is_empty();
        if spilled {
            // The answer will be merged from runs: the groups they hold in memory become one
            // more, rather than growing mine past the limit.
            if let Err(e) = other.spill() {
                other.error.get_or_insert(e);
            }
            self.runs.append(&mut other.runs);
        }
        let spilled_bytes = self.spilled_bytes + other.spilled_bytes;
        let error = other.error.take();
        if !spilled && self.is_empty() {
            other.limit = self.limit;
            other.error = self.error.take();
            *self = other;
        } else if !spilled && !other.is_empty() {
            self.merge_held(other);
        }
        self.error = self.error.take().or(error);
        self.spilled_bytes = spilled_bytes;
    }

    /// Merges the groups another thread holds in memory into mine.
    fn merge_held(&mut self, other: Groups) {
        self.heap += other.heap;
        let width = self.funcs.len();
        let Groups {
            shards,
            dictionaries,
            ..
        } = other;
        // Their dictionary codes, as mine.
        let mut scratch = Vec::new();
        let translate: Vec<Vec<u32>> = dictionaries
            .iter()
            .zip(&mut self.dictionaries)
            .map(|(theirs, mine)| mine.translate(theirs, &mut scratch))
            .collect();
        // Equal values hash alike in both, so each shard merges with its namesake only.
        self.shards
            .par_iter_mut()
            .zip(shards)
            .for_each(|(mine, theirs)| mine.absorb(theirs, &translate, width));
    }

    /// The groups, counting those of the front tables not yet settled apart (so, until they
    /// are, some twice).
    pub fn len(&self) -> usize {
        self.shards.iter().chain(&self.front).map(|s| s.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rankings of the key parts' codes, and every group (as its key's ranks, its shard
    /// and its number there) in the order of its key values.
    fn sorted_keys(&self) -> (Vec<Ranking>, Vec<(Key, u32, u32)>) {
        // Keys become ranks for the sort, so arrays of integers compare, and back to codes after.
        let rankings: Vec<Ranking> = self.dictionaries.iter().map(Ranking::new).collect();
        let ranked = |shard| ranked(shard, &rankings);
        let mut offsets = [0usize; SHARDS + 1];
        for (s, shard) in self.shards.iter().enumerate() {
            offsets[s + 1] = offsets[s] + shard.len;
        }
        let bounds = self
            .shards
            .par_iter()
            .map(|shard| ranked(shard).fold(RankBounds::default(), RankBounds::with))
            .reduce(RankBounds::default, RankBounds::join);
        if let Some(packing) = Packing::new(&bounds, self.len()) {
            // Each group a word, sorted by its key's bits a byte at a time.
            let mut words = vec![0u64; self.len()];
            fill_by_shard(&mut words, &self.shards, &rankings, |s, (key, g)| {
                packing.word(&key, offsets[s] + g as usize)
            });
            radix_sort(&mut words, packing.index_bits, packing.key_bits);
            let groups = words
                .par_iter()
                .map(|&word| {
                    let (key, index) = packing.unpack(word);
                    // The last shard that starts at or before the group.
                    let s = offsets.partition_point(|&o| o <= index) - 1;
                    (key, s as u32, group_number(index - offsets[s]))
                })
                .collect();
            return (rankings, groups);
        }
        // Keys too wide for a word (several wide parts, rare): sorted by comparison.
        let mut groups: Vec<(Key, u32, u32)> = vec![Default::default(); self.len()];
        fill_by_shard(&mut groups, &self.shards, &rankings, |s, (key, g)| {
            (key, s as u32, g)
        });
        // Keys are distinct; as one 128-bit number each (first part highest) they compare in
        // two instructions rather than part by part.
        let packed = |key: &Key| {
            key.iter()
                .fold(0u128, |n, &part| (n << 32) | u128::from(part))
        };
        groups.par_sort_unstable_by(|a, b| packed(&a.0).cmp(&packed(&b.0)));
        (rankings, groups)
    }

    /// The groups in the order of their key values, for rows: from memory, or merged from
    /// their runs when they went to disk; and the bytes of those runs.
    pub(super) fn sorted(mut self) -> Result<(SortedGroups, u64), SpillError> {
        self.settle_or_error()?;
        if !self.runs.is_empty() {
            // Those still in memory are one more run; the tables go before the runs merge.
            self.spill()?;
            self.drop_tables();
            let runs = std::mem::take(&mut self.runs);
            let spilled = SpilledGroups::new(runs)?;
            return Ok((SortedGroups(Sorted::Spilled(spilled)), self.spilled_bytes));
        }
        let (rankings, groups) = self.sorted_keys();
        let Groups {
            shards,
            dictionaries,
            funcs,
            ..
        } = self;
        // The tables are done with: their memory goes before the rows take theirs.
        let (states, texts) = shards.into_iter().map(|s| (s.states, s.texts)).unzip();
        let decoded = dictionaries
            .iter()
            .map(|d| (0..d.len()).map(|i| decode_key(d.entry(i))).collect())
            .collect();
        let held = HeldGroups {
            groups,
            rankings,
            decoded,
            states,
            texts,
            width: funcs.len(),
        };
        Ok((SortedGroups(Sorted::Held(held)), 0))
    }
}

/// Groups in the order of their key values, ready to become rows a chunk at a time: as they are
/// written (`try_for_each`, `try_for_each_rendered`) or handed over (`for_each_row`), which
/// never holds them all as rows.
#[derive(Debug, Clone)]
pub struct SortedGroups(Sorted);

#[derive(Debug, Clone)]
enum Sorted {
    Held(HeldGroups),
    Spilled(SpilledGroups),
}

/// Rows made at once, as a chunk, while the one before is used.
const CHUNK: usize = 1 << 14;

impl SortedGroups {
    /// Calls `f` with each row in order. Rows are made a chunk at a time, while `f` gets the
    /// chunk before; memory holds two chunks. Call it from outside the rayon pool: it waits on
    /// a thread that needs the pool. Groups that went to disk are read back as the rows are
    /// made; an error reading them is `f`'s kind of error.
    pub fn try_for_each<E: From<std::io::Error>>(
        &self,
        mut f: impl FnMut(&[Value]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.try_for_each_chunk(|rows| rows, |rows| rows.rows().try_for_each(&mut f))
    }

    /// Renders the rows to bytes and passes them to `write` in order. `render` gets runs of
    /// consecutive rows and renders them in parallel, while `write` gets the runs before; so
    /// writing millions of rows takes every core, and memory holds two chunks of them.
    /// Call it from outside the rayon pool, as `try_for_each`.
    pub fn try_for_each_rendered<E: Send + From<std::io::Error>>(
        &self,
        render: impl Fn(&mut dyn Iterator<Item = &[Value]>) -> Result<Vec<u8>, E> + Sync,
        mut write: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.try_for_each_chunk(
            |rows| {
                let width = rows.width().max(1);
                let runs: Vec<&[Value]> = rows.runs(RUN).collect();
                runs.into_par_iter()
                    .map(|run| render(&mut run.chunks_exact(width)))
                    .collect::<Vec<_>>()
            },
            |runs| runs.into_iter().try_for_each(|run| write(&run?)),
        )
    }

    /// Makes `make` of each chunk of rows, in order, on a thread that works on the next chunk
    /// while `f` gets this one.
    fn try_for_each_chunk<T: Send, E: From<std::io::Error>>(
        &self,
        make: impl Fn(RowBlock) -> T + Sync,
        f: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        let make = &make;
        handed_over(|send| Ok(self.for_each_made(make, send)?), f)
    }

    /// Calls `f` with `make` of the rows a chunk at a time, in order, until it returns
    /// `false`.
    fn for_each_made<T: Send>(
        &self,
        make: &(impl Fn(RowBlock) -> T + Sync),
        mut f: impl FnMut(T) -> bool,
    ) -> Result<(), SpillError> {
        match &self.0 {
            Sorted::Held(held) => {
                for groups in held.groups.chunks(CHUNK) {
                    let rows =
                        held.runs(groups)
                            .into_iter()
                            .fold(RowBlock::default(), |mut rows, run| {
                                rows.append(run);
                                rows
                            });
                    if !f(make(rows)) {
                        break;
                    }
                }
                Ok(())
            }
            Sorted::Spilled(spilled) => spilled.for_each_made(make, f),
        }
    }

    /// Gives `f` every row, in output order, until it returns `false`. Rows are made a chunk
    /// at a time: memory holds one chunk beside what `f` keeps.
    pub(super) fn for_each_row(
        self,
        mut f: impl FnMut(&[Value]) -> bool,
    ) -> Result<(), SpillError> {
        self.for_each_made(&|rows| rows, |rows| rows.rows().all(&mut f))
    }
}

/// Groups sorted in memory.
#[derive(Debug, Clone)]
struct HeldGroups {
    /// Key ranks, shard and group number.
    groups: Vec<(Key, u32, u32)>,
    rankings: Vec<Ranking>,
    /// Each part's dictionary entries, decoded.
    decoded: Vec<Vec<Vec<Value>>>,
    /// Each shard's states.
    states: Vec<Vec<AggState>>,
    /// Each shard's texts.
    texts: Vec<Texts>,
    width: usize,
}

impl HeldGroups {
    /// Appends the row of one group: key values, then aggregates.
    fn row(&self, &(key, shard, g): &(Key, u32, u32), row: &mut RowBlock) {
        let row = row.values_mut();
        for ((&rank, values), ranking) in key.iter().zip(&self.decoded).zip(&self.rankings) {
            let code = ranking.code(rank);
            if code < DIRECT {
                row.push(Value::Int(i64::from(code)));
            } else {
                row.extend(values[(code - DIRECT) as usize].iter().cloned());
            }
        }
        let start = g as usize * self.width;
        let texts = &self.texts[shard as usize];
        row.extend(
            self.states[shard as usize][start..start + self.width]
                .iter()
                .map(|state| state.finish(texts)),
        );
    }

    /// The rows of `groups`, a block for each `RUN` of them, made in parallel and in output
    /// order, so writing them reads memory in order.
    fn runs(&self, groups: &[(Key, u32, u32)]) -> Vec<RowBlock> {
        groups
            .par_chunks(RUN)
            .map(|run| self.run_rows(run))
            .collect()
    }

    /// The rows of a run of groups. States are read in key order, which is no order in
    /// memory: those of a group a few ahead are prefetched, so their reads overlap.
    fn run_rows(&self, run: &[(Key, u32, u32)]) -> RowBlock {
        let mut rows = RowBlock::with_capacity(run.len() * (self.decoded.len() + self.width));
        for (i, group) in run.iter().enumerate() {
            if let Some(&(_, shard, g)) = run.get(i + PREFETCH_AHEAD) {
                prefetch_at(&self.states[shard as usize], g as usize * self.width);
            }
            self.row(group, &mut rows);
            rows.end_row();
        }
        rows
    }
}

/// Multiplier of the key hash (from FxHash).
const SEED: u64 = 0xf135_7aea_2e62_a9c5;

fn shard_of(hash: u64) -> usize {
    (hash >> 60) as usize % SHARDS
}

fn group_number(group: usize) -> u32 {
    // Each group holds at least a key and a state (over 24 bytes): 2^32 of them cannot exist.
    u32::try_from(group).expect("fewer than 2^32 groups")
}

/// A shard's groups with their keys as ranks, and their numbers, in no order.
fn ranked<'a>(shard: &'a Shard, rankings: &'a [Ranking]) -> impl Iterator<Item = (Key, u32)> + 'a {
    shard.groups().map(move |(mut key, g)| {
        for (code, ranking) in key.iter_mut().zip(rankings) {
            *code = ranking.rank(*code);
        }
        (key, group_number(g))
    })
}

/// Fills `items` with an item a group, shard after shard, the shards in parallel: `item` gets
/// the shard's number and the group (as `ranked` gives it). Filled in place, so memory holds
/// the items once.
fn fill_by_shard<T: Send>(
    items: &mut [T],
    shards: &[Shard],
    rankings: &[Ranking],
    item: impl Fn(usize, (Key, u32)) -> T + Sync,
) {
    let mut parts = Vec::with_capacity(shards.len());
    let mut rest = items;
    for shard in shards {
        let (part, after) = rest.split_at_mut(shard.len);
        parts.push(part);
        rest = after;
    }
    parts
        .into_par_iter()
        .zip(shards)
        .enumerate()
        .for_each(|(s, (part, shard))| {
            for (out, group) in part.iter_mut().zip(ranked(shard, rankings)) {
                *out = item(s, group);
            }
        });
}

/// The least and the greatest rank of each key part over some groups, and the ranks each
/// side of `DIRECT`'s closest to it: ranks below it are those of values before zero (nulls,
/// negative numbers) and of small integers, ranks from it up those of values after them
/// (texts), so a part of nulls and texts spans 2^31 ranks with none between (see `Ranking`).
#[derive(Debug, Clone, Copy)]
struct RankBounds {
    low: Key,
    high: Key,
    /// The greatest rank below `DIRECT`, and the least from it up, if any.
    under: [Option<u32>; PARTS],
    over: [Option<u32>; PARTS],
}

impl Default for RankBounds {
    /// Bounds of no groups: past every rank on both sides.
    fn default() -> Self {
        RankBounds {
            low: [u32::MAX; PARTS],
            high: [0; PARTS],
            under: [None; PARTS],
            over: [None; PARTS],
        }
    }
}

impl RankBounds {
    fn with(self, (key, _): (Key, u32)) -> Self {
        self.join(RankBounds {
            low: key,
            high: key,
            under: key.map(|rank| (rank < DIRECT).then_some(rank)),
            over: key.map(|rank| (rank >= DIRECT).then_some(rank)),
        })
    }

    fn join(mut self, other: RankBounds) -> Self {
        for p in 0..PARTS {
            self.low[p] = self.low[p].min(other.low[p]);
            self.high[p] = self.high[p].max(other.high[p]);
            // `None` is before every `Some`: the greatest is the greatest rank, if any.
            self.under[p] = self.under[p].max(other.under[p]);
            self.over[p] = self.over[p].into_iter().chain(other.over[p]).min();
        }
        self
    }
}

/// A group as one word: each key part's rank less the part's least, in as many bits as the
/// part's ranks span (first part highest), then the group's index among all the shards' groups
/// in the low bits. Words then sort as their keys do, and integers sort without comparisons
/// (see `radix_sort`). Typical keys take a few dozen bits: an interface among hundreds, a
/// port, a protocol. The ranks no group has between those below `DIRECT` and those from it
/// up are left out: a part of nulls and addresses takes the bits of its addresses.
#[derive(Debug, Clone, Copy)]
struct Packing {
    low: Key,
    widths: [u32; PARTS],
    /// Ranks left out of each part, and the greatest rank below them.
    gaps: Key,
    under: Key,
    key_bits: u32,
    index_bits: u32,
}

impl Packing {
    /// The packing of `groups` groups whose ranks lie within `bounds`, if they fit a word.
    fn new(bounds: &RankBounds, groups: usize) -> Option<Self> {
        let bits = |n: u64| u64::BITS - n.leading_zeros();
        let mut packing = Packing {
            low: bounds.low.map(|low| if low == u32::MAX { 0 } else { low }),
            widths: [0; PARTS],
            gaps: [0; PARTS],
            under: [0; PARTS],
            key_bits: 0,
            index_bits: bits((groups as u64).saturating_sub(1)),
        };
        for p in 0..PARTS {
            if let (Some(under), Some(over)) = (bounds.under[p], bounds.over[p]) {
                packing.gaps[p] = over - under - 1;
                packing.under[p] = under;
            }
            let span = packing
                .compact(p, bounds.high[p])
                .saturating_sub(bounds.low[p]);
            packing.widths[p] = bits(u64::from(span));
        }
        packing.key_bits = packing.widths.iter().sum();
        (packing.key_bits + packing.index_bits <= u64::BITS).then_some(packing)
    }

    /// Part `p`'s rank with the ranks left out of the part taken away.
    fn compact(&self, p: usize, rank: u32) -> u32 {
        if rank > self.under[p] {
            rank - self.gaps[p]
        } else {
            rank
        }
    }

    fn word(&self, key: &Key, index: usize) -> u64 {
        let mut word = 0u64;
        for (p, (&rank, &low)) in key.iter().zip(&self.low).enumerate() {
            // A width of 0 shifts in nothing, and its part adds 0.
            word = (word << self.widths[p]) | u64::from(self.compact(p, rank) - low);
        }
        // The key is shifted past the index bits in two steps: by 64 at once is an overflow.
        (word << (self.index_bits / 2) << (self.index_bits - self.index_bits / 2)) | index as u64
    }

    fn unpack(&self, word: u64) -> (Key, usize) {
        let mask = |width: u32| u64::MAX.checked_shr(u64::BITS - width).unwrap_or(0);
        let index = (word & mask(self.index_bits)) as usize;
        let mut rest = word.checked_shr(self.index_bits).unwrap_or(0);
        let mut key = [0; PARTS];
        for p in (0..PARTS).rev() {
            let compact = (rest & mask(self.widths[p])) as u32 + self.low[p];
            key[p] = if compact > self.under[p] {
                compact + self.gaps[p]
            } else {
                compact
            };
            rest = rest.checked_shr(self.widths[p]).unwrap_or(0);
        }
        (key, index)
    }
}

/// Sorts `words` by their `bits` bits from bit `low` up (whatever the others are), a byte of
/// them a pass from the least significant: a least-significant-digit radix sort, each pass
/// stable, so the order of the passes before holds within equal bytes. A pass whose byte is
/// the same in every word is skipped. Memory holds the words twice.
fn radix_sort(words: &mut Vec<u64>, low: u32, bits: u32) {
    let mut sorted = vec![0u64; words.len()];
    let mut shift = low;
    while shift < low + bits {
        // The last pass takes only the bits left, however many bits lie above them.
        let mask = (1u64 << (low + bits - shift).min(8)) - 1;
        let digit = |word: u64| ((word >> shift) & mask) as usize;
        let mut counts = [0usize; 256];
        for &word in words.iter() {
            counts[digit(word)] += 1;
        }
        if !counts.contains(&words.len()) {
            let mut at = 0;
            for count in &mut counts {
                (at, *count) = (at + *count, at);
            }
            for &word in words.iter() {
                let slot = &mut counts[digit(word)];
                sorted[*slot] = word;
                *slot += 1;
            }
            std::mem::swap(words, &mut sorted);
        }
        shift += 8;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Strings are equal when their words are, at every length around the word size.
        #[test]
        fn words_tell_strings_apart(a in proptest::collection::vec(0u8..4, 0..40), flip in any::<prop::sample::Index>()) {
            prop_assert!(same_bytes(&a, &a));
            prop_assert_eq!(bytes_hash(&a), bytes_hash(&a.clone()));
            if !a.is_empty() {
                let mut b = a.clone();
                b[flip.index(a.len())] ^= 0x10;
                prop_assert!(!same_bytes(&a, &b));
            }
            let mut longer = a.clone();
            longer.push(0);
            prop_assert!(!same_bytes(&a, &longer));
        }

        /// The radix sort orders words as a sort by the same bits does, whatever the bits
        /// below and above them are, with bytes of every span (the same in all words, or not).
        #[test]
        fn radix_sort_orders_words_by_their_bits(
            words in proptest::collection::vec(any::<u64>(), 0..600),
            low in 0u32..40,
            bits in 0u32..24,
            same in any::<u64>(),
            spread in 0u32..64,
        ) {
            // Some bytes are the same in every word.
            let words: Vec<u64> = words.iter().map(|w| (w >> spread) ^ same).collect();
            let bits = bits.min(64 - low);
            let field = |w: u64| (w >> low) & u64::MAX.checked_shr(64 - bits).unwrap_or(0);
            let mut sorted = words.clone();
            radix_sort(&mut sorted, low, bits);
            let mut expected = words.clone();
            // Stable, as the radix sort is: words of equal bits stay in their order.
            expected.sort_by_key(|&w| field(w));
            prop_assert_eq!(sorted, expected);
        }

        /// A packed word gives back its key and index, and words compare as their keys do.
        #[test]
        fn packed_words_keep_keys_and_their_order(
            keys in proptest::collection::vec(proptest::array::uniform4(0u32..5000), 1..50),
            base in proptest::array::uniform4(any::<u32>()),
        ) {
            let keys: Vec<Key> = keys
                .iter()
                .map(|k| std::array::from_fn(|p| base[p].saturating_sub(5000).saturating_add(k[p])))
                .collect();
            check_packing(&keys, 4 * 13)?;
        }

        /// Parts whose ranks lie on both sides of `DIRECT` (nulls and texts) pack into the
        /// bits their ranks take, not the 2^31 between, and keep their keys and order.
        #[test]
        fn packing_leaves_out_the_ranks_between(
            keys in proptest::collection::vec(proptest::array::uniform4((any::<bool>(), 0u32..2000)), 1..40),
        ) {
            let keys: Vec<Key> = keys
                .iter()
                .map(|k| k.map(|(after, rank)| if after { DIRECT + rank } else { rank }))
                .collect();
            check_packing(&keys, 4 * 12)?;
        }

        /// A bytes table finds every string it was given, with its code, and no other.
        #[test]
        fn a_bytes_table_is_a_map(strings in proptest::collection::vec(proptest::collection::vec(0u8..3, 0..12), 1..300)) {
            let mut table = BytesTable::default();
            let mut model: HashMap<Vec<u8>, u32> = HashMap::new();
            for s in &strings {
                let hash = bytes_hash(s);
                match model.get(s) {
                    Some(&code) => prop_assert_eq!(table.get(s, hash), Some((code, hash))),
                    None => {
                        prop_assert_eq!(table.get(s, hash), None);
                        let code = DIRECT + model.len() as u32;
                        table.insert(s, hash, code);
                        model.insert(s.clone(), code);
                    }
                }
            }
            let mut listed: Vec<(Vec<u8>, u32)> = table.iter().map(|(s, (code, _))| (s.to_vec(), code)).collect();
            listed.sort();
            let mut expected: Vec<(Vec<u8>, u32)> = model.into_iter().collect();
            expected.sort();
            prop_assert_eq!(listed, expected);
        }
    }

    /// Groups come out in key order whether their keys fit a word (sorted by radix) or not
    /// (by comparison): here two wide parts, or not; a part that is the same in every group.
    #[test]
    fn groups_sort_by_key_with_keys_of_any_width() {
        for wide in [false, true] {
            let mut groups = counting_groups();
            let mut expected = Vec::new();
            let mut seed: u64 = 11;
            for _ in 0..5000 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let big = if wide { 1 << 30 } else { 1 << 10 };
                let key: Key = [(seed >> 40) as u32 % big, 7, (seed >> 20) as u32 % big, 0];
                if add_group(&mut groups, key) {
                    expected.push(key);
                }
            }
            expected.sort_unstable();
            // Two parts of 30 bits and the index do not fit a word; of 10 bits, they do.
            let bounds = expected
                .iter()
                .fold(RankBounds::default(), |b, &k| b.with((k, 0)));
            assert_eq!(Packing::new(&bounds, expected.len()).is_some(), !wide);
            let (rankings, sorted) = groups.sorted_keys();
            assert!(rankings.iter().all(|r| r.below_zero == 0));
            let keys: Vec<Key> = sorted.iter().map(|&(key, _, _)| key).collect();
            assert_eq!(keys, expected, "wide: {wide}");
            // Each group is its own.
            for &(key, s, g) in &sorted {
                let shard = &groups.shards[s as usize];
                assert!(shard.groups().any(|(k, n)| k == key && n == g as usize));
            }
        }
    }

    /// Packs `keys`, whose parts' ranks span at most `key_bits` bits in all: each word gives
    /// back its key and index, and words compare as their keys do.
    fn check_packing(keys: &[Key], key_bits: u32) -> Result<(), TestCaseError> {
        let bounds = keys
            .iter()
            .fold(RankBounds::default(), |b, &k| b.with((k, 0)));
        let packing = Packing::new(&bounds, keys.len()).expect("the keys fit a word");
        prop_assert!(packing.key_bits <= key_bits);
        for (i, a) in keys.iter().enumerate() {
            let word = packing.word(a, i);
            prop_assert_eq!(packing.unpack(word), (*a, i));
            for (j, b) in keys.iter().enumerate() {
                let other = packing.word(b, j);
                let order = (word >> packing.index_bits).cmp(&(other >> packing.index_bits));
                prop_assert_eq!(order, a.cmp(b));
            }
        }
        Ok(())
    }

    /// Groups with empty tables and a count a group, as `fold` makes them.
    fn counting_groups() -> Groups {
        let mut groups = Groups::default();
        groups.shards.resize_with(SHARDS, Shard::default);
        groups.dictionaries.resize_with(3, Dictionary::default);
        groups.funcs = vec![AggFunc::Count];
        groups
    }

    /// Adds the group of `key`, as `find_next` would; whether it is new.
    fn add_group(groups: &mut Groups, key: Key) -> bool {
        let hash = slot_hash(&key);
        let shard = &mut groups.shards[shard_of(hash)];
        let new = shard.group_of(key, hash).1;
        if new {
            shard.room_for_states(1);
            shard.states.push(AggState::new(AggFunc::Count));
        }
        new
    }

    /// A run leaves the tables, emptied, to the next while they leave room for a run about as
    /// large; once the thread holds more of the limit for something else, they go, so that
    /// runs do not shrink to a few groups each.
    #[test]
    fn kept_tables_leave_room_for_the_next_run() {
        let fill = |groups: &mut Groups| {
            for n in 0..20_000u32 {
                add_group(groups, [n % 97, n, 0, 0]);
            }
        };
        let mut groups = counting_groups();
        fill(&mut groups);
        // The limit is reached as the run is written.
        groups.limit = groups.memory();
        groups.spill().unwrap();
        assert!(groups.is_empty());
        assert_eq!(groups.shards.len(), SHARDS, "the tables are kept");
        let tables = groups.memory();
        fill(&mut groups);
        let held = groups.memory();
        assert_eq!(
            held, groups.limit,
            "the same groups take the same memory again"
        );
        // Most of what the groups took beyond the tables is now held for something else.
        groups.reserve(groups.limit - tables - (held - tables) / 4);
        groups.spill().unwrap();
        assert!(groups.shards.is_empty(), "the tables go");
        assert_eq!(groups.runs.len(), 2);
    }

    /// Keys spread over a table's slots whatever one half of them is: a half that cancels a
    /// hash constant (here the last two parts) must not send every key to one slot.
    #[test]
    fn slot_hashes_spread_keys_whatever_one_half_is() {
        for (c, d) in [(57_701_188, 320_440_878), (0, 0), (DIRECT, 5)] {
            let slots: std::collections::HashSet<u64> = (0..64u32)
                .flat_map(|i| (0..64u32).map(move |j| [DIRECT + i, j, c, d]))
                .map(|key| slot_hash(&key) & 4095)
                .collect();
            assert!(slots.len() > 2500, "{c} {d}: {} slots of 4096", slots.len());
        }
    }

    /// A shard's table finds every key's group through many growths and long probe runs: keys
    /// that differ in one part only, and keys repeated in any order.
    #[test]
    fn a_shard_finds_each_key_through_growth() {
        let mut shard = Shard::default();
        let mut model: HashMap<Key, usize> = HashMap::new();
        let mut seed: u64 = 7;
        for _ in 0..200_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let n = (seed >> 33) as u32 % 50_000;
            let key = [DIRECT + n % 7, n, n % 3, 0];
            let (group, new) = shard.group_of(key, slot_hash(&key));
            match model.get(&key) {
                Some(&g) => assert_eq!((group, new), (g, false), "key {key:?}"),
                None => {
                    assert_eq!((group, new), (model.len(), true), "key {key:?}");
                    model.insert(key, group);
                }
            }
        }
        assert_eq!(shard.len, model.len());
        assert!(shard.len * 4 <= shard.slots.len() * 3);
        let mut listed: Vec<(Key, usize)> = shard.groups().collect();
        listed.sort_unstable();
        let mut expected: Vec<(Key, usize)> = model.into_iter().collect();
        expected.sort_unstable();
        assert_eq!(listed, expected);
    }
}

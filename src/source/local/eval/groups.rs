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
//! Each thread folds into its own `Groups`, spread over shards by a hash of the key values;
//! merging translates the other thread's dictionary codes, then merges shard by shard in
//! parallel. Output order is the order of the values, as `encode_key` defines it.

use std::collections::hash_map::Entry;
use std::hash::BuildHasher;
use std::ops::Range;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{AggState, CompiledStats, RecordContext, decode_key, encode_key};
use crate::source::Value;
use crate::source::local::value::Scalar;

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
    codes: FxHashMap<Box<[u8]>, Coded>,
    /// Single text values, by their text: looked up without encoding them.
    texts: FxHashMap<Box<str>, Coded>,
    entries: Vec<Box<[u8]>>,
}

/// A code, and a hash of its value that is the same in every thread's dictionary (unlike the
/// code).
type Coded = (u32, u64);

impl Dictionary {
    /// Codes a value that is not a single text by its encoding.
    fn intern(&mut self, encoded: &[u8]) -> Coded {
        if let Some(&coded) = self.codes.get(encoded) {
            return coded;
        }
        let coded = self.add(encoded);
        self.codes.insert(encoded.into(), coded);
        coded
    }

    fn add(&mut self, encoded: &[u8]) -> Coded {
        // 2^31 distinct values of one column would take far more memory than any machine
        // this runs on has, so the count always fits.
        let code = DIRECT
            + u32::try_from(self.entries.len())
                .ok()
                .filter(|&n| n < DIRECT)
                .expect("fewer than 2^31 distinct values in one group-by column");
        self.entries.push(encoded.into());
        (code, rustc_hash::FxBuildHasher.hash_one(encoded))
    }

    /// How `other`'s codes read in this dictionary (indexed by their code - `DIRECT`).
    fn translate(&mut self, other: &Dictionary, scratch: &mut Vec<u8>) -> Vec<u32> {
        let mut map = vec![0; other.entries.len()];
        for (text, &(code, _)) in &other.texts {
            map[(code - DIRECT) as usize] = self.text(text, scratch).0;
        }
        for (encoded, &(code, _)) in &other.codes {
            map[(code - DIRECT) as usize] = self.intern(encoded).0;
        }
        map
    }

    fn text(&mut self, text: &str, scratch: &mut Vec<u8>) -> Coded {
        if let Some(&coded) = self.texts.get(text) {
            return coded;
        }
        scratch.clear();
        encode_key(&Scalar::Str(text), scratch);
        let coded = self.add(scratch);
        self.texts.insert(text.into(), coded);
        coded
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
        let entries = &dictionary.entries;
        let mut order: Vec<u32> = (0..entries.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| entries[a as usize].cmp(&entries[b as usize]));
        let mut position = vec![0u32; order.len()];
        for (pos, &entry) in order.iter().enumerate() {
            position[entry as usize] = pos as u32;
        }
        let mut zero = Vec::new();
        encode_key(&Scalar::Int(0), &mut zero);
        let below_zero = order.partition_point(|&e| *entries[e as usize] < *zero) as u32;
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
#[derive(Debug, Default)]
pub struct Groups {
    shards: Vec<Shard>,
    dictionaries: Vec<Dictionary>,
    width: usize,
}

#[derive(Debug, Default)]
struct Shard {
    index: FxHashMap<Key, u32>,
    /// Group keys in group order, so merging and finishing read keys and states in step
    /// rather than jumping around the states in the index's order.
    keys: Vec<Key>,
    states: Vec<AggState>,
}

impl Shard {
    /// The group of `key`, and whether it is new; a new group gets the states `new` gives.
    fn group_of<I: IntoIterator<Item = AggState>>(
        &mut self,
        key: Key,
        new: impl FnOnce() -> I,
    ) -> (usize, bool) {
        match self.index.entry(key) {
            Entry::Occupied(o) => (*o.get() as usize, false),
            Entry::Vacant(v) => {
                let group = self.keys.len();
                v.insert(group_number(group));
                self.keys.push(key);
                self.states.extend(new());
                (group, true)
            }
        }
    }

    /// Merges another thread's shard, whose dictionary codes `translate` maps to mine.
    fn absorb(&mut self, other: Shard, translate: &[Vec<u32>], width: usize) {
        let Shard {
            index,
            keys,
            states,
            ..
        } = other;
        drop(index);
        let mut states = states.into_iter();
        for mut key in keys {
            for (code, map) in key.iter_mut().zip(translate) {
                if *code >= DIRECT {
                    *code = map[(*code - DIRECT) as usize];
                }
            }
            let (group, new) = self.group_of(key, || states.by_ref().take(width));
            if !new {
                let mine = group * width;
                for (a, b) in self.states[mine..mine + width]
                    .iter_mut()
                    .zip(states.by_ref().take(width))
                {
                    a.merge(b);
                }
            }
        }
    }
}

impl Groups {
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
            self.width = stats.aggregates.len();
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
        let shard = &mut self.shards[shard_of(hash)];
        let (group, _) = shard.group_of(key, || {
            stats
                .aggregates
                .iter()
                .map(|(func, _)| AggState::new(*func))
        });
        let start = group * self.width;
        for ((_, arg), state) in stats.aggregates.iter().zip(&mut shard.states[start..]) {
            match arg {
                None => state.update(None, scratch),
                Some(e) => state.update(Some(&e.eval(ctx)), scratch),
            }
        }
    }

    pub fn merge(&mut self, other: Groups) {
        if other.is_empty() {
            return;
        }
        if self.is_empty() {
            *self = other;
            return;
        }
        let Groups {
            shards,
            dictionaries,
            width,
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

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.index.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.index.is_empty())
    }

    /// The groups in the order of their key values, for rows.
    pub(super) fn sorted(self) -> SortedGroups {
        let Groups {
            shards,
            dictionaries,
            width,
        } = self;
        // Keys become ranks for the sort, so arrays of integers compare, and back to codes after.
        let rankings: Vec<Ranking> = dictionaries.iter().map(Ranking::new).collect();
        let mut states = Vec::with_capacity(shards.len());
        let mut keys = Vec::with_capacity(shards.len());
        for shard in shards {
            // The index is done with: its memory goes before the rows take theirs.
            drop(shard.index);
            keys.push(shard.keys);
            states.push(shard.states);
        }
        let mut groups: Vec<(Key, u32, u32)> = keys
            .into_par_iter()
            .enumerate()
            .flat_map_iter(|(shard, keys)| {
                let rankings = &rankings;
                keys.into_iter().enumerate().map(move |(g, mut key)| {
                    for (code, ranking) in key.iter_mut().zip(rankings) {
                        *code = ranking.rank(*code);
                    }
                    (key, shard as u32, g as u32)
                })
            })
            .collect();
        groups.par_sort_unstable();
        let decoded = dictionaries
            .iter()
            .map(|d| d.entries.iter().map(|e| decode_key(e)).collect())
            .collect();
        SortedGroups {
            groups,
            rankings,
            decoded,
            states,
            width,
        }
    }
}

/// Groups in the order of their key values, ready to become rows: all at once (`into_rows`) or
/// one at a time as they are written (`try_for_each`), which never holds them all as rows.
#[derive(Debug, Clone)]
pub struct SortedGroups {
    /// Key ranks, shard and group number.
    groups: Vec<(Key, u32, u32)>,
    rankings: Vec<Ranking>,
    /// Each part's dictionary entries, decoded.
    decoded: Vec<Vec<Vec<Value>>>,
    /// Each shard's states.
    states: Vec<Vec<AggState>>,
    width: usize,
}

impl SortedGroups {
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Writes the row of one group into `row`: key values, then aggregates.
    fn row(&self, &(key, shard, g): &(Key, u32, u32), row: &mut Vec<Value>) {
        for ((&rank, values), ranking) in key.iter().zip(&self.decoded).zip(&self.rankings) {
            let code = ranking.code(rank);
            if code < DIRECT {
                row.push(Value::Int(i64::from(code)));
            } else {
                row.extend(values[(code - DIRECT) as usize].iter().cloned());
            }
        }
        let start = g as usize * self.width;
        row.extend(
            self.states[shard as usize][start..start + self.width]
                .iter()
                .map(AggState::finish),
        );
    }

    /// Calls `f` with each row in order. Rows are made a chunk at a time, in parallel, by a
    /// thread that works on the next chunk while `f` gets this one; memory holds two chunks.
    /// Call it from outside the rayon pool: it waits on a thread that needs the pool.
    pub fn try_for_each<E>(&self, mut f: impl FnMut(&[Value]) -> Result<(), E>) -> Result<(), E> {
        const CHUNK: usize = 1 << 14;
        std::thread::scope(|scope| {
            // A rendezvous: a chunk is handed over when `f` is ready for it.
            let (chunks, made) = std::sync::mpsc::sync_channel(0);
            scope.spawn(move || {
                for groups in self.groups.chunks(CHUNK) {
                    // A receiver gone (`f` failed) ends the work.
                    if chunks.send(self.rows(groups)).is_err() {
                        break;
                    }
                }
            });
            for rows in made {
                for row in &rows {
                    f(row)?;
                }
            }
            Ok(())
        })
    }

    /// Every row, made in parallel and in output order, so writing them reads memory in order.
    pub(super) fn into_rows(self) -> Vec<Vec<Value>> {
        self.rows(&self.groups)
    }

    fn rows(&self, groups: &[(Key, u32, u32)]) -> Vec<Vec<Value>> {
        groups
            .par_iter()
            .map(|group| {
                let mut row = Vec::with_capacity(self.decoded.len() + self.width);
                self.row(group, &mut row);
                row
            })
            .collect()
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

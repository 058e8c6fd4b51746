//! Gzip files decompressed whole, in one call to libdeflate.
//!
//! S3 delivers flow logs as gzip files of a few megabytes to a few tens. libdeflate
//! decompresses a whole member in one call about twice as fast as a streaming inflater (zlib's
//! window bookkeeping is what it skips), but it needs the whole input and room for the whole
//! output. So a file is decompressed whole only when both fit the thread's budget; anything
//! else (a larger file, a trailer that does not give the size, a damaged file) is read by the
//! streaming decoder, which reports errors the way it always has.

use std::ffi::c_void;
use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// The largest file (compressed and decompressed together) decompressed whole when no memory
/// limit says otherwise.
pub const WHOLE_MAX: usize = 64 << 20;

/// A thread's decompressor and its buffers, kept from file to file so that their memory is
/// allocated (and faulted in) once.
pub struct Inflater {
    decompressor: NonNull<libdeflate_decompressor>,
    /// The compressed file.
    pub(super) input: Vec<u8>,
    /// Its records; only the first `len` bytes of a decompression are the file's.
    output: Vec<u8>,
}

// SAFETY: the decompressor is owned by one `Inflater` and used through `&mut self` only;
// libdeflate decompressors hold no thread-affine state.
unsafe impl Send for Inflater {}

impl Inflater {
    pub fn new() -> Self {
        // SAFETY: allocating a decompressor has no preconditions; null means out of memory.
        let raw = unsafe { libdeflate_alloc_decompressor() };
        let decompressor = NonNull::new(raw)
            .expect("libdeflate could not allocate a decompressor (out of memory)");
        Inflater {
            decompressor,
            input: Vec::new(),
            output: Vec::new(),
        }
    }

    /// Bytes the buffers hold, which the thread's budget must leave room for.
    pub fn held(&self) -> usize {
        self.input.capacity() + self.output.capacity()
    }

    /// The records of the last file inflated, `len` bytes as `inflate` said.
    pub fn records(&self, len: usize) -> &[u8] {
        &self.output[..len]
    }

    /// Makes room for a gzip file of `compressed` bytes ending in `trailer` (its last four
    /// bytes), if the file and its records fit `budget` together: then `input` is empty with
    /// room for the file, and `true`. The buffers never hold more than `budget` together:
    /// buffers an earlier file left that would take it past are given up first.
    pub fn make_room(&mut self, compressed: usize, trailer: [u8; 4], budget: usize) -> bool {
        // A header is at least 10 bytes and a trailer 8.
        if compressed < 18 {
            return false;
        }
        // RFC 1952: the size of the last member's data, modulo 2^32.
        let Ok(size) = usize::try_from(u32::from_le_bytes(trailer)) else {
            return false;
        };
        if compressed.saturating_add(size) > budget {
            return false;
        }
        let input = self.input.capacity().max(compressed);
        if input + self.output.capacity().max(size) > budget {
            self.input = Vec::new();
            self.output = Vec::new();
        }
        self.input.clear();
        self.input.reserve_exact(compressed);
        if self.output.len() < size {
            self.output.reserve_exact(size - self.output.len());
            self.output.resize(size, 0);
        }
        true
    }

    /// Decompresses `input` (a gzip file of one or more members, put there after
    /// `make_room`) whole: the length of the records (see `records`), or `None` when the
    /// caller is to stream the file instead (not valid gzip, more data than the room made,
    /// or a header checksum, which libdeflate does not check and the stream does).
    pub fn inflate(&mut self) -> Option<usize> {
        const FHCRC: u8 = 0x02;
        if self.input.get(3).is_none_or(|flags| flags & FHCRC != 0) {
            return None;
        }
        // The trailer gives the size of the last member only: it is the whole size for the
        // usual single-member file. More members fit only in room an earlier, larger file
        // left; when they do not, the file is streamed.
        let output = &mut self.output[..];
        let (mut read, mut written) = (0, 0);
        while read < self.input.len() {
            let (input, out) = (&self.input[read..], &mut output[written..]);
            let (mut used, mut made) = (0usize, 0usize);
            // SAFETY: `input` and `out` are live slices that do not overlap, passed with their
            // lengths; libdeflate reads at most `input.len()` bytes, writes at most
            // `out.len()`, and sets both counts on success.
            let result = unsafe {
                libdeflate_gzip_decompress_ex(
                    self.decompressor.as_ptr(),
                    input.as_ptr().cast::<c_void>(),
                    input.len(),
                    out.as_mut_ptr().cast::<c_void>(),
                    out.len(),
                    &raw mut used,
                    &raw mut made,
                )
            };
            if result != libdeflate_result_LIBDEFLATE_SUCCESS || used == 0 {
                return None;
            }
            read += used;
            written += made;
        }
        Some(written)
    }
}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: allocated by `libdeflate_alloc_decompressor`, freed once, here.
        unsafe { libdeflate_free_decompressor(self.decompressor.as_ptr()) }
    }
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("held", &self.held())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    fn streamed(file: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(file).read_to_end(&mut out)?;
        Ok(out)
    }

    /// Puts `file` into the inflater as `files::inflate_whole` does; `false` if it does not
    /// fit `budget` (or is too short to be gzip).
    fn load(inflater: &mut Inflater, file: &[u8], budget: usize) -> bool {
        let trailer = file
            .len()
            .checked_sub(4)
            .map_or([0; 4], |at| file[at..].try_into().unwrap());
        if !inflater.make_room(file.len(), trailer, budget) {
            return false;
        }
        inflater.input.extend_from_slice(file);
        true
    }

    fn inflated(file: &[u8], budget: usize) -> Option<Vec<u8>> {
        let mut inflater = Inflater::new();
        if !load(&mut inflater, file, budget) {
            return None;
        }
        let len = inflater.inflate()?;
        Some(inflater.records(len).to_vec())
    }

    fn records(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| {
                format!(
                    "2 123456789012 eni-{i:017x} 10.0.0.1 10.0.0.2 443 {i} 6 1 40 1 2 ACCEPT OK\n"
                )
            })
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn a_file_decompresses_whole_as_it_streams() {
        let text = records(5000);
        let file = gzip(&text);
        assert_eq!(inflated(&file, WHOLE_MAX).as_deref(), Some(&text[..]));
        assert_eq!(streamed(&file).unwrap(), text);
        // An empty file is an empty member.
        assert_eq!(inflated(&gzip(b""), WHOLE_MAX).as_deref(), Some(&b""[..]));
    }

    #[test]
    fn every_member_is_read_when_they_fit() {
        let (first, second) = (records(10), records(3000));
        let mut file = gzip(&first);
        file.extend(gzip(&second));
        // The last member's size leaves no room for the first.
        assert_eq!(inflated(&file, WHOLE_MAX), None);
        // A buffer a larger file left has room for both.
        let mut inflater = Inflater::new();
        assert!(load(&mut inflater, &gzip(&records(4000)), WHOLE_MAX));
        assert!(inflater.inflate().is_some());
        assert!(load(&mut inflater, &file, WHOLE_MAX));
        let len = inflater.inflate().expect("both members fit");
        assert_eq!(inflater.records(len), [&first[..], &second[..]].concat());
        assert_eq!(inflater.records(len), streamed(&file).unwrap());
        // An empty member before the last needs no room.
        let mut file = gzip(b"");
        file.extend(gzip(&second));
        assert_eq!(inflated(&file, WHOLE_MAX), Some(second));
    }

    #[test]
    fn members_that_do_not_fit_the_trailers_size_are_left_to_streaming() {
        // Two equal members: the trailer gives room for one; the second must not be dropped.
        let text = records(100);
        let mut file = gzip(&text);
        file.extend(gzip(&text));
        assert_eq!(inflated(&file, WHOLE_MAX), None);
        assert_eq!(streamed(&file).unwrap(), [&text[..], &text[..]].concat());
    }

    #[test]
    fn files_over_the_budget_are_left_to_streaming() {
        let text = records(1000);
        let file = gzip(&text);
        let exact = file.len() + text.len();
        assert_eq!(inflated(&file, exact).as_deref(), Some(&text[..]));
        assert_eq!(inflated(&file, exact - 1), None);
    }

    #[test]
    fn damaged_files_are_left_to_streaming() {
        let text = records(1000);
        let file = gzip(&text);
        // Cut short: the trailer read is compressed bytes, and the data ends early.
        assert_eq!(inflated(&file[..file.len() / 2], WHOLE_MAX), None);
        // A flipped byte in the data: a bad checksum or a bad block.
        let mut flipped = file.clone();
        flipped[file.len() / 2] ^= 0x55;
        assert_eq!(inflated(&flipped, WHOLE_MAX), None);
        // A trailer claiming less than the data holds.
        let mut short = file.clone();
        let n = short.len();
        short[n - 4..].copy_from_slice(&((text.len() - 1) as u32).to_le_bytes());
        assert_eq!(inflated(&short, WHOLE_MAX), None);
        // Not gzip at all, and too short to be.
        assert_eq!(inflated(&text, WHOLE_MAX), None);
        assert_eq!(inflated(&file[..10], WHOLE_MAX), None);
    }

    #[test]
    fn buffers_are_kept_from_file_to_file() {
        let mut inflater = Inflater::new();
        let (big, small) = (records(2000), records(10));
        assert!(load(&mut inflater, &gzip(&big), WHOLE_MAX));
        assert_eq!(inflater.inflate(), Some(big.len()));
        assert_eq!(inflater.records(big.len()), &big[..]);
        let held = inflater.held();
        assert!(load(&mut inflater, &gzip(&small), WHOLE_MAX));
        // Only the new file's bytes are its records, whatever the buffer held before.
        assert_eq!(inflater.inflate(), Some(small.len()));
        assert_eq!(inflater.records(small.len()), &small[..]);
        assert_eq!(inflater.held(), held);
    }

    /// Buffers sized by different files never hold more than the budget together: a file
    /// with much compressed data, then one with many records, each within the budget alone.
    #[test]
    fn the_buffers_stay_within_the_budget() {
        // Digits of a counter compress poorly; repeated records compress well.
        let noisy: Vec<u8> = (0..200_000u64)
            .flat_map(|i| (i * 7919 % 1_000_003).to_le_bytes())
            .collect();
        let (dense, sparse) = (gzip(&noisy), records(20_000));
        let sparse_file = gzip(&sparse);
        let budget = dense.len() + noisy.len() + 1000;
        assert!(sparse_file.len() + sparse.len() <= budget);
        assert!(
            dense.len() + sparse.len() > budget,
            "the two files' largest buffers exceed it"
        );
        let mut inflater = Inflater::new();
        for file in [&dense, &sparse_file, &dense] {
            assert!(load(&mut inflater, file, budget));
            let len = inflater.inflate().unwrap();
            assert_eq!(inflater.records(len), streamed(file).unwrap());
            assert!(inflater.held() <= budget, "{} > {budget}", inflater.held());
        }
    }

    /// A header checksum (FHCRC) is left to the stream, which checks it.
    #[test]
    fn header_checksums_are_left_to_streaming() {
        let text = records(10);
        let mut e = flate2::GzBuilder::new()
            .comment("c")
            .write(Vec::new(), flate2::Compression::default());
        e.write_all(&text).unwrap();
        let mut file = e.finish().unwrap();
        assert_eq!(inflated(&file, WHOLE_MAX).as_deref(), Some(&text[..]));
        // The same file with FHCRC set and a header checksum after the comment.
        let end = 10 + file[10..].iter().position(|&b| b == 0).unwrap() + 1;
        let crc = (crc32(&{
            let mut h = file[..end].to_vec();
            h[3] |= 0x02;
            h
        }) & 0xffff) as u16;
        file[3] |= 0x02;
        file.splice(end..end, crc.to_le_bytes());
        assert_eq!(streamed(&file).unwrap(), text);
        assert_eq!(inflated(&file, WHOLE_MAX), None);
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = flate2::Crc::new();
        crc.update(bytes);
        crc.sum()
    }
}

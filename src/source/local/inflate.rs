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

    /// Decompresses `self.input` (a gzip file of one or more members) whole, if its input and
    /// output together take at most `budget` bytes: the length of the records (see
    /// `records`), or `None` when the caller is to stream the file instead (too large, unknown
    /// size, or not valid gzip).
    pub fn inflate(&mut self, budget: usize) -> Option<usize> {
        let size = last_member_size(&self.input)?;
        if self.input.len().saturating_add(size) > budget {
            return None;
        }
        if self.output.len() < size {
            self.output.resize(size, 0);
        }
        // The trailer gives the size of the last member only (modulo 2^32): it is the whole
        // size for the usual single-member file. More members fit only in the room an earlier,
        // larger file left (every size that made the buffer passed the budget); when they do
        // not, the file is streamed.
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

/// The decompressed size of a gzip file's last member, from its trailer (RFC 1952: the last
/// four bytes, little-endian, the size modulo 2^32); `None` if the file is too short to be gzip.
fn last_member_size(file: &[u8]) -> Option<usize> {
    // A header is at least 10 bytes and a trailer 8.
    if file.len() < 18 {
        return None;
    }
    let trailer: [u8; 4] = file[file.len() - 4..].try_into().ok()?;
    usize::try_from(u32::from_le_bytes(trailer)).ok()
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

    fn inflated(file: &[u8], budget: usize) -> Option<Vec<u8>> {
        let mut inflater = Inflater::new();
        inflater.input = file.to_vec();
        let len = inflater.inflate(budget)?;
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
        inflater.input = gzip(&records(4000));
        assert!(inflater.inflate(WHOLE_MAX).is_some());
        inflater.input.clone_from(&file);
        let len = inflater.inflate(WHOLE_MAX).expect("both members fit");
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
        inflater.input = gzip(&big);
        assert_eq!(inflater.inflate(WHOLE_MAX), Some(big.len()));
        assert_eq!(inflater.records(big.len()), &big[..]);
        let held = inflater.held();
        inflater.input.clear();
        inflater.input.extend(gzip(&small));
        // Only the new file's bytes are its records, whatever the buffer held before.
        assert_eq!(inflater.inflate(WHOLE_MAX), Some(small.len()));
        assert_eq!(inflater.records(small.len()), &small[..]);
        assert_eq!(inflater.held(), held);
    }
}

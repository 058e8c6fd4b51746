//! Finding flow-log files and reading them as lines.
//!
//! Owns file discovery (files and folders, recursive, in a stable order), telling plain text,
//! gzip (multi-member, as S3 writes it) and CloudWatch Logs subscription JSON apart by their
//! first bytes, and cutting large plain files into chunks that start on line boundaries so
//! both cores read one big file.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use memchr::{memchr_iter, memrchr};

use super::inflate::Inflater;

/// Plain files above this size are read as several chunks in parallel.
pub const CHUNK_BYTES: u64 = 32 * 1024 * 1024;
const READ_BUFFER: usize = 1024 * 1024;
/// In-memory records are evaluated in units of this many, in parallel.
const MESSAGES_PER_UNIT: u64 = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: no such file or folder")]
    NotFound { path: PathBuf },
    #[error("{path}: cannot read: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not valid gzip: {source} (is the file complete?)")]
    BadGzip {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path}: starts with `{{` but is not a CloudWatch Logs subscription payload (`logEvents`): {reason}"
    )]
    BadJson { path: PathBuf, reason: String },
    #[error(
        "{path} is Parquet, and this flowsift was built without the `parquet` feature; rebuild with default features"
    )]
    ParquetDisabled { path: PathBuf },
    #[error("{path}: its Parquet columns are not a flow-log layout: {reason}")]
    ParquetColumns { path: PathBuf, reason: String },
    #[cfg(feature = "parquet")]
    #[error(transparent)]
    Parquet(#[from] super::parquet::ParquetError),
    /// Groups beyond the memory limit could not be written to disk.
    #[error(transparent)]
    Spill(#[from] super::eval::SpillError),
    #[error(
        "no flow-log files found in {paths}; folders are searched for *.log, *.log.gz, *.gz, *.txt and *.parquet files"
    )]
    NoFiles { paths: String },
}

/// How a file's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Plain,
    Gzip,
}

/// How a file's records are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One record per line, perhaps with header lines.
    Lines,
    /// A CloudWatch Logs subscription payload: `{"logEvents": [{"message": ...}]}`, possibly
    /// several concatenated (as Firehose delivers them).
    SubscriptionJson,
    /// Apache Parquet, as S3 delivers flow logs when asked to.
    Parquet,
    /// Records already in memory (fetched from CloudWatch Logs); a unit's range indexes them.
    Messages,
}

#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    pub size: u64,
    pub encoding: Encoding,
    pub layout: Layout,
}

/// Lists the files behind the given paths: files as given, folders recursively, each folder's
/// entries in name order so runs are reproducible. Folders skip hidden entries and files whose
/// names do not look like flow logs; the count of those is returned.
pub fn discover(paths: &[PathBuf]) -> Result<(Vec<InputFile>, usize), InputError> {
    let mut files = Vec::new();
    let mut skipped = 0;
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => InputError::NotFound { path: path.clone() },
            _ => InputError::Unreadable {
                path: path.clone(),
                source: e,
            },
        })?;
        if meta.is_dir() {
            walk(path, &mut files, &mut skipped)?;
        } else {
            files.push(sniff(path, meta.len())?);
        }
    }
    if files.is_empty() {
        let paths = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(InputError::NoFiles { paths });
    }
    Ok((files, skipped))
}

fn walk(dir: &Path, files: &mut Vec<InputFile>, skipped: &mut usize) -> Result<(), InputError> {
    let unreadable = |source| InputError::Unreadable {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(|source| InputError::Unreadable {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(&path, files, skipped)?;
        } else if looks_like_flow_log(&name) {
            files.push(sniff(&path, meta.len())?);
        } else {
            *skipped += 1;
        }
    }
    Ok(())
}

fn looks_like_flow_log(name: &str) -> bool {
    [".log", ".gz", ".txt", ".parquet"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Decides encoding and layout from the first bytes, never from the name.
fn sniff(path: &Path, size: u64) -> Result<InputFile, InputError> {
    let unreadable = |source| InputError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let mut head = [0u8; 4];
    let mut file = File::open(path).map_err(unreadable)?;
    let n = read_up_to(&mut file, &mut head).map_err(unreadable)?;
    if &head[..n] == b"PAR1" {
        return Ok(InputFile {
            path: path.to_path_buf(),
            size,
            encoding: Encoding::Plain,
            layout: Layout::Parquet,
        });
    }
    let n = n.min(2);
    let encoding = if n == 2 && head[..2] == [0x1f, 0x8b] {
        Encoding::Gzip
    } else {
        Encoding::Plain
    };
    let first = match encoding {
        Encoding::Plain => {
            let mut first = [0u8; 64];
            file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
            let n = read_up_to(&mut file, &mut first).map_err(unreadable)?;
            first[..n]
                .iter()
                .copied()
                .find(|b| !b.is_ascii_whitespace())
        }
        Encoding::Gzip => {
            file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
            let mut decoder = MultiGzDecoder::new(BufReader::new(file));
            let mut first = [0u8; 64];
            let n = read_up_to(&mut decoder, &mut first).map_err(|source| InputError::BadGzip {
                path: path.to_path_buf(),
                source,
            })?;
            first[..n]
                .iter()
                .copied()
                .find(|b| !b.is_ascii_whitespace())
        }
    };
    let layout = if first == Some(b'{') {
        Layout::SubscriptionJson
    } else {
        Layout::Lines
    };
    Ok(InputFile {
        path: path.to_path_buf(),
        size,
        encoding,
        layout,
    })
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A unit of parallel work: a whole file, or one chunk of a large plain file.
#[derive(Debug, Clone)]
pub struct Unit {
    pub file: usize,
    /// Byte range of a plain file's chunk; `None` for the whole file.
    pub range: Option<(u64, u64)>,
}

impl Unit {
    pub fn starts_file(&self) -> bool {
        self.range.is_none_or(|(start, _)| start == 0)
    }
}

/// Cuts the files into units: large plain line files into byte ranges, records in memory into
/// ranges of records, everything else whole.
pub fn units(files: &[InputFile], chunk_bytes: u64) -> Vec<Unit> {
    let mut units = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let chunkable = file.encoding == Encoding::Plain && file.layout == Layout::Lines;
        let step = match file.layout {
            Layout::Messages => Some(MESSAGES_PER_UNIT),
            _ if chunkable && chunk_bytes > 0 && file.size > chunk_bytes => Some(chunk_bytes),
            _ => None,
        };
        let Some(step) = step else {
            units.push(Unit {
                file: i,
                range: None,
            });
            continue;
        };
        let mut start = 0;
        while start < file.size {
            let end = (start + step).min(file.size);
            units.push(Unit {
                file: i,
                range: Some((start, end)),
            });
            start = end;
        }
    }
    units
}

/// A line as read: its text, or its bytes when they are not UTF-8.
pub type LineText<'a> = Result<&'a str, &'a [u8]>;

fn line_text(bytes: &[u8]) -> LineText<'_> {
    std::str::from_utf8(bytes).map_err(|_| bytes)
}

/// Calls `f` for each line of the unit (without its `\n`), and `progress` with the number
/// of bytes read at each read (up to a MiB); the reading stops when `progress` says so. A
/// chunk owns the lines that start inside its range.
pub fn for_each_line(
    file: &InputFile,
    range: Option<(u64, u64)>,
    mut f: impl FnMut(LineText<'_>),
    mut progress: impl FnMut(u64) -> ControlFlow<()>,
) -> Result<(), InputError> {
    let unreadable = |source| InputError::Unreadable {
        path: file.path.clone(),
        source,
    };
    let mut handle = File::open(&file.path).map_err(unreadable)?;
    match file.encoding {
        Encoding::Gzip => {
            let decoder = MultiGzDecoder::new(BufReader::with_capacity(READ_BUFFER, handle));
            let mut counting = CountingReader {
                inner: decoder,
                compressed: 0,
            };
            split_lines(&mut counting, 0, None, false, &mut f, &mut progress).map_err(|source| {
                InputError::BadGzip {
                    path: file.path.clone(),
                    source,
                }
            })
        }
        Encoding::Plain => {
            let (start, end) = range.unwrap_or((0, file.size));
            let skip_first = start > 0;
            let from = start.saturating_sub(1);
            handle.seek(SeekFrom::Start(from)).map_err(unreadable)?;
            split_lines(
                &mut handle,
                from,
                Some(end),
                skip_first,
                &mut f,
                &mut progress,
            )
            .map_err(unreadable)
        }
    }
}

/// Reports progress by decompressed bytes for gzip: the size on disk is only an estimate.
struct CountingReader<R> {
    inner: R,
    compressed: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.compressed += n as u64;
        Ok(n)
    }
}

fn split_lines(
    reader: &mut impl Read,
    mut pos: u64,
    end: Option<u64>,
    mut skip_first: bool,
    f: &mut impl FnMut(LineText<'_>),
    progress: &mut impl FnMut(u64) -> ControlFlow<()>,
) -> io::Result<()> {
    let mut buf = vec![0u8; READ_BUFFER];
    let mut filled = 0;
    let mut line_start = 0;
    let mut scan = 0;
    loop {
        if let Some(offset) = memrchr(b'\n', &buf[scan..filled]) {
            let block = &buf[line_start..scan + offset + 1];
            match block_lines(block, &mut pos, end, &mut skip_first, f) {
                Some(used) => line_start += used,
                None => return Ok(()),
            }
        }
        scan = filled;
        if line_start > 0 {
            buf.copy_within(line_start..filled, 0);
            filled -= line_start;
            scan -= line_start;
            line_start = 0;
        }
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = loop {
            match reader.read(&mut buf[filled..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if progress(n as u64).is_break() {
            return Ok(());
        }
        if n == 0 {
            let last_is_ours = end.is_none_or(|e| pos < e);
            if filled > 0 && last_is_ours && !skip_first {
                f(line_text(&buf[..filled]));
            }
            return Ok(());
        }
        filled += n;
    }
}

/// Hands `f` the lines of `block`, which ends with a newline, from `*pos` (its offset in the
/// file) on, skipping the first if `skip_first`; returns the bytes used, or `None` at the first
/// line that starts at or past `end` (the next chunk's). One UTF-8 check for the whole block is
/// much cheaper than one a line; only a block that fails it is checked line by line.
fn block_lines(
    block: &[u8],
    pos: &mut u64,
    end: Option<u64>,
    skip_first: &mut bool,
    f: &mut impl FnMut(LineText<'_>),
) -> Option<usize> {
    let text = std::str::from_utf8(block).ok();
    let mut start = 0;
    for newline in memchr_iter(b'\n', block) {
        if end.is_some_and(|e| *pos >= e) {
            return None;
        }
        if *skip_first {
            *skip_first = false;
        } else {
            f(match text {
                Some(t) => Ok(&t[start..newline]),
                None => line_text(&block[start..newline]),
            });
        }
        *pos += (newline + 1 - start) as u64;
        start = newline + 1;
    }
    Some(start)
}

/// Calls `f` for each line of a whole decompressed file, as `for_each_line` does for a stream.
pub fn each_line(records: &[u8], mut f: impl FnMut(LineText<'_>)) {
    let complete = memrchr(b'\n', records).map_or(0, |i| i + 1);
    let (mut pos, mut skip_first) = (0, false);
    block_lines(
        &records[..complete],
        &mut pos,
        None,
        &mut skip_first,
        &mut f,
    );
    if complete < records.len() {
        f(line_text(&records[complete..]));
    }
}

/// Reads a gzip file into the inflater and decompresses it whole if it fits `budget` (see
/// `Inflater::inflate`): the length of its records, or `None` to stream it with
/// `for_each_line`.
pub fn inflate_whole(
    file: &InputFile,
    inflater: &mut Inflater,
    budget: usize,
) -> Result<Option<usize>, InputError> {
    if file.encoding != Encoding::Gzip || file.layout != Layout::Lines {
        return Ok(None);
    }
    // The size on disk is known; the trailer (its last four bytes) tells the records' size.
    let Ok(compressed) = usize::try_from(file.size) else {
        return Ok(None);
    };
    if compressed < 18 || compressed >= budget {
        return Ok(None);
    }
    let unreadable = |source| InputError::Unreadable {
        path: file.path.clone(),
        source,
    };
    let mut handle = File::open(&file.path).map_err(unreadable)?;
    let mut trailer = [0u8; 4];
    handle
        .seek(SeekFrom::Start(file.size - 4))
        .and_then(|_| handle.read_exact(&mut trailer))
        .and_then(|()| handle.seek(SeekFrom::Start(0)))
        .map_err(unreadable)?;
    if !inflater.make_room(compressed, trailer, budget) {
        return Ok(None);
    }
    // At most the size listed: a file that changed since is streamed as it is now.
    let read = (&mut handle)
        .take(file.size)
        .read_to_end(&mut inflater.input)
        .map_err(unreadable)?;
    let mut more = [0u8; 1];
    if read != compressed || handle.read(&mut more).map_err(unreadable)? != 0 {
        return Ok(None);
    }
    Ok(inflater.inflate())
}

/// The first non-blank line of a plain file (up to 64 KiB), to learn the layout a chunk in
/// the middle of the file inherits from the header.
pub fn first_line(file: &InputFile) -> Result<Option<Vec<u8>>, InputError> {
    let mut handle = File::open(&file.path).map_err(|source| InputError::Unreadable {
        path: file.path.clone(),
        source,
    })?;
    let mut head = vec![0u8; 64 * 1024];
    let n = read_up_to(&mut handle, &mut head).map_err(|source| InputError::Unreadable {
        path: file.path.clone(),
        source,
    })?;
    Ok(head[..n]
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
        .map(<[u8]>::to_vec))
}

/// Reads the messages of a subscription payload (possibly several concatenated objects).
pub fn subscription_messages(file: &InputFile) -> Result<Vec<String>, InputError> {
    let unreadable = |source| InputError::Unreadable {
        path: file.path.clone(),
        source,
    };
    let handle = File::open(&file.path).map_err(unreadable)?;
    let mut text = Vec::new();
    match file.encoding {
        Encoding::Gzip => MultiGzDecoder::new(BufReader::new(handle))
            .read_to_end(&mut text)
            .map_err(|source| InputError::BadGzip {
                path: file.path.clone(),
                source,
            })?,
        Encoding::Plain => BufReader::new(handle)
            .read_to_end(&mut text)
            .map_err(unreadable)?,
    };
    let bad = |reason: String| InputError::BadJson {
        path: file.path.clone(),
        reason,
    };
    let mut messages = Vec::new();
    for object in serde_json::Deserializer::from_slice(&text).into_iter::<serde_json::Value>() {
        let object = object.map_err(|e| bad(e.to_string()))?;
        if object.get("messageType").and_then(|t| t.as_str()) == Some("CONTROL_MESSAGE") {
            continue;
        }
        let events = object
            .get("logEvents")
            .and_then(|e| e.as_array())
            .ok_or_else(|| bad("no `logEvents` array".to_owned()))?;
        for event in events {
            let message = event
                .get("message")
                .and_then(|m| m.as_str())
                .ok_or_else(|| bad("a log event has no `message` string".to_owned()))?;
            messages.push(message.to_owned());
        }
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines_of(data: &[u8], range: Option<(u64, u64)>) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.log");
        std::fs::write(&path, data).unwrap();
        let file = sniff(&path, data.len() as u64).unwrap();
        let mut out = Vec::new();
        for_each_line(
            &file,
            range,
            |l| out.push(l.map_or_else(|b| String::from_utf8_lossy(b).into_owned(), str::to_owned)),
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
        out
    }

    #[test]
    fn chunks_partition_the_lines_exactly() {
        let data = b"aa\nbbbb\n\ncc\nddd";
        let all = lines_of(data, None);
        assert_eq!(all, vec!["aa", "bbbb", "", "cc", "ddd"]);
        for cut in 0..=data.len() as u64 {
            let mut joined = lines_of(data, Some((0, cut)));
            joined.extend(lines_of(data, Some((cut, data.len() as u64))));
            assert_eq!(joined, all, "cut at {cut}");
        }
    }

    /// A decompressed file gives the lines a stream of it gives: a last line without a newline,
    /// blank lines, carriage returns left for the caller, and bytes that are not UTF-8.
    #[test]
    fn a_whole_file_gives_the_lines_a_stream_does() {
        let texts: [&[u8]; 6] = [
            b"",
            b"\n",
            b"aa\nbbbb\n\ncc\nddd",
            b"aa\r\nbb\r\n",
            b"ok\n\xff\xfe not text\nok again\n",
            b"no newline at all",
        ];
        for text in texts {
            let mut whole = Vec::new();
            each_line(text, |l| {
                whole.push(
                    l.map_or_else(|b| String::from_utf8_lossy(b).into_owned(), str::to_owned),
                );
            });
            assert_eq!(
                whole,
                lines_of(text, None),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    /// A gzip file is decompressed whole when it fits the budget, and is left to the stream
    /// (which reports damage as it always has) when it does not.
    #[test]
    fn gzip_files_within_the_budget_are_decompressed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.log.gz");
        let text = "one\ntwo\n".repeat(1000);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        let bytes = enc.finish().unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let file = sniff(&path, bytes.len() as u64).unwrap();
        let mut inflater = Inflater::new();
        let len = inflate_whole(&file, &mut inflater, 1 << 20).unwrap();
        assert_eq!(len, Some(text.len()));
        assert_eq!(inflater.records(text.len()), text.as_bytes());
        let too_small = bytes.len() + text.len() - 1;
        assert_eq!(
            inflate_whole(&file, &mut inflater, too_small).unwrap(),
            None
        );
        // Plain files are not for it.
        let plain = dir.path().join("f.log");
        std::fs::write(&plain, &text).unwrap();
        let plain = sniff(&plain, text.len() as u64).unwrap();
        assert_eq!(inflate_whole(&plain, &mut inflater, 1 << 20).unwrap(), None);
    }

    #[test]
    fn reads_multi_member_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.log.gz");
        let mut bytes = Vec::new();
        for part in ["one\ntwo\n", "three\n"] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part.as_bytes()).unwrap();
            bytes.extend(enc.finish().unwrap());
        }
        std::fs::write(&path, &bytes).unwrap();
        let file = sniff(&path, bytes.len() as u64).unwrap();
        assert_eq!(file.encoding, Encoding::Gzip);
        let mut out = Vec::new();
        for_each_line(
            &file,
            None,
            |l| out.push(l.map_or_else(|b| String::from_utf8_lossy(b).into_owned(), str::to_owned)),
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
        assert_eq!(out, vec!["one", "two", "three"]);
    }

    #[test]
    fn truncated_gzip_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.log.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&[b'x'; 10000]).unwrap();
        let bytes = enc.finish().unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let file = sniff(&path, 0).unwrap();
        let err = for_each_line(&file, None, |_| {}, |_| ControlFlow::Continue(())).unwrap_err();
        assert!(matches!(err, InputError::BadGzip { .. }), "{err}");
    }

    #[test]
    fn discovery_recurses_in_name_order_and_skips_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("AWSLogs/1/vpcflowlogs/us-east-1");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(nested.join("b.log"), "x\n").unwrap();
        std::fs::write(nested.join("a.log"), "x\n").unwrap();
        std::fs::write(dir.path().join("README.md"), "x\n").unwrap();
        std::fs::write(dir.path().join(".hidden.log"), "x\n").unwrap();
        let (files, skipped) = discover(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a.log", "b.log"]);
        assert_eq!(skipped, 1);
        assert!(matches!(
            discover(&[dir.path().join("missing")]),
            Err(InputError::NotFound { .. })
        ));
    }
}

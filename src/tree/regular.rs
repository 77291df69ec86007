//! Reading a file that is not in the tree (a project file `import` reads, a model file, an
//! agent's transcript) as safely as the tree's own files are read: only a regular file, opened
//! without following a final symbolic link and without blocking (a FIFO or a device is refused,
//! never waited on), read up to the size it had when it was opened and never past `limit`.
//!
//! A link to `/dev/zero` or a FIFO named as a transcript used to be read until memory ran out
//! or the agent killed the hook (issue 20).

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Why [`read_regular`] read nothing; each displays as a sentence about "it" (the file).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The final component is a symbolic link.
    #[error("it is a symbolic link, which memtree does not follow here")]
    Link,
    /// A FIFO, a device, a socket or a folder.
    #[error("it is not a regular file (a FIFO, device or folder is never read)")]
    NotRegular,
    /// Larger than the limit.
    #[error("it is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The file's size, in bytes.
        size: u64,
        /// The limit, in bytes.
        limit: u64,
    },
    /// Opening or reading failed.
    #[error("it cannot be read: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the regular file at `path`: at most `limit` bytes, and no more than its size when it
/// was opened (a file that grows meanwhile is read up to that size).
///
/// # Errors
/// [`ReadError`]: a final link (refused by the kernel, `ELOOP`), not a regular file, over
/// `limit` bytes, or an I/O error.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                ReadError::Link
            } else {
                ReadError::Io(e)
            }
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(meta.len()).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The last `limit` bytes of the regular file at `path` (an agent's session transcript, which
/// only grows at its end): opened without blocking, following links (the file is the user's,
/// named by their agent), refused unless it is a regular file. A FIFO named as a transcript
/// used to block the hook until the agent killed it.
///
/// Returns the bytes and how many bytes before them were skipped (0: the whole file).
///
/// # Errors
/// [`ReadError::NotRegular`] or [`ReadError::Io`].
pub fn read_tail(path: &Path, limit: u64) -> Result<(Vec<u8>, u64), ReadError> {
    use std::io::{Seek as _, SeekFrom};
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    let skip = meta.len().saturating_sub(limit);
    file.seek(SeekFrom::Start(skip))?;
    let mut bytes = Vec::with_capacity((meta.len() - skip) as usize);
    file.take(meta.len() - skip).read_to_end(&mut bytes)?;
    Ok((bytes, skip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.md");
        fs::write(&file, "hello").unwrap();
        assert_eq!(read_regular(&file, 5).unwrap(), b"hello");
        assert_eq!(
            read_regular(&file, 4).unwrap_err().to_string(),
            "it is 5 bytes, over the limit of 4 bytes"
        );
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert_eq!(
            read_regular(&link, 1 << 30).unwrap_err().to_string(),
            "it is a symbolic link, which memtree does not follow here"
        );
        let e = read_regular(Path::new("/dev/zero"), 1 << 30)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("it is not a regular file"), "{e}");
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let e = read_regular(&fifo, 1 << 30).unwrap_err().to_string();
        assert!(e.starts_with("it is not a regular file"), "{e}");
        assert!(matches!(read_tail(&fifo, 10), Err(ReadError::NotRegular)));
        assert_eq!(read_tail(&file, 3).unwrap(), (b"llo".to_vec(), 2));
    }
}

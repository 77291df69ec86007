//! A tantivy [`Directory`] over a folder this process may only read.
//!
//! Opening a tantivy index takes a lock file (`.tantivy-meta.lock`) while the reader loads
//! the segment list, so that a writer's garbage collection cannot delete a segment being
//! opened. In a cache folder the process cannot write (a read-only checkout, another user's
//! tree), taking that lock fails and so would every query. This wrapper reads through an
//! [`MmapDirectory`] and grants locks without creating files; every write is refused. It is
//! used only after the write lock of the tree could not be taken because the cache cannot be
//! written, so no memtree writer can be running in the same cache.

use std::io;
use std::path::Path;
use std::sync::Arc;

use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, WatchCallback, WatchHandle, WritePtr,
};

/// See the module doc.
#[derive(Debug, Clone)]
pub struct ReadOnlyDirectory {
    inner: MmapDirectory,
}

impl ReadOnlyDirectory {
    /// Opens `path` for reading.
    ///
    /// # Errors
    /// When the folder does not exist or cannot be read.
    pub fn open(path: &Path) -> tantivy::Result<ReadOnlyDirectory> {
        let inner = MmapDirectory::open(path)
            .map_err(|e| tantivy::TantivyError::SystemError(e.to_string()))?;
        Ok(ReadOnlyDirectory { inner })
    }
}

fn refused() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "the index is open read-only",
    )
}

impl Directory for ReadOnlyDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.inner.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        Err(DeleteError::IoError {
            io_error: Arc::new(refused()),
            filepath: path.to_path_buf(),
        })
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        Err(OpenWriteError::IoError {
            io_error: Arc::new(refused()),
            filepath: path.to_path_buf(),
        })
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    fn atomic_write(&self, _path: &Path, _data: &[u8]) -> io::Result<()> {
        Err(refused())
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, _lock: &Lock) -> Result<DirectoryLock, LockError> {
        Ok(DirectoryLock::from(Box::new(())))
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

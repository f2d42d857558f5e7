//! Errors of the packager, each saying which path or argument was at fault.

use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// The command line could not be understood.
    Usage(String),
    /// A `--preload` source does not exist (or cannot be stat'ed).
    MissingSource { path: PathBuf, source: io::Error },
    /// A directory could not be listed.
    ReadDir { path: PathBuf, source: io::Error },
    /// A file could not be opened or read.
    ReadFile { path: PathBuf, source: io::Error },
    /// An output could not be written.
    Write { path: PathBuf, source: io::Error },
    /// A host name is not valid UTF-8; the emscripten FS names are JS strings.
    NonUtf8Name(PathBuf),
    /// A destination path is not usable inside the emscripten FS.
    BadDestination { dst: String, reason: &'static str },
    /// Two inputs map to the same destination.
    Collision {
        dst: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// A destination is wanted both as a file and as a directory.
    FileDirConflict { dst: String, file: PathBuf },
    /// Something that is neither a regular file nor a directory (fifo, socket, device).
    Unsupported { path: PathBuf, kind: &'static str },
    /// A directory symlink points at one of its own ancestors.
    SymlinkLoop(PathBuf),
    /// There is nothing to pack.
    Empty,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "usage error: {msg}"),
            Error::MissingSource { path, source } => {
                write!(f, "preload source {} does not exist or cannot be read: {source}", path.display())
            }
            Error::ReadDir { path, source } => write!(f, "cannot list directory {}: {source}", path.display()),
            Error::ReadFile { path, source } => write!(f, "cannot read file {}: {source}", path.display()),
            Error::Write { path, source } => write!(f, "cannot write {}: {source}", path.display()),
            Error::NonUtf8Name(path) => {
                write!(f, "{} has a name that is not valid UTF-8, which the emscripten FS cannot hold", path.display())
            }
            Error::BadDestination { dst, reason } => write!(f, "bad destination path {dst:?}: {reason}"),
            Error::Collision { dst, first, second } => write!(
                f,
                "destination {dst} is given twice: by {} and by {}",
                first.display(),
                second.display()
            ),
            Error::FileDirConflict { dst, file } => write!(
                f,
                "destination {dst} would be a file (from {}) and also a directory holding other files",
                file.display()
            ),
            Error::Unsupported { path, kind } => {
                write!(f, "{} is a {kind}; only regular files and directories can be packed", path.display())
            }
            Error::SymlinkLoop(path) => write!(f, "{} is a symlink to one of its own parent directories", path.display()),
            Error::Empty => write!(f, "nothing to pack: no --preload source holds any file or directory"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::MissingSource { source, .. }
            | Error::ReadDir { source, .. }
            | Error::ReadFile { source, .. }
            | Error::Write { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

//! The `.data` file: every packed file's bytes back to back, in manifest
//! order, exactly as file_packager.py lays them out; the loader slices it by
//! the `[start, end)` offsets recorded in the metadata.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::tree::FileEntry;

/// One file's place in the `.data` file (the metadata's `files[]` entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackedFile {
    pub filename: String,
    pub start: u64,
    pub end: u64,
}

/// What writing the `.data` file produced.
#[derive(Debug)]
pub struct DataSummary {
    pub files: Vec<PackedFile>,
    pub size: u64,
    /// SHA-256 of the whole `.data`, hex. Used as the package UUID, so a
    /// cached copy is reused exactly when the bytes are the same.
    pub sha256: String,
}

/// Writes `target`, going through a temporary file in the same directory so a
/// failed run never leaves a truncated package behind.
pub fn write_data(target: &Path, files: &[FileEntry]) -> Result<DataSummary> {
    let tmp = target.with_extension("data.partial");
    let result = write_to(&tmp, files);
    match result {
        Ok(summary) => {
            fs::rename(&tmp, target).map_err(|source| Error::Write {
                path: target.to_path_buf(),
                source,
            })?;
            Ok(summary)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write_to(path: &Path, files: &[FileEntry]) -> Result<DataSummary> {
    let out = File::create(path).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = BufWriter::new(out);
    let mut hasher = Sha256::new();
    let mut offset = 0u64;
    let mut packed = Vec::with_capacity(files.len());
    let mut buf = vec![0u8; 1 << 16];
    for entry in files {
        let mut input = File::open(&entry.src).map_err(|source| Error::ReadFile {
            path: entry.src.clone(),
            source,
        })?;
        let start = offset;
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::ReadFile {
                        path: entry.src.clone(),
                        source,
                    })
                }
            };
            out.write_all(&buf[..n]).map_err(|source| Error::Write {
                path: path.to_path_buf(),
                source,
            })?;
            hasher.update(&buf[..n]);
            offset += n as u64;
        }
        packed.push(PackedFile {
            filename: entry.dst.clone(),
            start,
            end: offset,
        });
    }
    out.flush().map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(DataSummary {
        files: packed,
        size: offset,
        sha256: hex(&hasher.finalize()),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_concatenated_with_offsets() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("a"), b"hello").unwrap();
        fs::write(t.path().join("e"), b"").unwrap();
        fs::write(t.path().join("b"), [0u8, 255, 10]).unwrap();
        let entries: Vec<FileEntry> = ["a", "e", "b"]
            .iter()
            .map(|n| FileEntry {
                dst: format!("/p/{n}"),
                src: t.path().join(n),
            })
            .collect();
        let target = t.path().join("out.data");
        let s = write_data(&target, &entries).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"hello\x00\xff\n");
        assert_eq!(s.size, 8);
        assert_eq!(
            s.files,
            vec![
                PackedFile {
                    filename: "/p/a".into(),
                    start: 0,
                    end: 5
                },
                PackedFile {
                    filename: "/p/e".into(),
                    start: 5,
                    end: 5
                },
                PackedFile {
                    filename: "/p/b".into(),
                    start: 5,
                    end: 8
                },
            ]
        );
        assert_eq!(s.sha256, hex(&Sha256::digest(b"hello\x00\xff\n")));
        assert!(!t.path().join("out.data.partial").exists());
    }

    #[test]
    fn vanished_input_leaves_no_output() {
        let t = tempfile::tempdir().unwrap();
        let entries = vec![FileEntry {
            dst: "/x".into(),
            src: t.path().join("gone"),
        }];
        let target = t.path().join("out.data");
        let err = write_data(&target, &entries).unwrap_err();
        assert!(matches!(err, Error::ReadFile { .. }), "{err}");
        assert!(!target.exists());
        assert!(!t.path().join("out.data.partial").exists());
    }
}

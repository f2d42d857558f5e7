//! Expands `--preload` specs into the tree that will exist in the emscripten
//! FS: every directory and every file with the host path it comes from.
//!
//! Unlike file_packager.py, which walks in directory-listing order and keeps
//! the first of two files with the same destination silently, the manifest is
//! sorted (so output is reproducible) and conflicting inputs are errors.
//! Empty directories are kept too, so the packed tree is the host tree.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::spec::{join, split_parent, PreloadSpec};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    /// A directory, from the host or implied by a file's destination.
    Dir,
    File(PathBuf),
}

/// The sorted set of directories and files to pack.
#[derive(Debug, Default)]
pub struct Manifest {
    nodes: BTreeMap<String, Node>,
}

/// One file to pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub dst: String,
    pub src: PathBuf,
}

impl Manifest {
    pub fn from_specs(specs: &[PreloadSpec]) -> Result<Self> {
        let mut manifest = Manifest::default();
        for spec in specs {
            manifest.add_spec(spec)?;
        }
        if manifest.nodes.is_empty() {
            return Err(Error::Empty);
        }
        Ok(manifest)
    }

    /// Directories in creation order (parents first), without `/`.
    pub fn dirs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, n)| matches!(n, Node::Dir))
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// Files sorted by destination path.
    pub fn files(&self) -> Vec<FileEntry> {
        self.nodes
            .iter()
            .filter_map(|(dst, n)| match n {
                Node::File(src) => Some(FileEntry {
                    dst: dst.clone(),
                    src: src.clone(),
                }),
                Node::Dir => None,
            })
            .collect()
    }

    fn add_spec(&mut self, spec: &PreloadSpec) -> Result<()> {
        let meta = fs::metadata(&spec.src).map_err(|source| Error::MissingSource {
            path: spec.src.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut ancestors = HashSet::new();
            self.add_dir(&spec.src, &spec.dst, &mut ancestors)
        } else if meta.is_file() {
            if spec.dst == "/" {
                return Err(Error::BadDestination {
                    dst: spec.dst.clone(),
                    reason: "a file cannot replace /",
                });
            }
            self.add_file(&spec.src, &spec.dst)
        } else {
            Err(Error::Unsupported {
                path: spec.src.clone(),
                kind: kind_name(&meta),
            })
        }
    }

    fn add_dir(&mut self, src: &Path, dst: &str, ancestors: &mut HashSet<PathBuf>) -> Result<()> {
        // Symlinks are followed (as file_packager does for files); a link back
        // to an ancestor would recurse forever, so it is refused.
        let canonical = fs::canonicalize(src).map_err(|source| Error::ReadDir {
            path: src.to_path_buf(),
            source,
        })?;
        if !ancestors.insert(canonical.clone()) {
            return Err(Error::SymlinkLoop(src.to_path_buf()));
        }
        self.ensure_dir(dst)?;
        let mut children = Vec::new();
        let listing = fs::read_dir(src).map_err(|source| Error::ReadDir {
            path: src.to_path_buf(),
            source,
        })?;
        for entry in listing {
            let entry = entry.map_err(|source| Error::ReadDir {
                path: src.to_path_buf(),
                source,
            })?;
            let path = entry.path();
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| Error::NonUtf8Name(path.clone()))?;
            children.push((name, path));
        }
        children.sort();
        for (name, path) in children {
            let child_dst = join(dst, &name);
            let meta = fs::metadata(&path).map_err(|source| Error::MissingSource {
                path: path.clone(),
                source,
            })?;
            if meta.is_dir() {
                self.add_dir(&path, &child_dst, ancestors)?;
            } else if meta.is_file() {
                self.add_file(&path, &child_dst)?;
            } else {
                return Err(Error::Unsupported {
                    path,
                    kind: kind_name(&meta),
                });
            }
        }
        ancestors.remove(&canonical);
        Ok(())
    }

    fn add_file(&mut self, src: &Path, dst: &str) -> Result<()> {
        if let Some((parent, _)) = split_parent(dst) {
            self.ensure_dir(parent)?;
        }
        match self.nodes.get(dst) {
            None => {
                self.nodes
                    .insert(dst.to_string(), Node::File(src.to_path_buf()));
                Ok(())
            }
            // The same host file reached twice (e.g. `dir` and `dir/sub`
            // both preloaded to matching places) is harmless.
            Some(Node::File(first)) if same_file(first, src) => Ok(()),
            Some(Node::File(first)) => Err(Error::Collision {
                dst: dst.to_string(),
                first: first.clone(),
                second: src.to_path_buf(),
            }),
            Some(Node::Dir) => Err(Error::FileDirConflict {
                dst: dst.to_string(),
                file: src.to_path_buf(),
            }),
        }
    }

    /// Makes `dst` and all its parents directories, failing if one is a file.
    fn ensure_dir(&mut self, dst: &str) -> Result<()> {
        let mut path = dst;
        loop {
            if path == "/" {
                return Ok(());
            }
            match self.nodes.get(path) {
                Some(Node::Dir) => return Ok(()),
                Some(Node::File(file)) => {
                    return Err(Error::FileDirConflict {
                        dst: path.to_string(),
                        file: file.clone(),
                    });
                }
                None => {
                    self.nodes.insert(path.to_string(), Node::Dir);
                }
            }
            path = match split_parent(path) {
                Some((parent, _)) => parent,
                None => return Ok(()),
            };
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn kind_name(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "named pipe"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(src: &Path, dst: &str) -> PreloadSpec {
        PreloadSpec {
            src: src.to_path_buf(),
            dst: dst.to_string(),
        }
    }

    #[test]
    fn nested_tree_with_empty_dir() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("a/b")).unwrap();
        fs::create_dir_all(t.path().join("empty")).unwrap();
        fs::write(t.path().join("a/b/f"), b"x").unwrap();
        fs::write(t.path().join("top"), b"").unwrap();
        let m = Manifest::from_specs(&[spec(t.path(), "/pack")]).unwrap();
        assert_eq!(
            m.dirs(),
            vec!["/pack", "/pack/a", "/pack/a/b", "/pack/empty"]
        );
        let dsts: Vec<_> = m.files().into_iter().map(|f| f.dst).collect();
        assert_eq!(dsts, vec!["/pack/a/b/f", "/pack/top"]);
    }

    #[test]
    fn missing_source_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let err = Manifest::from_specs(&[spec(&t.path().join("nope"), "/pack")]).unwrap_err();
        assert!(matches!(err, Error::MissingSource { .. }), "{err}");
        assert!(err.to_string().contains("nope"));
    }

    #[test]
    fn two_files_same_destination_collide() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("one"), b"1").unwrap();
        fs::write(t.path().join("two"), b"2").unwrap();
        let err = Manifest::from_specs(&[
            spec(&t.path().join("one"), "/x"),
            spec(&t.path().join("two"), "/x"),
        ])
        .unwrap_err();
        assert!(matches!(err, Error::Collision { .. }), "{err}");
    }

    #[test]
    fn same_file_twice_is_not_a_collision() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir(t.path().join("d")).unwrap();
        fs::write(t.path().join("d/f"), b"1").unwrap();
        let m =
            Manifest::from_specs(&[spec(t.path(), "/p"), spec(&t.path().join("d/f"), "/p/d/f")])
                .unwrap();
        assert_eq!(m.files().len(), 1);
    }

    #[test]
    fn file_where_a_directory_is_needed() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir(t.path().join("d")).unwrap();
        fs::write(t.path().join("d/f"), b"1").unwrap();
        fs::write(t.path().join("g"), b"2").unwrap();
        let err = Manifest::from_specs(&[spec(&t.path().join("g"), "/p/d"), spec(t.path(), "/p")])
            .unwrap_err();
        assert!(matches!(err, Error::FileDirConflict { .. }), "{err}");
        let err =
            Manifest::from_specs(&[spec(t.path(), "/p"), spec(&t.path().join("g"), "/p/d/f/x")])
                .unwrap_err();
        assert!(matches!(err, Error::FileDirConflict { .. }), "{err}");
    }

    #[test]
    fn symlink_loop_is_refused() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir(t.path().join("d")).unwrap();
        std::os::unix::fs::symlink("..", t.path().join("d/up")).unwrap();
        let err = Manifest::from_specs(&[spec(t.path(), "/p")]).unwrap_err();
        assert!(matches!(err, Error::SymlinkLoop(_)), "{err}");
    }

    #[test]
    fn fifo_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let err = Manifest::from_specs(&[spec(t.path(), "/p")]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Unsupported {
                    kind: "named pipe",
                    ..
                }
            ),
            "{err}"
        );
    }
}

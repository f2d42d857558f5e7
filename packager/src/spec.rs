//! `--preload SRC@DST` arguments and emscripten FS destination paths.
//!
//! The syntax is file_packager.py's: the first single `@` splits source from
//! destination, `@@` stands for a literal `@`, and without `@` the source path
//! is also the destination. A destination ending in `/` gets the source's
//! file name appended. Destinations are absolute POSIX paths in the FS.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// One `--preload` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreloadSpec {
    pub src: PathBuf,
    /// Normalised absolute destination (`/` for the root).
    pub dst: String,
}

impl PreloadSpec {
    pub fn parse(arg: &str) -> Result<Self> {
        let (src, dst) = split_at_notation(arg);
        if src.is_empty() {
            return Err(Error::Usage(format!(
                "--preload {arg:?} has an empty source path"
            )));
        }
        let src_path = PathBuf::from(&src);
        let dst = match dst {
            Some(dst) => {
                if dst.ends_with('/') && dst.len() > 1 {
                    let name = src_path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .ok_or_else(|| {
                            Error::Usage(format!(
                                "--preload {arg:?}: source has no file name to append"
                            ))
                        })?;
                    format!("{dst}{name}")
                } else {
                    dst
                }
            }
            None => implicit_destination(&src_path)?,
        };
        Ok(PreloadSpec {
            src: src_path,
            dst: normalize(&dst)?,
        })
    }
}

/// Splits on the first `@` that is not part of an `@@` escape.
fn split_at_notation(arg: &str) -> (String, Option<String>) {
    let bytes = arg.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'@' {
            if bytes.get(i + 1) == Some(&b'@') {
                i += 2;
                continue;
            }
            let src = arg[..i].replace("@@", "@");
            let dst = arg[i + 1..].replace("@@", "@");
            return (src, Some(dst));
        }
        i += 1;
    }
    (arg.replace("@@", "@"), None)
}

/// Without `SRC@DST` the source path names the destination, relative to the
/// FS root, as file_packager.py does for paths under the current directory.
/// Absolute or `..` sources would leak the host layout, so they must say where
/// they go.
fn implicit_destination(src: &Path) -> Result<String> {
    let mut parts = Vec::new();
    for c in src.components() {
        match c {
            Component::Normal(p) => parts.push(
                p.to_str()
                    .ok_or_else(|| Error::NonUtf8Name(src.to_path_buf()))?
                    .to_string(),
            ),
            Component::CurDir => {}
            _ => {
                return Err(Error::Usage(format!(
                    "--preload {}: an absolute source or one outside the current directory needs SRC@DST",
                    src.display()
                )))
            }
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// POSIX normalisation of a destination: makes it absolute, folds `.`, `..`
/// and repeated slashes. `..` above the root is an error rather than being
/// clamped, since it almost certainly is a mistake.
pub fn normalize(dst: &str) -> Result<String> {
    if dst.contains('\0') {
        return Err(Error::BadDestination {
            dst: dst.to_string(),
            reason: "contains a NUL byte",
        });
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in dst.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(Error::BadDestination {
                        dst: dst.to_string(),
                        reason: "`..` climbs above /",
                    });
                }
            }
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Joins a normalised directory path and one name.
pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Splits a normalised path into (parent, name); the root has no parent.
pub fn split_parent(path: &str) -> Option<(&str, &str)> {
    if path == "/" {
        return None;
    }
    let idx = path.rfind('/')?;
    let parent = if idx == 0 { "/" } else { &path[..idx] };
    Some((parent, &path[idx + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_notation() {
        let s = PreloadSpec::parse("dir@/pack").unwrap();
        assert_eq!(s.src, PathBuf::from("dir"));
        assert_eq!(s.dst, "/pack");
    }

    #[test]
    fn escaped_at_is_literal() {
        let s = PreloadSpec::parse("a@@b@/x@@y").unwrap();
        assert_eq!(s.src, PathBuf::from("a@b"));
        assert_eq!(s.dst, "/x@y");
        let s = PreloadSpec::parse("me@@host").unwrap();
        assert_eq!(s.src, PathBuf::from("me@host"));
        assert_eq!(s.dst, "/me@host");
    }

    #[test]
    fn trailing_slash_appends_file_name() {
        let s = PreloadSpec::parse("some/file.txt@/etc/").unwrap();
        assert_eq!(s.dst, "/etc/file.txt");
    }

    #[test]
    fn implicit_destination_is_relative_source() {
        // `..` would leave the current directory.
        let err = PreloadSpec::parse("./a/b/../c").unwrap_err();
        assert!(err.to_string().contains("SRC@DST"), "{err}");
        assert_eq!(PreloadSpec::parse("./a/b").unwrap().dst, "/a/b");
        assert!(PreloadSpec::parse("/abs/path").is_err());
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize("pack//a/./b/").unwrap(), "/pack/a/b");
        assert_eq!(normalize("/a/b/../c").unwrap(), "/a/c");
        assert_eq!(normalize("/").unwrap(), "/");
        assert!(normalize("/..").is_err());
        assert!(normalize("/a\0b").is_err());
    }

    #[test]
    fn empty_source_rejected() {
        assert!(PreloadSpec::parse("@/pack").is_err());
    }

    #[test]
    fn parent_split() {
        assert_eq!(split_parent("/a"), Some(("/", "a")));
        assert_eq!(split_parent("/a/b"), Some(("/a", "b")));
        assert_eq!(split_parent("/"), None);
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(join("/a", "x"), "/a/x");
    }
}

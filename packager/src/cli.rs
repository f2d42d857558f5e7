//! file_packager.py's command line, for the options netvm-pack implements:
//!
//! ```text
//! netvm-pack TARGET.data --preload SRC[@DST] [SRC[@DST]..]
//!            [--js-output=FILE] [--export-name=NAME] [--no-node]
//!            [--use-preload-cache] [--indexedDB-name=NAME]
//! ```
//!
//! As in file_packager.py, `--preload` takes every following argument until
//! the next option. Options of file_packager.py that netvm-pack does not
//! implement are refused by name rather than ignored.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::spec::PreloadSpec;
use crate::Options;

pub const USAGE: &str = "usage: netvm-pack TARGET.data --preload SRC[@DST] [SRC[@DST]..] \
[--js-output=FILE] [--export-name=NAME] [--no-node] [--use-preload-cache] [--indexedDB-name=NAME]";

/// file_packager.py options that netvm-pack deliberately leaves out.
const UNSUPPORTED: &[&str] = &[
    "--embed",
    "--exclude",
    "--lz4",
    "--separate-metadata",
    "--use-preload-plugins",
    "--obj-output",
    "--from-emcc",
    "--plugin",
];

pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options> {
    let mut args = args.into_iter().peekable();
    let target = match args.next() {
        Some(t) if !t.starts_with("--") => PathBuf::from(t),
        _ => {
            return Err(Error::Usage(format!(
                "the first argument must be the .data target\n{USAGE}"
            )))
        }
    };
    let mut options = Options::new(target);
    let mut in_preload = false;
    while let Some(arg) = args.next() {
        let (name, inline_value) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String> {
            inline_value
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| Error::Usage(format!("{what} needs a value\n{USAGE}")))
        };
        match name.as_str() {
            "--preload" => {
                in_preload = true;
                continue;
            }
            "--js-output" => options.js_output = Some(PathBuf::from(value("--js-output")?)),
            "--export-name" => options.export_name = value("--export-name")?,
            "--no-node" => options.support_node = false,
            "--use-preload-cache" => options.use_preload_cache = true,
            "--indexedDB-name" => options.indexeddb_name = value("--indexedDB-name")?,
            "--no-force" => {}
            n if UNSUPPORTED.contains(&n) => {
                return Err(Error::Usage(format!(
                    "{n} is a file_packager.py option netvm-pack does not implement"
                )))
            }
            n if n.starts_with("--") => {
                return Err(Error::Usage(format!("unknown option {n}\n{USAGE}")))
            }
            _ if in_preload => {
                options.preloads.push(PreloadSpec::parse(&arg)?);
                continue;
            }
            _ => {
                return Err(Error::Usage(format!(
                    "unexpected argument {arg:?} (not after --preload)\n{USAGE}"
                )))
            }
        }
        in_preload = false;
    }
    if options.preloads.is_empty() {
        return Err(Error::Usage(format!(
            "nothing to pack: give at least one --preload source\n{USAGE}"
        )));
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn file_packager_style_command_line() {
        let o = parse(args(
            "out.data --preload a@/pack b@/etc/ --js-output=out.js --export-name=NetVM --no-node",
        ))
        .unwrap();
        assert_eq!(o.data_target, PathBuf::from("out.data"));
        assert_eq!(o.preloads.len(), 2);
        assert_eq!(o.preloads[1].dst, "/etc/b");
        assert_eq!(o.js_output, Some(PathBuf::from("out.js")));
        assert_eq!(o.export_name, "NetVM");
        assert!(!o.support_node);
    }

    #[test]
    fn separate_value_form() {
        let o = parse(args(
            "out.data --js-output out.js --preload a@/x --use-preload-cache --indexedDB-name=DB",
        ))
        .unwrap();
        assert_eq!(o.js_output, Some(PathBuf::from("out.js")));
        assert!(o.use_preload_cache);
        assert_eq!(o.indexeddb_name, "DB");
        assert!(o.support_node);
        assert_eq!(o.export_name, "Module");
    }

    #[test]
    fn bad_command_lines() {
        for bad in [
            "",
            "--preload a",
            "out.data",
            "out.data stray",
            "out.data --preload a --bogus",
            "out.data --preload a --lz4",
            "out.data --preload a --js-output",
        ] {
            let err = parse(args(bad)).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn preload_list_ends_at_next_option() {
        let err = parse(args("out.data --preload a --no-node b")).unwrap_err();
        assert!(err.to_string().contains("not after --preload"), "{err}");
    }
}

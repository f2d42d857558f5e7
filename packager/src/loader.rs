//! The loader JS that goes with a `.data` file.
//!
//! The JS itself is a fixed file (`loader/loader.js`); this module fills in
//! its few placeholders: the export name, the package's file name, whether to
//! include the Node.js code path, and the metadata object (emscripten's
//! `files`/`remote_package_size`/`package_uuid`, plus `directories`, which
//! lets empty directories exist too).

use serde::Serialize;

use crate::data::PackedFile;
use crate::error::{Error, Result};

const TEMPLATE: &str = include_str!("loader/loader.js");

/// What the loader needs to know.
#[derive(Debug, Clone)]
pub struct LoaderConfig<'a> {
    pub export_name: &'a str,
    /// The `.data` file name as the page fetches it (relative to the page or
    /// to `Module.locateFile`).
    pub package_name: &'a str,
    pub support_node: bool,
    /// Keep the package in IndexedDB under this database name.
    pub preload_cache: Option<&'a str>,
}

/// The metadata object, in emscripten's field names.
#[derive(Debug, Serialize)]
pub struct Metadata<'a> {
    pub files: &'a [PackedFile],
    pub directories: &'a [String],
    pub remote_package_size: u64,
    pub package_uuid: &'a str,
}

pub fn render(config: &LoaderConfig<'_>, metadata: &Metadata<'_>) -> Result<String> {
    if !is_js_identifier(config.export_name) {
        return Err(Error::Usage(format!(
            "--export-name {:?} is not a JavaScript identifier",
            config.export_name
        )));
    }
    let package_name =
        serde_json::to_string(config.package_name).expect("a string always serialises");
    let metadata = serde_json::to_string(metadata).expect("metadata always serialises");
    let support_node = if config.support_node { "true" } else { "false" };
    let use_cache = if config.preload_cache.is_some() {
        "true"
    } else {
        "false"
    };
    let db_name = serde_json::to_string(config.preload_cache.unwrap_or("EM_PRELOAD_CACHE"))
        .expect("a string always serialises");
    Ok(substitute(
        TEMPLATE,
        &[
            ("__EXPORT_NAME__", config.export_name),
            ("__PACKAGE_NAME__", &package_name),
            ("__SUPPORT_NODE__", support_node),
            ("__USE_PRELOAD_CACHE__", use_cache),
            ("__INDEXEDDB_NAME__", &db_name),
            ("__METADATA__", &metadata),
        ],
    ))
}

/// Replaces placeholders in one pass over the template, so text inserted for
/// one placeholder (a file name, say) is never scanned for another.
fn substitute(template: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    'scan: while !rest.is_empty() {
        if rest.starts_with("__") {
            for (key, value) in pairs {
                if let Some(after) = rest.strip_prefix(key) {
                    out.push_str(value);
                    rest = after;
                    continue 'scan;
                }
            }
        }
        let ch = rest.chars().next().expect("rest is not empty");
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

/// ECMAScript IdentifierName restricted to ASCII, which is all emscripten's
/// EXPORT_NAME accepts in practice; keeps arbitrary text out of the JS.
fn is_js_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> String {
        let files = vec![PackedFile {
            filename: name.to_string(),
            start: 0,
            end: 3,
        }];
        let dirs = vec!["/pack".to_string()];
        let meta = Metadata {
            files: &files,
            directories: &dirs,
            remote_package_size: 3,
            package_uuid: "ab",
        };
        let cfg = LoaderConfig {
            export_name: "Module",
            package_name: "pack.data",
            support_node: true,
            preload_cache: None,
        };
        render(&cfg, &meta).unwrap()
    }

    #[test]
    fn placeholders_are_all_filled() {
        let js = sample("/pack/f");
        assert!(!js.contains("__EXPORT_NAME__") && !js.contains("__METADATA__"));
        assert!(js.contains("typeof Module !== 'undefined' ? Module : {}"));
        assert!(js.contains(r#"loadPackage({"files":[{"filename":"/pack/f","start":0,"end":3}],"directories":["/pack"],"remote_package_size":3,"package_uuid":"ab"});"#));
    }

    #[test]
    fn names_cannot_inject_code_or_placeholders() {
        let js = sample("/pack/__EXPORT_NAME__\"'); evil();//\u{2028}");
        assert!(js.contains(r#""/pack/__EXPORT_NAME__\"'); evil();//"#));
    }

    #[test]
    fn export_name_must_be_an_identifier() {
        let files = vec![];
        let dirs = vec![];
        let meta = Metadata {
            files: &files,
            directories: &dirs,
            remote_package_size: 0,
            package_uuid: "",
        };
        for bad in ["", "1x", "a-b", "x;alert(1)"] {
            let cfg = LoaderConfig {
                export_name: bad,
                package_name: "p.data",
                support_node: false,
                preload_cache: None,
            };
            assert!(render(&cfg, &meta).is_err(), "{bad}");
        }
        let cfg = LoaderConfig {
            export_name: "$Netvm_1",
            package_name: "p.data",
            support_node: false,
            preload_cache: Some("my\"db"),
        };
        let js = render(&cfg, &meta).unwrap();
        assert!(js.contains("SUPPORT_NODE = false"));
        assert!(js.contains("USE_PRELOAD_CACHE = true"));
        assert!(js.contains(r#"INDEXEDDB_NAME = "my\"db";"#));
    }
}

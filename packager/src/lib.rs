//! netvm-pack: an emscripten-compatible file packager.
//!
//! Writes what emscripten 3.1's `tools/file_packager.py TARGET --preload ...
//! --js-output=...` writes: a `.data` file holding every file's bytes and a
//! loader JS that fetches it and creates the files in the emscripten FS
//! before `main()` runs. Load the JS before the emscripten module's JS (or
//! pass it as `--pre-js`); the module must be linked with the FS
//! (`-sFORCE_FILESYSTEM`).

pub mod cli;
pub mod data;
pub mod error;
pub mod loader;
pub mod spec;
pub mod tree;

use std::fs;
use std::path::{Path, PathBuf};

pub use error::{Error, Result};
use spec::PreloadSpec;

/// Above this size a package is likely too large for browsers to handle well.
const LARGE_PACKAGE: u64 = 256 << 20;

/// Everything a packing run needs.
#[derive(Debug, Clone)]
pub struct Options {
    pub data_target: PathBuf,
    pub preloads: Vec<PreloadSpec>,
    /// Where the loader goes; `None` prints it (as file_packager.py does).
    pub js_output: Option<PathBuf>,
    pub export_name: String,
    pub support_node: bool,
    /// `--use-preload-cache`: keep the package in IndexedDB.
    pub use_preload_cache: bool,
    /// `--indexedDB-name`: the database for the cache.
    pub indexeddb_name: String,
}

impl Options {
    pub fn new(data_target: PathBuf) -> Self {
        Options {
            data_target,
            preloads: Vec::new(),
            js_output: None,
            export_name: "Module".into(),
            support_node: true,
            use_preload_cache: false,
            indexeddb_name: "EM_PRELOAD_CACHE".into(),
        }
    }
}

/// The result of [`pack`].
#[derive(Debug)]
pub struct Packed {
    pub files: usize,
    pub directories: usize,
    pub data_size: u64,
    pub loader: String,
}

/// Packs the tree and writes the `.data` (and the loader, if `js_output` is
/// set). Nothing is written unless the whole input is valid.
pub fn pack(options: &Options) -> Result<Packed> {
    if let Some(js) = &options.js_output {
        if same_path(js, &options.data_target) {
            return Err(Error::Usage(
                "the .data target and --js-output are the same file".into(),
            ));
        }
    }
    let package_name = options
        .data_target
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            Error::Usage(format!(
                "{} is not a usable .data file name",
                options.data_target.display()
            ))
        })?
        .to_string();
    let manifest = tree::Manifest::from_specs(&options.preloads)?;
    let files = manifest.files();
    let dirs = manifest.dirs();
    let config = loader::LoaderConfig {
        export_name: &options.export_name,
        package_name: &package_name,
        support_node: options.support_node,
        preload_cache: options
            .use_preload_cache
            .then_some(options.indexeddb_name.as_str()),
    };
    // Validate the loader settings before writing anything.
    loader::render(
        &config,
        &loader::Metadata {
            files: &[],
            directories: &[],
            remote_package_size: 0,
            package_uuid: "",
        },
    )?;
    let data = data::write_data(&options.data_target, &files)?;
    log::info!(
        "packed {} files, {} directories, {} bytes",
        files.len(),
        dirs.len(),
        data.size
    );
    if data.size > LARGE_PACKAGE {
        // The whole package is one ArrayBuffer in the page, as with
        // file_packager.py, which warns at the same size.
        log::warn!(
            "{} is {} MiB; browsers may fail to download or hold a package this large in one piece",
            options.data_target.display(),
            data.size >> 20
        );
    }
    let metadata = loader::Metadata {
        files: &data.files,
        directories: &dirs,
        remote_package_size: data.size,
        package_uuid: &data.sha256,
    };
    let js = loader::render(&config, &metadata)?;
    if let Some(path) = &options.js_output {
        fs::write(path, &js).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(Packed {
        files: files.len(),
        directories: dirs.len(),
        data_size: data.size,
        loader: js,
    })
}

fn same_path(a: &Path, b: &Path) -> bool {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    abs(a) == abs(b)
}

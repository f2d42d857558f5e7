//! netvm-pack and emscripten's own file_packager.py describe the same tree
//! the same way: every file has the same name in the FS and the same bytes
//! at its [start, end) in the .data. (The order of files may differ:
//! file_packager.py walks in directory-listing order, netvm-pack sorts.)
//!
//! Needs Debian's emscripten (scripts/deps/apt-wasm.txt).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

/// emscripten's file_packager.py, located through `em-config`.
fn file_packager() -> std::path::PathBuf {
    let out = Command::new("em-config")
        .arg("EMSCRIPTEN_ROOT")
        .output()
        .unwrap_or_else(|e| panic!("cannot run em-config (is emscripten installed?): {e}"));
    assert!(out.status.success(), "em-config: {}", String::from_utf8_lossy(&out.stderr));
    let root = String::from_utf8(out.stdout).unwrap();
    Path::new(root.trim()).join("tools/file_packager.py")
}

/// filename -> bytes, from a loader's metadata and its .data.
fn contents(js: &str, data: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let start = js.find("loadPackage({").expect("loader calls loadPackage") + "loadPackage(".len();
    let end = start + js[start..].find("});").expect("metadata ends") + 1;
    let meta: serde_json::Value = serde_json::from_str(&js[start..end]).expect("metadata is JSON");
    assert_eq!(meta["remote_package_size"].as_u64(), Some(data.len() as u64));
    meta["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let (s, e) = (f["start"].as_u64().unwrap() as usize, f["end"].as_u64().unwrap() as usize);
            (f["filename"].as_str().unwrap().to_string(), data[s..e].to_vec())
        })
        .collect()
}

fn make_tree(root: &Path) {
    for (rel, data) in [
        ("top.txt", &b"top\n"[..]),
        ("empty", b""),
        ("dir/inner.bin", &[0, 1, 2, 255]),
        ("dir/sub/deeper", b"deeper"),
        ("ünï/名前.txt", "名前".as_bytes()),
    ] {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }
}

#[test]
fn same_files_same_bytes_as_file_packager() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    make_tree(&tree);
    let spec = format!("{}@/pack", tree.display());

    let packager = file_packager();
    let out = Command::new("python3")
        .current_dir(t.path())
        .arg(&packager)
        .args(["theirs.data", "--preload", &spec, "--js-output=theirs.js"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", packager.display()));
    assert!(out.status.success(), "file_packager.py: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_netvm-pack"))
        .current_dir(t.path())
        .args(["ours.data", "--preload", &spec, "--js-output=ours.js"])
        .output()
        .unwrap();
    assert!(out.status.success(), "netvm-pack: {}", String::from_utf8_lossy(&out.stderr));

    let read = |name: &str| fs::read(t.path().join(name)).unwrap();
    let theirs = contents(&String::from_utf8(read("theirs.js")).unwrap(), &read("theirs.data"));
    let ours = contents(&String::from_utf8(read("ours.js")).unwrap(), &read("ours.data"));
    assert_eq!(ours.len(), 5);
    assert_eq!(ours, theirs);
}

//! A tree packed by netvm-pack appears byte for byte inside the emscripten
//! FS: a C program built with Debian's emcc walks /pack under Node and prints
//! size and SHA-256 of every file, which must match the host tree.
//!
//! Needs `emcc` and `node` (scripts/deps/apt-wasm.txt).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

const FSWALK_C: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fswalk/fswalk.c");
const PROGRESS_JS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fswalk/progress.js");

/// Nested directories, an empty directory, empty, text and binary files, and
/// names with spaces, dots and non-ASCII characters.
fn make_tree(root: &Path) {
    let mk = |rel: &str, data: &[u8]| {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    };
    mk("hello.txt", b"hello, world\n");
    mk("empty", b"");
    mk(".hidden", b"dot file");
    mk("a/b/c/deep.bin", &(0..=255u8).collect::<Vec<_>>());
    // Larger than one read buffer on either side, bytes not text-like.
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    mk("a/big.bin", &big);
    mk("a/b/empty-too", b"");
    mk("ünïcødé/日本語 ファイル.txt", "多言語テキスト\n".as_bytes());
    mk("ünïcødé/emoji-🦀.dat", &[0xf0, 0x9f, 0xa6, 0x80, 0, 0, 1]);
    mk("with space/and@at.txt", b"at sign");
    fs::create_dir_all(root.join("empty-dir/inner-empty")).unwrap();
}

/// The listing fswalk prints, computed from the host tree.
fn host_listing(dir: &Path, fs_path: &str, out: &mut Vec<String>) {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        let host = dir.join(&name);
        let path = format!("{fs_path}/{name}");
        if host.is_dir() {
            out.push(format!("d {path}"));
            host_listing(&host, &path, out);
        } else {
            let data = fs::read(&host).unwrap();
            let sha: String = Sha256::digest(&data)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            out.push(format!("f {} {sha} {path}", data.len()));
        }
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is the wasm toolchain installed?)"));
    out
}

/// Packs `tree` as /pack into `work`, builds fswalk with the loader, and
/// returns the path of the runnable JS.
fn build(work: &Path, tree: &Path) -> PathBuf {
    let out = run(Command::new(env!("CARGO_BIN_EXE_netvm-pack"))
        .current_dir(work)
        .arg("pack.data")
        .arg("--preload")
        .arg(format!("{}@/pack", tree.display()))
        .arg("--js-output=pack.js"));
    assert!(
        out.status.success(),
        "netvm-pack failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(Command::new("emcc")
        .current_dir(work)
        // emscripten 3.1.6's JS optimiser needs Debian's acorn.
        .env("NODE_PATH", "/usr/share/nodejs")
        .args(["-O1", "-sFORCE_FILESYSTEM=1", "-sEXIT_RUNTIME=1"])
        .args(["--pre-js", PROGRESS_JS, "--pre-js", "pack.js"])
        .arg(FSWALK_C)
        .args(["-o", "fswalk.js"]));
    assert!(
        out.status.success(),
        "emcc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    work.join("fswalk.js")
}

fn node(work: &Path, js: &Path) -> Output {
    // Node 20's fetch() cannot load file paths; emscripten 3.1.6 falls back
    // to fs reads without it.
    run(Command::new("timeout")
        .current_dir(work)
        .args(["60", "node", "--no-experimental-fetch"])
        .arg(js))
}

#[test]
fn packed_tree_is_byte_identical_in_emscripten_fs() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    make_tree(&tree);
    let work = t.path().join("work");
    fs::create_dir(&work).unwrap();
    let js = build(&work, &tree);
    let out = node(&work, &js);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "fswalk failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut expected = Vec::new();
    host_listing(&tree, "/pack", &mut expected);
    expected.push("end 0".to_string());
    let listing: Vec<String> = stdout
        .lines()
        .filter(|l| !l.starts_with("progress ") && !l.starts_with("status "))
        .map(String::from)
        .collect();
    assert_eq!(listing, expected);

    // The loader reported the whole download.
    let size = fs::metadata(work.join("pack.data")).unwrap().len();
    assert!(
        stdout.contains(&format!("progress {size} {size} pack.data")),
        "{stdout}"
    );
}

#[test]
fn truncated_data_is_reported_and_main_does_not_run() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    make_tree(&tree);
    let work = t.path().join("work");
    fs::create_dir(&work).unwrap();
    let js = build(&work, &tree);
    let data = work.join("pack.data");
    let len = fs::metadata(&data).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&data)
        .unwrap()
        .set_len(len - 1)
        .unwrap();

    let out = node(&work, &js);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains("end "),
        "main ran on a truncated package: {stdout}"
    );
    assert!(
        stdout.contains(&format!("expected {len}")),
        "no clear error: {stdout}\n{stderr}"
    );
}

#[test]
fn missing_data_is_reported() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    make_tree(&tree);
    let work = t.path().join("work");
    fs::create_dir(&work).unwrap();
    let js = build(&work, &tree);
    fs::remove_file(work.join("pack.data")).unwrap();
    let out = node(&work, &js);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("end "),
        "main ran without its package: {stdout}"
    );
    assert!(
        stdout.contains("Error loading pack.data") && stdout.contains("ENOENT"),
        "{stdout}"
    );
}

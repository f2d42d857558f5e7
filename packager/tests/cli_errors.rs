//! The netvm-pack binary fails with a clear message and writes nothing on
//! bad input.

use std::fs;
use std::process::Command;

fn pack(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_netvm-pack"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_source() {
    let t = tempfile::tempdir().unwrap();
    let (ok, err) = pack(
        t.path(),
        &["out.data", "--preload", "nope@/pack", "--js-output=out.js"],
    );
    assert!(!ok);
    assert!(err.contains("preload source nope does not exist"), "{err}");
    assert!(!t.path().join("out.data").exists() && !t.path().join("out.js").exists());
}

#[test]
fn collision_between_sources() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("a"), "1").unwrap();
    fs::write(t.path().join("b"), "2").unwrap();
    let (ok, err) = pack(
        t.path(),
        &[
            "out.data",
            "--preload",
            "a@/x",
            "b@/x",
            "--js-output=out.js",
        ],
    );
    assert!(!ok);
    assert!(err.contains("destination /x is given twice"), "{err}");
    assert!(!t.path().join("out.data").exists());
}

#[test]
fn same_output_for_data_and_js() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("a"), "1").unwrap();
    let (ok, err) = pack(
        t.path(),
        &["out.data", "--preload", "a@/x", "--js-output=./out.data"],
    );
    assert!(!ok);
    assert!(err.contains("same file"), "{err}");
}

#[test]
fn prints_loader_without_js_output() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("a"), "1").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_netvm-pack"))
        .current_dir(t.path())
        .args(["out.data", "--preload", "a@/x", "--export-name=NetVM"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let js = String::from_utf8(out.stdout).unwrap();
    assert!(js.contains("typeof NetVM !== 'undefined' ? NetVM : {}"));
    assert!(js.contains(r#""filename":"/x","start":0,"end":1"#));
    assert_eq!(fs::read(t.path().join("out.data")).unwrap(), b"1");
}

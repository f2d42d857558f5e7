//! Real programs under the emulator: Debian's static busybox runs in the
//! user-mode runner (tests/cpu_linux_user) and its output must equal the
//! same busybox run natively. Needs the `busybox-static` package
//! (scripts/deps/apt-cpu.txt).

mod cpu_linux_user;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BUSYBOX: &str = "/bin/busybox";

/// Not a test: when this binary is re-executed with NETVM_USER_RUNNER set,
/// this "test" becomes the user-mode runner process and never returns.
#[test]
fn runner_entry_point() {
    if std::env::var("NETVM_USER_RUNNER").is_err() {
        return;
    }
    // The guest's stdio: files chosen by the parent test.
    for (fd, var, write) in [
        (0, "NETVM_USER_STDIN", false),
        (1, "NETVM_USER_STDOUT", true),
        (2, "NETVM_USER_STDERR", true),
    ] {
        if let Ok(p) = std::env::var(var) {
            let f = if write {
                std::fs::File::create(p)
            } else {
                std::fs::File::open(p)
            }
            .expect("runner stdio");
            use std::os::fd::IntoRawFd;
            // SAFETY: replacing this process's standard descriptors.
            unsafe { libc::dup2(f.into_raw_fd(), fd) };
        }
    }
    let code = cpu_linux_user::runner_main_from_env().unwrap_or(127);
    // SAFETY: immediate exit without running the test harness epilogue.
    unsafe { libc::_exit(code) }
}

struct Run {
    status: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("netvm-cpu-busybox-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A directory of applet links so `sh` finds busybox applets on PATH
/// (links live in their own directory, never next to the binary).
fn applet_dir() -> PathBuf {
    // One shared directory (not per process), so test runs do not pile up
    // links; creating a link that exists is harmlessly refused.
    let d = std::env::temp_dir().join("netvm-cpu-busybox-applets");
    std::fs::create_dir_all(&d).unwrap();
    if !d.join("sort").exists() {
        let list = Command::new(BUSYBOX).arg("--list").output().expect("busybox --list");
        for name in String::from_utf8_lossy(&list.stdout).lines() {
            let _ = std::os::unix::fs::symlink(BUSYBOX, d.join(name));
        }
    }
    d
}

fn emulated(args: &[&str], stdin: &Path, dir: &Path) -> Run {
    let out = dir.join("emu.out");
    let err = dir.join("emu.err");
    let mut spec = vec![BUSYBOX];
    spec.extend_from_slice(args);
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "runner_entry_point",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("NETVM_USER_RUNNER", spec.join("\u{1f}"))
        .env("NETVM_USER_STDIN", stdin)
        .env("NETVM_USER_STDOUT", &out)
        .env("NETVM_USER_STDERR", &err)
        .env("PATH", applet_dir())
        .env("LC_ALL", "C")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("spawn runner");
    Run {
        status: status.code().unwrap_or(-1),
        stdout: std::fs::read(out).unwrap(),
        stderr: std::fs::read(err).unwrap(),
    }
}

fn native(args: &[&str], stdin: &Path, dir: &Path) -> Run {
    let o = Command::new(BUSYBOX)
        .args(args)
        .env_clear()
        .env("PATH", applet_dir())
        .env("LC_ALL", "C")
        .current_dir(dir)
        .stdin(std::fs::File::open(stdin).unwrap())
        .output()
        .expect("run native busybox");
    Run {
        status: o.status.code().unwrap_or(-1),
        stdout: o.stdout,
        stderr: o.stderr,
    }
}

/// Run `args` both ways with `input` on stdin and compare.
fn same(name: &str, args: &[&str], input: &[u8]) {
    let dir = scratch(name);
    let stdin = dir.join("stdin");
    std::fs::write(&stdin, input).unwrap();
    let data = dir.join("data.txt");
    std::fs::write(&data, sample_text()).unwrap();
    let n = native(args, &stdin, &dir);
    let e = emulated(args, &stdin, &dir);
    assert_eq!(
        (e.status, String::from_utf8_lossy(&e.stdout)),
        (n.status, String::from_utf8_lossy(&n.stdout)),
        "{name}: busybox {args:?} differs under the emulator\nemulated stderr: {}",
        String::from_utf8_lossy(&e.stderr)
    );
    assert!(
        !n.stdout.is_empty(),
        "{name}: the native run printed nothing; the comparison would be vacuous"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn sample_text() -> String {
    let mut s = String::new();
    let mut x: u64 = 12345;
    for k in 0..2000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s += &format!(
            "line {k} value {} word{} {:.3}\n",
            x >> 40,
            (x >> 20) % 97,
            (x >> 33) as f64 / 7.0
        );
    }
    s
}

#[test]
fn echo_and_seq() {
    same("echo", &["echo", "hello", "from", "netvm"], b"");
    same("seq", &["seq", "1", "3", "1000"], b"");
}

#[test]
fn hashes() {
    same("md5sum", &["md5sum", "data.txt"], b"");
    same("sha256sum", &["sha256sum", "data.txt"], b"");
    same("sha1sum", &["sha1sum", "-"], &sample_text().into_bytes());
}

#[test]
fn text_tools() {
    same("sort", &["sort", "-k", "4", "-n", "data.txt"], b"");
    same("sort-r", &["sort", "-r"], &sample_text().into_bytes());
    same(
        "sed",
        &[
            "sed",
            "-e",
            "s/line \\([0-9]*\\)/L\\1:/",
            "-e",
            "/5 value/d",
            "data.txt",
        ],
        b"",
    );
    same("wc", &["wc", "data.txt"], b"");
    same("tr", &["tr", "a-z", "A-Z"], &sample_text().into_bytes());
    same("uniq", &["uniq", "-c"], b"a\na\nb\nc\nc\nc\n");
}

#[test]
fn awk_floats_and_printf() {
    same("awk", &["awk", "{ s += $6; m = m > $6 ? m : $6 } END { printf \"%.6f %.3e %g %d\\n\", s, m, s / NR, NR }", "data.txt"], b"");
    // Debian's static busybox awk has no math library (no sqrt/exp):
    // exercise float arithmetic and formatting instead.
    same("awk-arith", &["awk", "BEGIN { x = 1; for (i = 1; i < 60; i++) { x = x * 1.37 + i / 7; printf \"%f %.10g %e %d\\n\", x, i / 3.0, x * x / 1e10, x % 97 } }"], b"");
    same(
        "printf",
        &[
            "printf",
            "%f %.2f %e %g %x %o %s\\n",
            "3.14159",
            "2.5",
            "12345.678",
            "0.0001",
            "255",
            "8",
            "str",
        ],
        b"",
    );
    same("expr", &["expr", "123456789", "*", "1000", "+", "17"], b"");
}

#[test]
fn calculators_and_compressors() {
    same("dc", &["dc", "-e", "20 k 2 v p 1 3 / p 2 100 ^ p"], b"");
    same("bc", &["bc"], b"scale=30\n2^200\n1/7\nsqrt(2)\n");
    same(
        "factor",
        &["factor", "600851475143", "9999999967", "1234567890123"],
        b"",
    );
    same(
        "bzip2",
        &["sh", "-c", "bzip2 -c data.txt | bunzip2 | sha256sum"],
        b"",
    );
    same(
        "xz",
        &[
            "sh",
            "-c",
            "xz -c data.txt 2>/dev/null | unxz | md5sum; echo rc=$?",
        ],
        b"",
    );
    same(
        "od",
        &[
            "od", "-A", "x", "-t", "x1", "-t", "d4", "-N", "256", "data.txt",
        ],
        b"",
    );
    same("base64", &["base64", "data.txt"], b"");
}

#[test]
fn shell_pipelines() {
    let script = "seq 1 300 | sort -r | head -n 5; \
                  x=0; for i in 1 2 3 4 5 6 7 8 9 10; do x=$((x + i * i)); done; echo sum=$x; \
                  gzip -c data.txt | gunzip | md5sum; \
                  cat data.txt | grep 'word1 ' | wc -l; \
                  echo abc | sed s/b/B/; \
                  if [ -f data.txt ]; then echo present; fi; \
                  printf '%s\\n' c a b | sort | tr '\\n' ,; echo";
    same("sh", &["sh", "-c", script], b"");
}

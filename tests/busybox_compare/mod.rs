//! Runs a busybox under the emulator (the user-mode runner of
//! tests/cpu_linux_user) and natively, and compares their output; and the
//! script of applets both the x86_64 and the i386 busybox tests run.
//! The native side is always the host's `/bin/busybox` (package
//! busybox-static, scripts/deps/apt-cpu.txt), the same busybox version.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The native busybox every emulated run is compared with.
pub const NATIVE_BUSYBOX: &str = "/bin/busybox";

/// The body of each busybox test binary's `runner_entry_point` test: when
/// the binary is re-executed with NETVM_USER_RUNNER set, that "test"
/// becomes the user-mode runner process and never returns.
pub fn runner_entry_point() {
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
    let code = crate::cpu_linux_user::runner_main_from_env().unwrap_or(127);
    // SAFETY: immediate exit without running the test harness epilogue.
    unsafe { libc::_exit(code) }
}

struct Run {
    status: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// One busybox binary run under the emulator, with its applet links.
pub struct Busybox {
    guest: PathBuf,
    guest_applets: PathBuf,
    native_applets: PathBuf,
}

impl Busybox {
    /// `guest` is the busybox to emulate; its applet names come from the
    /// native busybox (the same version), so the guest need not run natively.
    pub fn new(guest: &Path) -> Busybox {
        assert!(guest.is_file(), "{} does not exist", guest.display());
        Busybox {
            guest: guest.to_path_buf(),
            guest_applets: applet_dir(guest),
            native_applets: applet_dir(Path::new(NATIVE_BUSYBOX)),
        }
    }

    /// Run `args` both ways with `input` on stdin (and `data.txt` in the
    /// working directory) and compare exit status and stdout.
    pub fn same(&self, name: &str, args: &[&str], input: &[u8]) {
        let dir = scratch(name);
        let stdin = dir.join("stdin");
        std::fs::write(&stdin, input).unwrap();
        std::fs::write(dir.join("data.txt"), sample_text()).unwrap();
        let n = self.native(args, &stdin, &dir);
        let e = self.emulated(args, &stdin, &dir);
        assert_eq!(
            (e.status, String::from_utf8_lossy(&e.stdout)),
            (n.status, String::from_utf8_lossy(&n.stdout)),
            "{name}: {} {args:?} differs under the emulator\nemulated stderr: {}",
            self.guest.display(),
            String::from_utf8_lossy(&e.stderr)
        );
        assert!(
            !n.stdout.is_empty(),
            "{name}: the native run printed nothing; the comparison would be vacuous"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn emulated(&self, args: &[&str], stdin: &Path, dir: &Path) -> Run {
        let out = dir.join("emu.out");
        let err = dir.join("emu.err");
        let guest = self.guest.to_string_lossy();
        let mut spec = vec![&*guest];
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
            .env("PATH", &self.guest_applets)
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

    fn native(&self, args: &[&str], stdin: &Path, dir: &Path) -> Run {
        let o = Command::new(NATIVE_BUSYBOX)
            .args(args)
            .env_clear()
            .env("PATH", &self.native_applets)
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
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("netvm-cpu-busybox-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A directory of applet links to `busybox`, so `sh` finds applets on PATH
/// (links live in their own directory, never next to the binary). One per
/// binary, shared by test runs so they do not pile up; creating a link
/// that exists is harmlessly refused.
fn applet_dir(busybox: &Path) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    busybox.hash(&mut h);
    let d = std::env::temp_dir().join(format!("netvm-cpu-busybox-applets-{:016x}", h.finish()));
    std::fs::create_dir_all(&d).unwrap();
    if !d.join("sort").exists() {
        let list = Command::new(NATIVE_BUSYBOX)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for name in String::from_utf8_lossy(&list.stdout).lines() {
            let _ = std::os::unix::fs::symlink(busybox, d.join(name));
        }
    }
    d
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

// The script: one function per group of applets, each test binary calls
// them for its busybox through `busybox_script_tests!`.

/// The test functions of a busybox test binary: the runner entry point and
/// one test per group of the script, each on the busybox `$busybox()` gives.
#[macro_export]
macro_rules! busybox_script_tests {
    ($busybox:ident) => {
        /// Not a test: the runner process when re-executed (see busybox_compare).
        #[test]
        fn runner_entry_point() {
            busybox_compare::runner_entry_point();
        }
        $crate::busybox_script_tests!(@groups $busybox: echo_and_seq, hashes, text_tools,
            awk_floats_and_printf, calculators_and_compressors, shell_pipelines,
            numbers_and_files);
    };
    (@groups $busybox:ident: $($group:ident),*) => {
        $(
            #[test]
            fn $group() {
                busybox_compare::$group(&$busybox());
            }
        )*
    };
}

pub fn echo_and_seq(bb: &Busybox) {
    bb.same("echo", &["echo", "hello", "from", "netvm"], b"");
    bb.same("seq", &["seq", "1", "3", "1000"], b"");
}

pub fn hashes(bb: &Busybox) {
    bb.same("md5sum", &["md5sum", "data.txt"], b"");
    bb.same("sha256sum", &["sha256sum", "data.txt"], b"");
    bb.same("sha1sum", &["sha1sum", "-"], &sample_text().into_bytes());
}

pub fn text_tools(bb: &Busybox) {
    bb.same("sort", &["sort", "-k", "4", "-n", "data.txt"], b"");
    bb.same("sort-r", &["sort", "-r"], &sample_text().into_bytes());
    bb.same(
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
    bb.same("wc", &["wc", "data.txt"], b"");
    bb.same("tr", &["tr", "a-z", "A-Z"], &sample_text().into_bytes());
    bb.same("uniq", &["uniq", "-c"], b"a\na\nb\nc\nc\nc\n");
}

pub fn awk_floats_and_printf(bb: &Busybox) {
    bb.same("awk", &["awk", "{ s += $6; m = m > $6 ? m : $6 } END { printf \"%.6f %.3e %g %d\\n\", s, m, s / NR, NR }", "data.txt"], b"");
    // Debian's static busybox awk has no math library (no sqrt/exp):
    // exercise float arithmetic and formatting instead.
    bb.same("awk-arith", &["awk", "BEGIN { x = 1; for (i = 1; i < 60; i++) { x = x * 1.37 + i / 7; printf \"%f %.10g %e %d\\n\", x, i / 3.0, x * x / 1e10, x % 97 } }"], b"");
    bb.same(
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
    bb.same("expr", &["expr", "123456789", "*", "1000", "+", "17"], b"");
}

pub fn calculators_and_compressors(bb: &Busybox) {
    bb.same("dc", &["dc", "-e", "20 k 2 v p 1 3 / p 2 100 ^ p"], b"");
    bb.same("bc", &["bc"], b"scale=30\n2^200\n1/7\nsqrt(2)\n");
    bb.same(
        "factor",
        &["factor", "600851475143", "9999999967", "1234567890123"],
        b"",
    );
    bb.same(
        "bzip2",
        &["sh", "-c", "bzip2 -c data.txt | bunzip2 | sha256sum"],
        b"",
    );
    bb.same(
        "xz",
        &[
            "sh",
            "-c",
            "xz -c data.txt 2>/dev/null | unxz | md5sum; echo rc=$?",
        ],
        b"",
    );
    bb.same(
        "od",
        &[
            "od", "-A", "x", "-t", "x1", "-t", "d4", "-N", "256", "data.txt",
        ],
        b"",
    );
    bb.same("base64", &["base64", "data.txt"], b"");
}

pub fn shell_pipelines(bb: &Busybox) {
    let script = "seq 1 300 | sort -r | head -n 5; \
                  x=0; for i in 1 2 3 4 5 6 7 8 9 10; do x=$((x + i * i)); done; echo sum=$x; \
                  gzip -c data.txt | gunzip | md5sum; \
                  cat data.txt | grep 'word1 ' | wc -l; \
                  echo abc | sed s/b/B/; \
                  if [ -f data.txt ]; then echo present; fi; \
                  printf '%s\\n' c a b | sort | tr '\\n' ,; echo";
    bb.same("sh", &["sh", "-c", script], b"");
}

pub fn numbers_and_files(bb: &Busybox) {
    bb.same(
        "seq-w",
        &["seq", "-w", "-s", ",", "--", "-3", "7", "120"],
        b"",
    );
    bb.same(
        "sort-g",
        &["sort", "-g"],
        b"1e3\n-2.5\n0.001\n3\n-1e-2\n7.25\n",
    );
    bb.same("awk-prec", &["awk", "BEGIN { printf \"%.17g %.20e %.3f\\n\", 1/3, 2/7, -1e15/7; print 2^53 + 1, 1e300 * 10, int(-7.9) }"], b"");
    bb.same(
        "printf-wide",
        &[
            "printf",
            "%.15e %10.4f %-8d| %u %x\\n",
            "1.1",
            "-3.25",
            "42",
            "4294967295",
            "4294967295",
        ],
        b"",
    );
    bb.same("expr-big", &["expr", "2147483647", "+", "2147483647"], b"");
    bb.same("sha512sum", &["sha512sum", "data.txt"], b"");
    bb.same("sha3sum", &["sha3sum", "data.txt"], b"");
    bb.same("crc32", &["crc32", "data.txt"], b"");
    bb.same(
        "cut-head-tail",
        &[
            "sh",
            "-c",
            "cut -d ' ' -f 2,4 data.txt | tail -n 3; head -c 100 data.txt | od -c | head -n 3",
        ],
        b"",
    );
    bb.same(
        "date",
        &[
            "date",
            "-u",
            "-d",
            "@1234567890",
            "+%Y-%m-%d %H:%M:%S %j %a",
        ],
        b"",
    );
    bb.same("stat", &["sh", "-c", "stat -c '%s %F %a' data.txt; ls -l data.txt | cut -c1-10; wc -c < data.txt; [ data.txt -nt /nonexistent ] && echo newer"], b"");
    // statfs: the scratch directory's file system (type, block size, name
    // length, total blocks: fixed while free space moves) and /proc's.
    bb.same(
        "statfs",
        &[
            "sh",
            "-c",
            "stat -f -c '%T %S %s %l %b' .; df -P -k . | awk 'NR==2 {print $2, $NF}'; df -k /proc | tail -n 1",
        ],
        b"",
    );
    bb.same(
        "find",
        &[
            "sh",
            "-c",
            "mkdir -p d/e && echo x > d/e/f && find d | sort && rm -r d && echo gone",
        ],
        b"",
    );
    bb.same(
        "hexdump",
        &[
            "sh",
            "-c",
            "hexdump -C data.txt | tail -n 3; tac data.txt | head -n 2; rev data.txt | tail -n 1",
        ],
        b"",
    );
    bb.same(
        "dd",
        &[
            "sh",
            "-c",
            "dd if=data.txt bs=1000 skip=3 count=2 2>/dev/null | md5sum",
        ],
        b"",
    );
}

//! CPU throughput: busybox `sha256sum` of a 64 MiB file in the user-mode
//! runner, measured in guest instructions per second. Run by
//! scripts/bench-cpu (ignored in normal test runs: it takes a while).

mod cpu_linux_user;

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::time::Instant;

#[test]
#[ignore = "benchmark: run through scripts/bench-cpu"]
fn bench_sha256_64mib() {
    let mib: usize = std::env::var("NETVM_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let dir = std::env::temp_dir().join(format!("netvm-bench-cpu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("input.bin");
    let mut data = vec![0u8; mib << 20];
    let mut x: u64 = 0x1234_5678;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(&input, &data).unwrap();
    drop(data);

    let out_path = dir.join("out.txt");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut p = cpu_linux_user::Process::new(1 << 30);
    let argv = [
        CString::new("sha256sum").unwrap(),
        CString::new(input.to_str().unwrap()).unwrap(),
    ];
    p.load("/bin/busybox", &argv, &[CString::new("LC_ALL=C").unwrap()])
        .unwrap();
    // SAFETY: temporarily point fd 1 at the output file for the guest.
    let saved = unsafe { libc::dup(1) };
    unsafe { libc::dup2(out.as_raw_fd(), 1) };
    let start = Instant::now();
    let status = p.run();
    let secs = start.elapsed().as_secs_f64();
    unsafe {
        libc::dup2(saved, 1);
        libc::close(saved);
    }
    let got = std::fs::read_to_string(&out_path).unwrap();
    let native = std::process::Command::new("sha256sum")
        .arg(&input)
        .output()
        .unwrap();
    let native = String::from_utf8_lossy(&native.stdout).to_string();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(status, 0);
    assert_eq!(
        got.split_whitespace().next(),
        native.split_whitespace().next(),
        "guest hash differs from the host's"
    );
    let insns = p.cpu.icount;
    println!("sha256sum {mib} MiB: {insns} guest instructions in {secs:.2} s");
    println!("guest-mips {:.1}", insns as f64 / secs / 1e6);
}

/// A branchy integer workload like the kernel's XZ decompressor: busybox
/// `unxz` of 16 MiB of compressible text.
#[test]
#[ignore = "benchmark: run through scripts/bench-cpu"]
fn bench_unxz() {
    let dir = std::env::temp_dir().join(format!("netvm-bench-xz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let raw = dir.join("input.txt");
    let mut text = String::new();
    let mut x: u64 = 7;
    while text.len() < 16 << 20 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        text += &format!("record {} value {} name{}\n", x >> 40, (x >> 20) & 0xffff, (x >> 50) % 1000);
    }
    std::fs::write(&raw, &text).unwrap();
    let st = std::process::Command::new("xz").args(["-k", "-3"]).arg(&raw).status().unwrap();
    assert!(st.success());
    let packed = dir.join("input.txt.xz");
    let out_path = dir.join("out.txt");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut p = cpu_linux_user::Process::new(1 << 30);
    let argv = [CString::new("unxz").unwrap(), CString::new("-c").unwrap(), CString::new(packed.to_str().unwrap()).unwrap()];
    p.load("/bin/busybox", &argv, &[]).unwrap();
    // SAFETY: temporarily point fd 1 at the output file for the guest.
    let saved = unsafe { libc::dup(1) };
    unsafe { libc::dup2(out.as_raw_fd(), 1) };
    let start = Instant::now();
    let status = p.run();
    let secs = start.elapsed().as_secs_f64();
    unsafe {
        libc::dup2(saved, 1);
        libc::close(saved);
    }
    let same = std::fs::read(&out_path).unwrap() == text.as_bytes();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(status, 0);
    assert!(same, "guest unxz output differs from the original");
    let insns = p.cpu.icount;
    println!("unxz 16 MiB: {insns} guest instructions in {secs:.2} s ({:.1} MIPS)", insns as f64 / secs / 1e6);
}

//! End to end: the `netvm` binary boots the project's guest image (kernel +
//! ext2 root on virtio-blk + the wasm0 9p share) to its ready line, runs
//! commands on the serial console, writes to the share and the disk, syncs
//! and powers off with status 0; the host then checks the files and the
//! disk image. Time runs on instruction count (`-icount`), so what the
//! guest sees does not depend on the host's load.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::console::Console;
use testkit::guest::{self, READY_LINE};

const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
const CMD_TIMEOUT: Duration = Duration::from_secs(60);

/// netvm on `kernel` with the 9p share `wasm0` at `share`, on instruction
/// time.
fn spawn_netvm(kernel: &Path, rootfs: &Path, share: &Path) -> Console {
    let virtfs = format!("local,path={},mount_tag=wasm0,security_model=passthrough,id=wasm0", share.display());
    common::spawn_netvm(
        kernel,
        rootfs,
        common::APPEND,
        &["-virtfs", &virtfs, "-accel", "tcg,tb-size=500", "-icount", "shift=3,sleep=off"],
    )
}

#[test]
fn boots_to_a_shell_uses_disk_and_share_and_powers_off() {
    let image = guest::image();
    let work = tempfile::tempdir().unwrap();
    let rootfs = image.rootfs_copy(work.path());
    let share = work.path().join("share");
    std::fs::create_dir(&share).unwrap();
    std::fs::write(share.join("from-host.txt"), "hello from the host\n").unwrap();

    let mut c = spawn_netvm(&image.vmlinux(), &rootfs, &share);
    c.wait_for(READY_LINE, BOOT_TIMEOUT);

    let uname = c.run_ok("uname -a", CMD_TIMEOUT);
    assert!(uname.contains("Linux") && uname.contains("x86_64"), "uname: {uname}");
    let cpuinfo = c.run_ok("cat /proc/cpuinfo", CMD_TIMEOUT);
    assert!(cpuinfo.contains("NetvmNetvmVM"), "cpuinfo: {cpuinfo}");
    assert!(cpuinfo.contains("cpu MHz\t\t: 125.000"), "the TSC rate from -icount shift=3: {cpuinfo}");

    c.run_ok("mkdir -p /mnt && mount -t 9p -o trans=virtio wasm0 /mnt -oversion=9p2000.L", CMD_TIMEOUT);
    let read = c.run_ok("cat /mnt/from-host.txt", CMD_TIMEOUT);
    assert_eq!(read.trim(), "hello from the host");
    c.run_ok("echo written by the guest > /mnt/from-guest.txt && sync", CMD_TIMEOUT);

    c.run_ok("echo netvm-disk-marker-42 > /disk-marker.txt && sync", CMD_TIMEOUT);
    c.send_line("poweroff");
    let status = c.wait_exit(Duration::from_secs(60)).expect("netvm exits after poweroff");
    assert!(status.success(), "netvm exit status after poweroff: {status:?}\n{}", c.transcript());

    assert_eq!(std::fs::read_to_string(share.join("from-guest.txt")).unwrap(), "written by the guest\n");
    let disk = std::fs::read(&rootfs).unwrap();
    let marker = b"netvm-disk-marker-42\n";
    assert!(disk.windows(marker.len()).any(|w| w == marker), "the file written in the guest is on the disk image");
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "the kernel decompressor is slow in an unoptimised interpreter; scripts/test runs the workspace tests in release"
)]
fn a_bzimage_boots_too_and_bad_options_are_named() {
    let image = guest::image();
    let work = tempfile::tempdir().unwrap();
    let rootfs = image.rootfs_copy(work.path());
    let mut c = spawn_netvm(&image.bzimage(), &rootfs, work.path());
    c.wait_for(READY_LINE, BOOT_TIMEOUT);
    c.send_line("poweroff");
    assert!(c.wait_exit(Duration::from_secs(60)).unwrap().success());

    let out = Command::new(env!("CARGO_BIN_EXE_netvm"))
        .args(["-kernel", "k", "-vga", "std"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-vga"), "{out:?}");
}

#[test]
fn reboot_ends_the_run_and_ctrl_a_x_quits() {
    let image = guest::image();
    let work = tempfile::tempdir().unwrap();
    let rootfs = image.rootfs_copy(work.path());
    let mut c = spawn_netvm(&image.vmlinux(), &rootfs, work.path());
    c.wait_for(READY_LINE, BOOT_TIMEOUT);
    c.send_line("reboot");
    c.wait_for("reboot: machine restart", CMD_TIMEOUT);
    assert!(c.wait_exit(Duration::from_secs(60)).unwrap().success(), "a reset ends the run (as -no-reboot)");

    let rootfs = image.rootfs_copy(work.path());
    let mut c = spawn_netvm(&image.vmlinux(), &rootfs, work.path());
    c.wait_for(READY_LINE, BOOT_TIMEOUT);
    c.send_raw(b"\x01x");
    assert!(c.wait_exit(Duration::from_secs(30)).unwrap().success(), "Ctrl-A x quits with status 0");
}

/// Words after `--` on the command line are init's arguments: they reach
/// init untouched, and the machine's own kernel parameter (the TSC rate)
/// still reaches the kernel. (When it landed among init's arguments, the
/// kernel marked the TSC unstable and the guest never got to init.)
#[test]
fn init_arguments_after_double_dash_reach_init() {
    let image = guest::image();
    let work = tempfile::tempdir().unwrap();
    let rootfs = image.rootfs_copy(work.path());
    let append = format!(r#"{} init=/bin/sh -- -c "echo init-args: $((6 * 7)) -- ok; poweroff -f""#, common::APPEND);
    let mut c = common::spawn_netvm(&image.vmlinux(), &rootfs, &append, &["-icount", "shift=3,sleep=off"]);
    c.wait_for("tsc: Detected 125.000 MHz", BOOT_TIMEOUT);
    c.wait_for("init-args: 42 -- ok", BOOT_TIMEOUT);
    let status = c.wait_exit(CMD_TIMEOUT).expect("netvm exits after poweroff -f");
    assert!(status.success(), "netvm exit status {status:?}\n{}", c.transcript());
    assert!(!c.transcript().contains("Marking TSC unstable"), "{}", c.transcript());
}

/// The page's files (scripts/build-site): `netvm-img kernel-segments` of
/// the vmlinux and `netvm-img sparse` of the root disk, booted with
/// `format=android-sparse`, give the guest the same disk byte for byte
/// (mounted read-only, so that the hash is of the image as built).
#[test]
fn the_pages_smaller_kernel_and_sparse_disk_boot_the_same_guest() {
    let image = guest::image();
    let work = tempfile::tempdir().unwrap();
    let (kernel, disk) = (work.path().join("vmlinux"), work.path().join("rootfs.simg"));
    for (command, from, to) in [("kernel-segments", image.vmlinux(), &kernel), ("sparse", image.rootfs(), &disk)] {
        let status = Command::new(env!("CARGO_BIN_EXE_netvm-img")).arg(command).arg(&from).arg(to).status().unwrap();
        assert!(status.success(), "netvm-img {command} {}", from.display());
    }
    assert!(std::fs::metadata(&disk).unwrap().len() < std::fs::metadata(image.rootfs()).unwrap().len() / 4);

    let child = Command::new(env!("CARGO_BIN_EXE_netvm"))
        .args(["-nographic", "-m", "256M", "-kernel"])
        .arg(&kernel)
        .args(["-append", "console=ttyS0 root=/dev/vda ro", "-drive"])
        .arg(format!("if=virtio,format=android-sparse,readonly=on,file={}", disk.display()))
        .args(["-icount", "shift=3,sleep=off"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start netvm");
    let mut c = Console::new("netvm", child);
    c.wait_for(READY_LINE, BOOT_TIMEOUT);
    let in_guest = c.run_ok("sha256sum /dev/vda", CMD_TIMEOUT);
    let host = Command::new("sha256sum").arg(image.rootfs()).output().unwrap();
    let host_hash = String::from_utf8_lossy(&host.stdout).split_whitespace().next().unwrap().to_string();
    assert!(in_guest.contains(&host_hash), "guest: {in_guest}\nraw image: {host_hash}");
    c.send_line("poweroff");
    assert!(c.wait_exit(Duration::from_secs(60)).expect("netvm exits after poweroff").success());
}

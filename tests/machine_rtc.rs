//! The guest's wall clock: Linux sets its time at boot from the machine's
//! CMOS RTC. On host time the guest's `date` is the host's; on instruction
//! time (`-icount`) the clock starts at a fixed instant, so the boot time
//! the guest records is the same on every run; `-rtc base=` sets it.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use testkit::console::Console;
use testkit::guest::{self, READY_LINE};

const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
const CMD_TIMEOUT: Duration = Duration::from_secs(60);
/// How far the guest's boot time may be from netvm's start: the kernel
/// reads the RTC (whole seconds) a fraction of a second into the boot.
const BOOT_TIME_TOLERANCE_S: i64 = 5;
/// How far the guest's `date` may be from the host's later on: guest time
/// follows the host's but never skips timer ticks (machine/clock.rs), so
/// on a loaded host (CI runs tests in parallel) it can fall a few seconds
/// behind. 1970 or a wrong day is still far outside.
const DATE_TOLERANCE_S: i64 = 30;

fn spawn_netvm(rootfs: &Path, extra: &[&str]) -> Console {
    common::spawn_netvm(&guest::image().vmlinux(), rootfs, common::APPEND, extra)
}

fn host_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The guest's boot time (`btime` in /proc/stat: the wall time the kernel
/// read from the RTC, less the uptime then) and its current time.
fn guest_clock(c: &mut Console) -> (i64, i64) {
    let out = c.run_ok("grep btime /proc/stat; date +%s", CMD_TIMEOUT);
    let mut lines = out.lines().map(str::trim).filter(|l| !l.is_empty());
    let btime = lines.next().and_then(|l| l.strip_prefix("btime ")).and_then(|v| v.parse().ok());
    let now = lines.next().and_then(|l| l.parse().ok());
    match (btime, now) {
        (Some(b), Some(n)) => (b, n),
        _ => panic!("unexpected output {out:?}\n{}", c.transcript()),
    }
}

fn boot_and_read_clock(extra: &[&str]) -> (i64, i64, i64) {
    let work = tempfile::tempdir().unwrap();
    let rootfs = guest::image().rootfs_copy(work.path());
    let started = host_now();
    let mut c = spawn_netvm(&rootfs, extra);
    c.wait_for(READY_LINE, BOOT_TIMEOUT);
    let (btime, now) = guest_clock(&mut c);
    c.send_line("poweroff");
    assert!(c.wait_exit(Duration::from_secs(60)).unwrap().success());
    (started, btime, now)
}

#[test]
fn on_host_time_the_guest_clock_is_the_hosts() {
    let (started, btime, guest_now) = boot_and_read_clock(&[]);
    let host = host_now();
    assert!((guest_now - host).abs() <= DATE_TOLERANCE_S, "guest date +%s {guest_now}, host {host}");
    assert!((btime - started).abs() <= BOOT_TIME_TOLERANCE_S, "guest boot time {btime}, netvm started at {started}");
}

#[test]
fn on_instruction_time_the_clock_starts_at_a_fixed_instant() {
    // 2024-01-01T00:00:00Z, netvm's fixed start for -icount.
    // btime is the RTC's whole second less the guest's uptime when it was
    // read, so it lands on the second before.
    let (_, btime, now) = boot_and_read_clock(&["-icount", "shift=3,sleep=off"]);
    assert!((1_704_067_199..=1_704_067_200).contains(&btime), "boot time on instruction time: {btime}");
    assert!(now >= btime, "{now}");
    let (_, again, _) = boot_and_read_clock(&["-icount", "shift=3,sleep=off"]);
    assert_eq!(again, btime, "the same on every run");

    // `date -u -d 2006-06-17T16:01:21 +%s`
    let (_, btime, _) = boot_and_read_clock(&["-icount", "shift=3,sleep=off", "-rtc", "base=2006-06-17T16:01:21"]);
    assert!((1_150_560_080..=1_150_560_081).contains(&btime), "-rtc base= sets the start: {btime}");
}

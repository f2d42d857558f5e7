use super::*;

const SEC: u64 = 1_000_000_000;
/// Tue Nov 14 22:13:20 UTC 2023.
const START: i128 = 1_700_000_000 * NS_PER_SEC;

fn read(rtc: &mut CmosRtc, r: u8, now: u64) -> u8 {
    rtc.write(0, r, now);
    rtc.read(1, now)
}

fn write(rtc: &mut CmosRtc, r: u8, v: u8, now: u64) {
    rtc.write(0, r, now);
    rtc.write(1, v, now);
}

/// What Linux's mc146818_get_time reads: sec, min, hour, mday, mon, year,
/// century.
fn clock(rtc: &mut CmosRtc, now: u64) -> [u8; 7] {
    [0, 2, 4, 7, 8, 9, 0x32].map(|r| read(rtc, r, now))
}

#[test]
fn shows_the_start_time_in_bcd_and_runs_with_guest_time() {
    let mut rtc = CmosRtc::new(START);
    assert_eq!(clock(&mut rtc, 0), [0x20, 0x13, 0x22, 0x14, 0x11, 0x23, 0x20]);
    assert_eq!(read(&mut rtc, 6, 0), 3, "Tuesday (Sunday = 1)");
    // 40 s later: 22:14:00.
    assert_eq!(clock(&mut rtc, 40 * SEC), [0x00, 0x14, 0x22, 0x14, 0x11, 0x23, 0x20]);
    assert_eq!(read(&mut rtc, 0x0d, 0), D_VRT, "valid RAM and time");
    assert_eq!(read(&mut rtc, 0x0b, 0), B_24H);
}

#[test]
fn binary_and_twelve_hour_modes() {
    let mut rtc = CmosRtc::new(START);
    write(&mut rtc, 0x0b, B_BINARY | B_24H, 0);
    assert_eq!(clock(&mut rtc, 0), [20, 13, 22, 14, 11, 23, 20]);
    write(&mut rtc, 0x0b, 0, 0); // BCD, 12-hour
    assert_eq!(read(&mut rtc, 4, 0), HOUR_PM | 0x10, "22h is 10 PM");
    // Midnight is 12 AM.
    let mut rtc = CmosRtc::new(START + 2 * 3600 * NS_PER_SEC);
    write(&mut rtc, 0x0b, 0, 0);
    assert_eq!(read(&mut rtc, 4, 0), 0x12);
}

#[test]
fn uip_is_set_just_before_each_second() {
    let mut rtc = CmosRtc::new(START);
    assert_eq!(read(&mut rtc, 0x0a, 0), A_DEFAULT);
    assert_eq!(read(&mut rtc, 0x0a, SEC - 300_000), A_DEFAULT);
    assert_eq!(read(&mut rtc, 0x0a, SEC - 100_000), A_DEFAULT | A_UIP);
    assert_eq!(read(&mut rtc, 0x0a, SEC), A_DEFAULT);
    // UIP is read-only.
    write(&mut rtc, 0x0a, 0xa6, 0);
    assert_eq!(read(&mut rtc, 0x0a, 0), 0x26);
}

#[test]
fn the_guest_sets_the_time_with_set() {
    let mut rtc = CmosRtc::new(START);
    write(&mut rtc, 0x0b, B_SET | B_24H, 5 * SEC);
    // Frozen while SET is on.
    assert_eq!(read(&mut rtc, 0, 9 * SEC), 0x25);
    // 2031-01-02 03:04:05
    for (r, v) in [(0, 0x05), (2, 0x04), (4, 0x03), (7, 0x02), (8, 0x01), (9, 0x31), (0x32, 0x20)] {
        write(&mut rtc, r, v, 9 * SEC);
    }
    assert_eq!(read(&mut rtc, 9, 9 * SEC), 0x31);
    write(&mut rtc, 0x0b, B_24H, 10 * SEC);
    assert_eq!(clock(&mut rtc, 10 * SEC), [0x05, 0x04, 0x03, 0x02, 0x01, 0x31, 0x20]);
    assert_eq!(clock(&mut rtc, 70 * SEC), [0x05, 0x05, 0x03, 0x02, 0x01, 0x31, 0x20]);
}

#[test]
fn an_invalid_time_leaves_the_clock_alone() {
    let mut rtc = CmosRtc::new(START);
    write(&mut rtc, 0x0b, B_SET | B_24H, 0);
    write(&mut rtc, 8, 0x13, 0); // month 13
    write(&mut rtc, 0x0b, B_24H, 0);
    assert_eq!(clock(&mut rtc, 0), [0x20, 0x13, 0x22, 0x14, 0x11, 0x23, 0x20]);
    // A bad BCD digit written while the clock runs.
    write(&mut rtc, 0, 0x5a, 0);
    assert_eq!(read(&mut rtc, 0, 0), 0x20);
    // Every register value from the guest is survived.
    for r in 0..=0xffu8 {
        for v in [0, 0x7f, 0x80, 0x99, 0xff] {
            write(&mut rtc, r, v, 3 * SEC);
            let _ = read(&mut rtc, r, 3 * SEC);
        }
    }
}

#[test]
fn a_running_write_moves_the_clock() {
    let mut rtc = CmosRtc::new(START);
    write(&mut rtc, 2, 0x45, 0); // minutes := 45
    assert_eq!(clock(&mut rtc, SEC), [0x21, 0x45, 0x22, 0x14, 0x11, 0x23, 0x20]);
}

#[test]
fn cmos_ram_keeps_what_is_written_and_the_index_wraps_at_128() {
    let mut rtc = CmosRtc::new(START);
    write(&mut rtc, 0x40, 0xab, 0);
    assert_eq!(read(&mut rtc, 0x40, 0), 0xab);
    // Bit 7 of the index is the NMI mask, not part of the address.
    write(&mut rtc, 0x80 | 0x41, 0xcd, 0);
    assert_eq!(read(&mut rtc, 0x41, 0), 0xcd);
    assert_eq!(read(&mut rtc, 0x0c, 0), 0);
    assert_eq!(rtc.read(0, 0), 0xff, "the index port is write-only");
}

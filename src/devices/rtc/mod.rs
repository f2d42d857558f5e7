//! The PC's battery-backed clock: a Motorola MC146818 real-time clock with
//! 128 bytes of CMOS, behind an index port (0x70) and a data port (0x71).
//!
//! Linux reads it once at boot (`read_persistent_clock64` →
//! `mach_get_cmos_time`) to set the system time: without it the guest's
//! clock starts at 1970, and the kernel first spends a second of guest time
//! waiting for an "update in progress" bit that an open bus (0xff) never
//! clears.
//!
//! The time shown is `base + now`, where `now` is the guest time the machine
//! passes with each access (nanoseconds since power-on, from its TSC), so
//! the clock runs at the guest's rate: deterministically on instruction
//! time, with the host on host time. The guest may set it (SET bit, then the
//! time registers), which moves `base`. Implemented: time and date in BCD or
//! binary, 12/24-hour mode, the century at 0x32 (the FADT's CENTURY field
//! points there), register A's UIP bit in the 244 µs before each second,
//! register D's "valid RAM and time", alarms and the rest of the CMOS as
//! plain storage. Not implemented: the periodic, alarm and update-ended
//! interrupts (register C reads 0; nothing is wired to IRQ 8, and the
//! guest kernel has no RTC driver that would enable them).

pub mod calendar;

use calendar::DateTime;

use crate::devices::WarnBudget;

/// Index and data ports (PC/AT convention).
pub const RTC_INDEX_PORT: u16 = 0x70;
pub const RTC_DATA_PORT: u16 = 0x71;
/// The century register, by IBM PC convention; the FADT names it.
pub const CENTURY_REGISTER: u8 = 0x32;

/// Register numbers (MC146818 datasheet, "Address map").
mod reg {
    pub const SECONDS: u8 = 0x00;
    pub const MINUTES: u8 = 0x02;
    pub const HOURS: u8 = 0x04;
    pub const WEEKDAY: u8 = 0x06;
    pub const DAY: u8 = 0x07;
    pub const MONTH: u8 = 0x08;
    pub const YEAR: u8 = 0x09;
    pub const A: u8 = 0x0a;
    pub const B: u8 = 0x0b;
    pub const C: u8 = 0x0c;
    pub const D: u8 = 0x0d;
}

/// Register A: update in progress (read-only).
const A_UIP: u8 = 0x80;
/// Register A after a PC BIOS sets it up: 32.768 kHz time base, 1024 Hz
/// periodic rate.
const A_DEFAULT: u8 = 0x26;
/// Register B: SET stops updates so the guest can write the time.
const B_SET: u8 = 0x80;
/// Register B: update-ended interrupt enable (cleared by SET).
const B_UIE: u8 = 0x10;
/// Register B: interrupt enables (periodic, alarm, update-ended).
const B_INTERRUPTS: u8 = 0x70;
/// Register B: binary instead of BCD.
const B_BINARY: u8 = 0x04;
/// Register B: 24-hour instead of 12-hour mode.
const B_24H: u8 = 0x02;
/// Register B at power-on as a PC BIOS leaves it: BCD, 24-hour mode.
const B_DEFAULT: u8 = B_24H;
/// Register D: valid RAM and time (the battery is good).
const D_VRT: u8 = 0x80;
/// 12-hour mode: PM flag in the hours register.
const HOUR_PM: u8 = 0x80;
/// UIP is set this long before each update (datasheet: 244 µs).
const UIP_LEAD_NS: i128 = 244_000;
const NS_PER_SEC: i128 = 1_000_000_000;

/// The clock chip.
pub struct CmosRtc {
    /// The register port 0x71 reaches (port 0x70 bits 0-6).
    index: u8,
    /// Storage: CMOS RAM, alarms, registers A and B; while SET is on, also
    /// the time registers the guest is writing.
    ram: [u8; 128],
    /// Unix time in nanoseconds at guest time 0.
    base_ns: i128,
    warnings: WarnBudget,
    interrupts_logged: bool,
}

/// The time registers, in the order of `TIME_REGISTERS`.
const TIME_REGISTERS: [u8; 8] =
    [reg::SECONDS, reg::MINUTES, reg::HOURS, reg::WEEKDAY, reg::DAY, reg::MONTH, reg::YEAR, CENTURY_REGISTER];

fn to_bcd(v: u8) -> u8 {
    ((v / 10) << 4) | (v % 10)
}

fn from_bcd(v: u8) -> Option<u8> {
    let (hi, lo) = (v >> 4, v & 0xf);
    (hi < 10 && lo < 10).then_some(hi * 10 + lo)
}

impl CmosRtc {
    /// A clock showing `start_unix_ns` (nanoseconds since 1970, UTC) at
    /// guest time 0.
    pub fn new(start_unix_ns: i128) -> CmosRtc {
        let mut ram = [0u8; 128];
        ram[reg::A as usize] = A_DEFAULT;
        ram[reg::B as usize] = B_DEFAULT;
        CmosRtc { index: 0, ram, base_ns: start_unix_ns, warnings: WarnBudget::default(), interrupts_logged: false }
    }

    /// Guest `in` from port 0x70 + `offset` (0 or 1); `now_ns` is guest
    /// time since power-on.
    pub fn read(&mut self, offset: u16, now_ns: u64) -> u8 {
        match offset {
            // The index port is write-only; reads float.
            0 => 0xff,
            _ => self.read_register(self.index, now_ns),
        }
    }

    /// Guest `out` to port 0x70 + `offset` (0 or 1).
    pub fn write(&mut self, offset: u16, value: u8, now_ns: u64) {
        match offset {
            // Bit 7 masks NMIs on a PC; this machine has no NMI source.
            0 => self.index = value & 0x7f,
            _ => self.write_register(self.index, value, now_ns),
        }
    }

    fn unix_ns(&self, now_ns: u64) -> i128 {
        self.base_ns + now_ns as i128
    }

    /// Whether updates are stopped for the guest to set the time.
    fn setting(&self) -> bool {
        self.ram[reg::B as usize] & B_SET != 0
    }

    /// The time registers' values for `t`, in the current data mode.
    fn encode(&self, t: &DateTime) -> [u8; 8] {
        let b = self.ram[reg::B as usize];
        let field = |v: u8| if b & B_BINARY != 0 { v } else { to_bcd(v) };
        let hours = if b & B_24H != 0 {
            field(t.hour)
        } else {
            let h12 = if t.hour % 12 == 0 { 12 } else { t.hour % 12 };
            field(h12) | if t.hour >= 12 { HOUR_PM } else { 0 }
        };
        [
            field(t.second),
            field(t.minute),
            hours,
            t.weekday() + 1, // 1 = Sunday
            field(t.day),
            field(t.month),
            field(t.year.rem_euclid(100) as u8),
            field(t.year.div_euclid(100).rem_euclid(100) as u8),
        ]
    }

    /// The inverse of `encode`: `None` if a register holds a value no
    /// clock could show (bad BCD digit, month 13, ...).
    fn decode(&self, regs: &[u8; 8]) -> Option<DateTime> {
        let b = self.ram[reg::B as usize];
        let field = |v: u8| if b & B_BINARY != 0 { Some(v) } else { from_bcd(v) };
        let hour = if b & B_24H != 0 {
            field(regs[2])?
        } else {
            let h12 = field(regs[2] & !HOUR_PM)?;
            if !(1..=12).contains(&h12) {
                return None;
            }
            h12 % 12 + if regs[2] & HOUR_PM != 0 { 12 } else { 0 }
        };
        let (year, century) = (field(regs[6])?, field(regs[7])?);
        if year > 99 || century > 99 {
            return None;
        }
        let t = DateTime {
            year: century as i64 * 100 + year as i64,
            month: field(regs[5])?,
            day: field(regs[4])?,
            hour,
            minute: field(regs[1])?,
            second: field(regs[0])?,
        };
        t.to_unix().map(|_| t)
    }

    /// The time registers now: the running clock, or what the guest wrote
    /// while SET is on.
    fn time_registers(&self, now_ns: u64) -> [u8; 8] {
        if self.setting() {
            TIME_REGISTERS.map(|r| self.ram[r as usize])
        } else {
            let secs = self.unix_ns(now_ns).div_euclid(NS_PER_SEC);
            self.encode(&DateTime::from_unix(secs as i64))
        }
    }

    /// The running clock jumps to the time in `regs`, at a second boundary.
    fn commit(&mut self, regs: &[u8; 8], now_ns: u64) {
        match self.decode(regs) {
            Some(t) => {
                let secs = t.to_unix().unwrap_or_default() as i128;
                self.base_ns = secs * NS_PER_SEC - now_ns as i128;
                log::debug!("rtc: guest set the time to {t:?}");
            }
            None => log::log!(self.warnings.level(), "rtc: guest wrote an invalid time {regs:02x?}; clock unchanged"),
        }
    }

    fn read_register(&mut self, r: u8, now_ns: u64) -> u8 {
        if let Some(i) = TIME_REGISTERS.iter().position(|&t| t == r) {
            return self.time_registers(now_ns)[i];
        }
        match r {
            reg::A => {
                let into_second = self.unix_ns(now_ns).rem_euclid(NS_PER_SEC);
                let uip = !self.setting() && into_second >= NS_PER_SEC - UIP_LEAD_NS;
                (self.ram[reg::A as usize] & !A_UIP) | if uip { A_UIP } else { 0 }
            }
            // No interrupt source runs: no flags.
            reg::C => 0,
            reg::D => D_VRT,
            _ => self.ram[r as usize],
        }
    }

    fn write_register(&mut self, r: u8, value: u8, now_ns: u64) {
        if let Some(i) = TIME_REGISTERS.iter().position(|&t| t == r) {
            let mut regs = self.time_registers(now_ns);
            regs[i] = value;
            if self.setting() {
                self.ram[r as usize] = value;
            } else {
                // A write while the clock runs takes effect at once.
                self.commit(&regs, now_ns);
            }
            return;
        }
        match r {
            reg::A => self.ram[r as usize] = value & !A_UIP,
            reg::B => {
                let was_setting = self.setting();
                // SET clears UIE (datasheet).
                let value = if value & B_SET != 0 { value & !B_UIE } else { value };
                if was_setting && value & B_SET == 0 {
                    // Decoded in the data mode they were written in.
                    let written = TIME_REGISTERS.map(|t| self.ram[t as usize]);
                    self.commit(&written, now_ns);
                }
                let running = self.unix_ns(now_ns).div_euclid(NS_PER_SEC) as i64;
                self.ram[r as usize] = value;
                if value & B_SET != 0 && !was_setting {
                    // Entering SET freezes the registers at the current
                    // time, in the (possibly new) data mode.
                    let regs = self.encode(&DateTime::from_unix(running));
                    for (t, v) in TIME_REGISTERS.into_iter().zip(regs) {
                        self.ram[t as usize] = v;
                    }
                }
                if value & B_INTERRUPTS != 0 && !self.interrupts_logged {
                    self.interrupts_logged = true;
                    log::info!("rtc: guest enabled RTC interrupts ({value:#04x}); this RTC raises none");
                }
            }
            reg::C | reg::D => {} // read-only
            _ => self.ram[r as usize] = value,
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

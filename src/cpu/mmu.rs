//! Virtual memory: 4-level paging (Intel SDM vol. 3 §4.5) with a software
//! TLB, and the memory accessors every instruction uses.
//!
//! The TLB is direct-mapped with separate tags for read, write and execute,
//! one set per privilege class (supervisor, user) so a CPL change needs no
//! flush. A tag only matches pages backed by RAM, so a hit reads or writes
//! the RAM slice directly. The write tag is only filled once the page's
//! dirty bit is set and when the page holds no cached code, so the first
//! write to a clean page and every write to a code page take the slow path
//! (which sets D, or drops the stale decoded code).

use super::bus::Bus;
use super::exception::{Event, Res, GP, PF};
use super::state::{Cpu, CR0_PG, CR0_WP, EFER_NXE};

const TLB_SIZE: usize = 1024;
const INVALID_TAG: u64 = 1;

#[derive(Clone, Copy)]
struct Entry {
    read: u64,
    write: u64,
    exec: u64,
    /// Guest-physical (== RAM offset) of the page.
    phys: u64,
}

const EMPTY: Entry = Entry {
    read: INVALID_TAG,
    write: INVALID_TAG,
    exec: INVALID_TAG,
    phys: 0,
};

pub(crate) struct Tlb {
    /// Fixed-size sets so masked indices need no bounds checks.
    sets: Box<[[Entry; TLB_SIZE]; 2]>,
}

impl Tlb {
    pub fn new() -> Self {
        Tlb {
            sets: Box::new([[EMPTY; TLB_SIZE]; 2]),
        }
    }
    pub fn flush(&mut self) {
        for s in self.sets.iter_mut() {
            s.fill(EMPTY);
        }
    }
    pub fn flush_page(&mut self, va: u64) {
        let idx = ((va >> 12) as usize) & (TLB_SIZE - 1);
        for s in self.sets.iter_mut() {
            s[idx] = EMPTY;
        }
    }
    /// Forget write permission to a physical page (it now holds cached code).
    pub fn drop_writes_to(&mut self, phys_page: u64) {
        for s in self.sets.iter_mut() {
            for e in s.iter_mut() {
                if e.phys == phys_page {
                    e.write = INVALID_TAG;
                }
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Access {
    Read,
    Write,
    Exec,
}

/// Result of a page walk.
struct Walk {
    phys: u64,
    writable: bool,
    dirty: bool,
    executable: bool,
}

#[inline(always)]
fn tlb_index(va: u64) -> usize {
    ((va >> 12) as usize) & (TLB_SIZE - 1)
}

#[inline(always)]
pub(crate) fn canonical(va: u64) -> bool {
    ((va as i64) << 16 >> 16) as u64 == va
}

impl Cpu {
    #[inline(always)]
    fn tlb_set(&self) -> usize {
        (self.cpl == 3) as usize
    }

    /// Flush the whole TLB (CR3 write, CR0/CR4 paging bit changes).
    pub fn flush_tlb(&mut self) {
        self.tlb.flush();
        self.stop_block = true;
    }

    /// Read `size` (1, 2, 4, 8) bytes at virtual address `va`.
    #[inline(always)]
    pub(crate) fn read_mem<B: Bus>(&mut self, bus: &mut B, va: u64, size: u8) -> Res<u64> {
        let e = &self.tlb.sets[self.tlb_set()][tlb_index(va)];
        let off = va & 0xfff;
        if e.read == va & !0xfff && off + size as u64 <= 0x1000 {
            let p = (e.phys | off) as usize;
            if let Some(v) = load(bus.ram(), p, size) {
                return Ok(v);
            }
        }
        self.read_mem_slow(bus, va, size)
    }

    /// Write `size` (1, 2, 4, 8) bytes at virtual address `va`.
    #[inline(always)]
    pub(crate) fn write_mem<B: Bus>(&mut self, bus: &mut B, va: u64, size: u8, v: u64) -> Res {
        let e = &self.tlb.sets[self.tlb_set()][tlb_index(va)];
        let off = va & 0xfff;
        if e.write == va & !0xfff && off + size as u64 <= 0x1000 {
            let p = (e.phys | off) as usize;
            if store(bus.ram(), p, size, v) {
                return Ok(());
            }
        }
        self.write_mem_slow(bus, va, size, v)
    }

    /// The RAM offset of the `len` bytes at `va` when they lie in one page
    /// whose translation for a read (or a write) is in the TLB, which
    /// only holds RAM pages, without code for write tags; `None` sends the
    /// caller (bulk REP MOVS/STOS) down the per-access path.
    #[inline]
    pub(crate) fn tlb_ram_span(&self, va: u64, len: u64, write: bool) -> Option<usize> {
        let e = &self.tlb.sets[self.tlb_set()][tlb_index(va)];
        let off = va & 0xfff;
        let tag = if write { e.write } else { e.read };
        (tag == va & !0xfff && len != 0 && off + len <= 0x1000).then(|| (e.phys | off) as usize)
    }

    pub(crate) fn read_u128<B: Bus>(&mut self, bus: &mut B, va: u64) -> Res<u128> {
        let lo = self.read_mem(bus, va, 8)?;
        let hi = self.read_mem(bus, va.wrapping_add(8), 8)?;
        Ok(lo as u128 | (hi as u128) << 64)
    }

    pub(crate) fn write_u128<B: Bus>(&mut self, bus: &mut B, va: u64, v: u128) -> Res {
        // Probe both halves first so a fault leaves memory untouched.
        self.translate(bus, va, Access::Write)?;
        self.translate(bus, va.wrapping_add(15), Access::Write)?;
        self.write_mem(bus, va, 8, v as u64)?;
        self.write_mem(bus, va.wrapping_add(8), 8, (v >> 64) as u64)
    }

    #[cold]
    fn read_mem_slow<B: Bus>(&mut self, bus: &mut B, va: u64, size: u8) -> Res<u64> {
        let v = self.read_mem_untracked(bus, va, size)?;
        if self.dr_data_armed {
            self.note_data_access(va, size, false);
        }
        Ok(v)
    }

    fn read_mem_untracked<B: Bus>(&mut self, bus: &mut B, va: u64, size: u8) -> Res<u64> {
        if (va & 0xfff) + size as u64 > 0x1000 {
            // Page-crossing access: translate both pages before reading.
            let last = va.wrapping_add(size as u64 - 1);
            self.translate(bus, va, Access::Read)?;
            self.translate(bus, last, Access::Read)?;
            let mut v = 0u64;
            for i in 0..size as u64 {
                let p = self.translate(bus, va.wrapping_add(i), Access::Read)?;
                v |= self.phys_read(bus, p, 1) << (8 * i);
            }
            return Ok(v);
        }
        let p = self.translate(bus, va, Access::Read)?;
        Ok(self.phys_read(bus, p, size))
    }

    #[cold]
    fn write_mem_slow<B: Bus>(&mut self, bus: &mut B, va: u64, size: u8, v: u64) -> Res {
        self.write_mem_untracked(bus, va, size, v)?;
        if self.dr_data_armed {
            self.note_data_access(va, size, true);
        }
        Ok(())
    }

    fn write_mem_untracked<B: Bus>(&mut self, bus: &mut B, va: u64, size: u8, v: u64) -> Res {
        if (va & 0xfff) + size as u64 > 0x1000 {
            let last = va.wrapping_add(size as u64 - 1);
            self.translate(bus, va, Access::Write)?;
            self.translate(bus, last, Access::Write)?;
            for i in 0..size as u64 {
                let p = self.translate(bus, va.wrapping_add(i), Access::Write)?;
                self.phys_write(bus, p, 1, v >> (8 * i));
            }
            return Ok(());
        }
        let p = self.translate(bus, va, Access::Write)?;
        self.phys_write(bus, p, size, v);
        Ok(())
    }

    /// Read guest-physical memory (RAM or MMIO).
    pub(crate) fn phys_read<B: Bus>(&mut self, bus: &mut B, p: u64, size: u8) -> u64 {
        let ram = bus.ram();
        if p.checked_add(size as u64)
            .is_some_and(|e| e <= ram.len() as u64)
        {
            return load(ram, p as usize, size).unwrap_or(0);
        }
        bus.mmio_read(p, size)
    }

    /// Write guest-physical memory, dropping decoded code of the page.
    pub(crate) fn phys_write<B: Bus>(&mut self, bus: &mut B, p: u64, size: u8, v: u64) {
        let ram = bus.ram();
        if p.checked_add(size as u64)
            .is_some_and(|e| e <= ram.len() as u64)
        {
            store(ram, p as usize, size, v);
            if self.code.has_code(p >> 12) {
                self.invalidate_code_page(p >> 12);
            }
            return;
        }
        bus.mmio_write(p, size, v)
    }

    /// The machine calls this after writing guest RAM behind the CPU's back
    /// (device DMA, loaders) so decoded code of those pages is dropped.
    pub fn notify_ram_write(&mut self, gpa: u64, len: u64) {
        if len == 0 {
            return;
        }
        let first = gpa >> 12;
        let last = gpa.saturating_add(len - 1) >> 12;
        for page in first..=last.min(first + (1 << 20)) {
            if self.code.has_code(page) {
                self.invalidate_code_page(page);
            }
        }
    }

    pub(crate) fn invalidate_code_page(&mut self, page: u64) {
        self.code.invalidate_page(page);
        self.stop_block = true;
    }

    /// Translate `va` for an access at the current CPL, filling the TLB.
    /// A TLB hit is inlined into the caller (every block fetch translates
    /// RIP); a miss walks the page tables out of line.
    #[inline(always)]
    pub(crate) fn translate<B: Bus>(&mut self, bus: &mut B, va: u64, acc: Access) -> Res<u64> {
        let e = &self.tlb.sets[self.tlb_set()][tlb_index(va)];
        let tag = match acc {
            Access::Read => e.read,
            Access::Write => e.write,
            Access::Exec => e.exec,
        };
        if tag == va & !0xfff {
            return Ok(e.phys | (va & 0xfff));
        }
        self.translate_miss(bus, va, acc)
    }

    #[inline(never)]
    fn translate_miss<B: Bus>(&mut self, bus: &mut B, va: u64, acc: Access) -> Res<u64> {
        if self.compat && !canonical(va) {
            // A fault address from a failed segment check (exec/limits.rs).
            // (System structures such as the IDT, read while still in
            // compatibility mode, have canonical 64-bit addresses.)
            return Err(Cpu::limit_fault(va));
        }
        let set = self.tlb_set();
        let idx = tlb_index(va);
        let page = va & !0xfff;
        let w = if self.cr0 & CR0_PG == 0 {
            Walk {
                phys: va & 0x000f_ffff_ffff_f000,
                writable: true,
                dirty: true,
                executable: true,
            }
        } else {
            if !canonical(va) {
                return Err(Event::Fault {
                    vector: GP,
                    error: Some(0),
                });
            }
            self.walk(bus, va, acc)?
        };
        let ram_len = bus.ram().len() as u64;
        if w.phys + 0x1000 <= ram_len {
            let e = &mut self.tlb.sets[set][idx];
            if e.phys != w.phys || (e.read != page && e.write != page && e.exec != page) {
                *e = EMPTY;
            }
            e.phys = w.phys;
            let (watch_read, watch_write) = if self.dr_data_armed {
                (
                    self.page_watched(page, false),
                    self.page_watched(page, true),
                )
            } else {
                (false, false)
            };
            let e = &mut self.tlb.sets[set][idx];
            if !watch_read {
                e.read = page;
            }
            if w.writable && w.dirty && !self.code.has_code(w.phys >> 12) && !watch_write {
                e.write = page;
            }
            if w.executable {
                e.exec = page;
            }
        }
        Ok(w.phys | (va & 0xfff))
    }

    /// Walk the 4-level page tables rooted at CR3, checking permissions
    /// and setting accessed/dirty bits (SDM vol. 3 §4.5, §4.6, §4.8).
    fn walk<B: Bus>(&mut self, bus: &mut B, va: u64, acc: Access) -> Res<Walk> {
        let user = self.cpl == 3;
        let nxe = self.efer & EFER_NXE != 0;
        let mut table = self.cr3 & 0x000f_ffff_ffff_f000;
        let mut writable = true;
        let mut user_ok = true;
        let mut nx = false;
        let mut level = 4u32;
        let fault = |cpu: &mut Cpu, present: bool, rsvd: bool| {
            cpu.cr2 = va;
            let mut code = present as u32;
            if acc == Access::Write {
                code |= 2;
            }
            if user {
                code |= 4;
            }
            if rsvd {
                code |= 8;
            }
            if acc == Access::Exec && nxe {
                code |= 16;
            }
            Err(Event::Fault {
                vector: PF,
                error: Some(code),
            })
        };
        loop {
            let shift = 12 + 9 * (level - 1);
            let entry_addr = table + ((va >> shift) & 511) * 8;
            let entry = self.phys_read(bus, entry_addr, 8);
            if entry & 1 == 0 {
                return fault(self, false, false);
            }
            // Reserved bits: NX without EFER.NXE, PS at the PML4 level.
            if (!nxe && entry & (1 << 63) != 0) || (level == 4 && entry & 0x80 != 0) {
                return fault(self, true, true);
            }
            writable &= entry & 2 != 0;
            user_ok &= entry & 4 != 0;
            nx |= nxe && entry & (1 << 63) != 0;
            let leaf = level == 1 || ((level == 2 || level == 3) && entry & 0x80 != 0);
            if !leaf {
                if entry & 0x20 == 0 {
                    self.phys_write_pt(bus, entry_addr, entry | 0x20);
                }
                table = entry & 0x000f_ffff_ffff_f000;
                level -= 1;
                continue;
            }
            // Permission checks (SDM vol. 3 §4.6.1).
            if user && !user_ok {
                return fault(self, true, false);
            }
            if acc == Access::Write && !writable && (user || self.cr0 & CR0_WP != 0) {
                return fault(self, true, false);
            }
            if acc == Access::Exec && nx {
                return fault(self, true, false);
            }
            let mut new_entry = entry | 0x20;
            if acc == Access::Write {
                new_entry |= 0x40;
            }
            if new_entry != entry {
                self.phys_write_pt(bus, entry_addr, new_entry);
            }
            let page_mask = (1u64 << shift) - 1;
            let frame = entry & 0x000f_ffff_ffff_f000 & !page_mask;
            let phys = (frame | (va & page_mask)) & !0xfff;
            // Writes through a read-only supervisor mapping with WP=0 are
            // allowed but must not be cached as writable for user mode.
            return Ok(Walk {
                phys,
                writable: writable || (!user && self.cr0 & CR0_WP == 0),
                dirty: new_entry & 0x40 != 0,
                executable: !nx,
            });
        }
    }

    /// Page-table A/D updates: plain RAM writes (page tables are not code).
    fn phys_write_pt<B: Bus>(&mut self, bus: &mut B, p: u64, v: u64) {
        self.phys_write(bus, p, 8, v);
    }
}

#[inline(always)]
fn load(ram: &[u8], p: usize, size: u8) -> Option<u64> {
    Some(match size {
        1 => *ram.get(p)? as u64,
        2 => u16::from_le_bytes(ram.get(p..p + 2)?.try_into().ok()?) as u64,
        4 => u32::from_le_bytes(ram.get(p..p + 4)?.try_into().ok()?) as u64,
        _ => u64::from_le_bytes(ram.get(p..p + 8)?.try_into().ok()?),
    })
}

#[inline(always)]
fn store(ram: &mut [u8], p: usize, size: u8, v: u64) -> bool {
    match size {
        1 => match ram.get_mut(p) {
            Some(b) => {
                *b = v as u8;
                true
            }
            None => false,
        },
        2 => ram
            .get_mut(p..p + 2)
            .map(|s| s.copy_from_slice(&(v as u16).to_le_bytes()))
            .is_some(),
        4 => ram
            .get_mut(p..p + 4)
            .map(|s| s.copy_from_slice(&(v as u32).to_le_bytes()))
            .is_some(),
        _ => ram
            .get_mut(p..p + 8)
            .map(|s| s.copy_from_slice(&v.to_le_bytes()))
            .is_some(),
    }
}

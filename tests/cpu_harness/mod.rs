//! Differential test harness: run one instruction natively on the host CPU
//! (an executable page mapped at a fixed low address) and in the emulator,
//! from the same random registers, flags, XMM registers and memory, and
//! compare everything observable (undefined flags masked by the caller).
//!
//! Fixed addresses let memory operands and RIP-relative addressing mean
//! the same thing in both worlds: the emulator runs with paging off and
//! its RAM mirrors the mapped window.
#![allow(dead_code)]

use std::sync::{Mutex, OnceLock};

use netvm::cpu::{Cpu, Exit, RamBus};

pub const BASE: u64 = 0x0010_0000;
pub const CODE: u64 = BASE;
/// Random data window; memory operands point here.
pub const DATA: u64 = BASE + 0x1_0000;
pub const DATA_LEN: usize = 0x400;
/// Test stack (RSP at the instruction).
pub const STACK: u64 = BASE + 0x2_0000;
pub const STACK_TOP: u64 = STACK + 0x100;
pub const STACK_LEN: usize = 0x200;
/// Register block exchanged with the native snippet.
pub const STATE: u64 = BASE + 0x3_0000;
pub const WINDOW: usize = 0x4_0000;

const S_REGS: u64 = STATE;
const S_FLAGS: u64 = STATE + 128;
const S_SAVED_RSP: u64 = STATE + 136;
const S_MXCSR: u64 = STATE + 144;
const S_HOST_MXCSR: u64 = STATE + 148;
const S_OUT_MXCSR: u64 = STATE + 152;
const S_OUT_REGS: u64 = STATE + 256;
const S_OUT_FLAGS: u64 = STATE + 384;
const S_XMM: u64 = STATE + 512;
const S_OUT_XMM: u64 = STATE + 768;
/// Far pointers (offset32, selector) for the switches into and out of
/// compatibility mode around a 32-bit form.
const S_FAR_TO32: u64 = STATE + 1024;
const S_FAR_TO64: u64 = STATE + 1040;

/// Linux x86_64's user code/data selectors: 32-bit code (compatibility
/// mode), flat data, 64-bit code.
pub const USER32_CS: u16 = 0x23;
pub const USER_DS: u16 = 0x2b;
pub const USER64_CS: u16 = 0x33;
/// The emulator's GDT (same selectors as Linux) lives below the window.
const GDT: u64 = 0x1000;

/// Flags the harness randomises: the six status flags (DF optional).
pub const STATUS: u64 = 0x8d5;
pub const DF: u64 = 0x400;

#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub gpr: [u64; 16],
    pub rflags: u64,
    pub xmm: [u128; 16],
    pub mxcsr: u32,
    pub data: Vec<u8>,
    pub stack: Vec<u8>,
    pub rip: u64,
}

/// xorshift64*: deterministic, seedable, good enough for operand mixing.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A value biased toward flag edge cases: 0, ±1, sign boundaries, small.
    pub fn interesting(&mut self) -> u64 {
        match self.below(10) {
            0 => 0,
            1 => u64::MAX,
            2 => 1,
            3 => [
                0x7f,
                0x80,
                0xff,
                0x7fff,
                0x8000,
                0xffff,
                0x7fff_ffff,
                0x8000_0000,
                0xffff_ffff,
                0x7fff_ffff_ffff_ffff,
                0x8000_0000_0000_0000,
            ][self.below(11) as usize],
            4 => self.below(64),
            5 => self.next() & 0xff,
            6 => (self.next() as i8) as i64 as u64,
            _ => self.next(),
        }
    }
}

struct Native {
    run: unsafe extern "C" fn(),
}

fn native() -> &'static Mutex<()> {
    static MAP: OnceLock<Mutex<()>> = OnceLock::new();
    MAP.get_or_init(|| {
        // SAFETY: mapping fresh anonymous memory at a fixed, unused low
        // address (MAP_FIXED_NOREPLACE refuses to clobber anything).
        let p = unsafe {
            libc::mmap(
                BASE as *mut libc::c_void,
                WINDOW,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        assert_eq!(p as u64, BASE, "cannot map the test window at {BASE:#x}");
        Mutex::new(())
    })
}

fn window() -> &'static mut [u8] {
    // SAFETY: the window is mapped for the life of the process and only
    // touched while the harness mutex is held.
    unsafe { std::slice::from_raw_parts_mut(BASE as *mut u8, WINDOW) }
}

/// Native snippet: save callee-saved registers, load the state, run the
/// instruction, store the state, restore. Returns (code, insn offset).
///
/// A `compat` form runs as 32-bit code: DS/ES get the flat user data
/// selector, a far jump through S_FAR_TO32 enters the 32-bit code segment
/// right before the instruction and one through S_FAR_TO64 returns after
/// it (neither touches registers or flags).
fn build_snippet(insn: &[u8], compat: bool) -> (Vec<u8>, usize) {
    let mut c = Vec::new();
    let abs = |c: &mut Vec<u8>, reg_op: u8, v: u64| {
        c.extend_from_slice(&[0x48, reg_op]);
        c.extend_from_slice(&v.to_le_bytes());
    };
    let d32 = |c: &mut Vec<u8>, v: u64| c.extend_from_slice(&(v as u32).to_le_bytes());
    // push rbx, rbp, r12-r15
    c.extend_from_slice(&[0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57]);
    if compat {
        // mov eax, USER_DS; mov ds, eax; mov es, eax
        c.push(0xb8);
        c.extend_from_slice(&(USER_DS as u32).to_le_bytes());
        c.extend_from_slice(&[0x8e, 0xd8, 0x8e, 0xc0]);
    }
    abs(&mut c, 0xb8, S_SAVED_RSP); // mov rax, imm64
    c.extend_from_slice(&[0x48, 0x89, 0x20]); // mov [rax], rsp
                                              // stmxcsr [host]; ldmxcsr [test]
    c.extend_from_slice(&[0x0f, 0xae, 0x1c, 0x25]);
    d32(&mut c, S_HOST_MXCSR);
    c.extend_from_slice(&[0x0f, 0xae, 0x14, 0x25]);
    d32(&mut c, S_MXCSR);
    for x in 0..16u64 {
        // movdqu xmmN, [S_XMM + 16N]
        c.push(0xf3);
        if x >= 8 {
            c.push(0x44);
        }
        c.extend_from_slice(&[0x0f, 0x6f, 0x04 | (((x & 7) as u8) << 3), 0x25]);
        d32(&mut c, S_XMM + 16 * x);
    }
    abs(&mut c, 0xbc, S_FLAGS); // mov rsp, imm64
    c.push(0x9d); // popfq
    abs(&mut c, 0xbc, S_REGS);
    c.extend_from_slice(&[0x58, 0x59, 0x5a, 0x5b]); // pop rax rcx rdx rbx
    c.extend_from_slice(&[0x48, 0x8d, 0x64, 0x24, 0x08]); // lea rsp,[rsp+8]
    c.extend_from_slice(&[0x5d, 0x5e, 0x5f]); // pop rbp rsi rdi
    for r in 0..8u8 {
        c.extend_from_slice(&[0x41, 0x58 + r]);
    }
    abs(&mut c, 0xbc, STACK_TOP);
    if compat {
        c.extend_from_slice(&[0xff, 0x2c, 0x25]); // jmp far [S_FAR_TO32]
        d32(&mut c, S_FAR_TO32);
    }
    let at = c.len();
    c.extend_from_slice(insn);
    if compat {
        c.extend_from_slice(&[0xff, 0x2d]); // (32-bit) jmp far [S_FAR_TO64]
        d32(&mut c, S_FAR_TO64);
    }
    // mov [S_OUT_REGS + 32], rsp
    c.extend_from_slice(&[0x48, 0x89, 0x24, 0x25]);
    d32(&mut c, S_OUT_REGS + 32);
    abs(&mut c, 0xbc, S_OUT_REGS + 128);
    for r in (0..8u8).rev() {
        c.extend_from_slice(&[0x41, 0x50 + r]);
    }
    c.extend_from_slice(&[0x57, 0x56, 0x55]); // push rdi rsi rbp
    c.extend_from_slice(&[0x48, 0x8d, 0x64, 0x24, 0xf8]); // lea rsp,[rsp-8]
    c.extend_from_slice(&[0x53, 0x52, 0x51, 0x50]); // push rbx rdx rcx rax
    abs(&mut c, 0xbc, S_OUT_FLAGS + 8);
    c.push(0x9c); // pushfq
    for x in 0..16u64 {
        c.push(0xf3);
        if x >= 8 {
            c.push(0x44);
        }
        c.extend_from_slice(&[0x0f, 0x7f, 0x04 | (((x & 7) as u8) << 3), 0x25]);
        d32(&mut c, S_OUT_XMM + 16 * x);
    }
    c.extend_from_slice(&[0x0f, 0xae, 0x1c, 0x25]); // stmxcsr [out]
    d32(&mut c, S_OUT_MXCSR);
    c.extend_from_slice(&[0x0f, 0xae, 0x14, 0x25]); // ldmxcsr [host]
    d32(&mut c, S_HOST_MXCSR);
    abs(&mut c, 0xb8, S_SAVED_RSP);
    c.extend_from_slice(&[0x48, 0x8b, 0x20]); // mov rsp, [rax]
    if compat {
        c.extend_from_slice(&[0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xc0]); // null DS/ES again
    }
    c.extend_from_slice(&[0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b]);
    c.push(0xfc); // cld (the Rust ABI needs DF = 0)
    c.push(0xc3);
    (c, at)
}

fn rd64(w: &[u8], a: u64) -> u64 {
    let o = (a - BASE) as usize;
    u64::from_le_bytes(w[o..o + 8].try_into().unwrap())
}
fn wr64(w: &mut [u8], a: u64, v: u64) {
    let o = (a - BASE) as usize;
    w[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

/// One instruction form under test.
pub struct Form {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The execution mode a form runs in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Long64,
    /// Compatibility mode: 32-bit code under the 64-bit kernel.
    Compat32,
}

/// Where a form's instruction ends (its fall-through RIP) in `mode`: what
/// a RET or an indirect branch must target to come back to the harness.
pub fn insn_end_of(bytes: &[u8], mode: Mode) -> u64 {
    let (_, at) = build_snippet(bytes, mode == Mode::Compat32);
    CODE + (at + bytes.len()) as u64
}

/// A GDT with Linux's layout: kernel code/data at 0x10/0x18, 32-bit user
/// code 0x23, user data 0x2b, 64-bit user code 0x33.
fn gdt_entries() -> [u64; 7] {
    [
        0,
        0,
        0x00af_9b00_0000_ffff,
        0x00cf_9300_0000_ffff,
        0x00cf_fb00_0000_ffff,
        0x00cf_f300_0000_ffff,
        0x00af_fb00_0000_ffff,
    ]
}

/// Runs a form natively and in the emulator.
pub struct Harness {
    guard: std::sync::MutexGuard<'static, ()>,
    insn_addr: u64,
    bus: RamBus,
    cpu: Cpu,
    len: usize,
    mode: Mode,
}

impl Harness {
    pub fn new(form: &Form) -> Harness {
        Self::new_in(form, Mode::Long64)
    }

    pub fn new_in(form: &Form, mode: Mode) -> Harness {
        let guard = native().lock().unwrap_or_else(|e| e.into_inner());
        let compat = mode == Mode::Compat32;
        let (code, at) = build_snippet(&form.bytes, compat);
        let w = window();
        w[..code.len()].copy_from_slice(&code);
        let insn_addr = CODE + at as u64;
        let far = |w: &mut [u8], slot: u64, offset: u64, sel: u16| {
            let o = (slot - BASE) as usize;
            w[o..o + 4].copy_from_slice(&(offset as u32).to_le_bytes());
            w[o + 4..o + 6].copy_from_slice(&sel.to_le_bytes());
        };
        far(w, S_FAR_TO32, insn_addr, USER32_CS);
        // After the instruction and the 6-byte jump back.
        far(
            w,
            S_FAR_TO64,
            insn_addr + form.bytes.len() as u64 + 6,
            USER64_CS,
        );
        let mut bus = RamBus::new(WINDOW + BASE as usize);
        let o = insn_addr as usize;
        bus.mem[o..o + form.bytes.len()].copy_from_slice(&form.bytes);
        for (k, d) in gdt_entries().iter().enumerate() {
            let o = GDT as usize + 8 * k;
            bus.mem[o..o + 8].copy_from_slice(&d.to_le_bytes());
        }
        let mut cpu = Cpu::new();
        cpu.gdtr = netvm::cpu::TableReg {
            base: GDT,
            limit: (gdt_entries().len() * 8 - 1) as u16,
        };
        if compat {
            let data = netvm::cpu::Segment {
                selector: USER_DS,
                base: 0,
                limit: 0xffff_ffff,
                attr: 0xc0f3,
            };
            cpu.seg = [data; 6];
            cpu.seg[1] = netvm::cpu::Segment {
                selector: USER32_CS,
                base: 0,
                limit: 0xffff_ffff,
                attr: 0xc0fb,
            };
            // FS/GS stay null as in a Linux process (unused by 32-bit forms).
            cpu.seg[4] = netvm::cpu::Segment::default();
            cpu.seg[5] = netvm::cpu::Segment::default();
        }
        Harness {
            guard,
            insn_addr,
            bus,
            cpu,
            len: form.bytes.len(),
            mode,
        }
    }

    pub fn insn_end(&self) -> u64 {
        self.insn_addr + self.len as u64
    }

    pub fn run_native(&mut self, s: &State) -> State {
        let w = window();
        for (k, v) in s.gpr.iter().enumerate() {
            wr64(w, S_REGS + 8 * k as u64, *v);
        }
        wr64(w, S_FLAGS, s.rflags | 2);
        w[(S_MXCSR - BASE) as usize..][..4].copy_from_slice(&s.mxcsr.to_le_bytes());
        for (k, x) in s.xmm.iter().enumerate() {
            w[(S_XMM - BASE) as usize + 16 * k..][..16].copy_from_slice(&x.to_le_bytes());
        }
        w[(DATA - BASE) as usize..][..DATA_LEN].copy_from_slice(&s.data);
        w[(STACK - BASE) as usize..][..STACK_LEN].copy_from_slice(&s.stack);
        // SAFETY: the snippet was written by build_snippet and preserves
        // every register the C ABI requires, the MXCSR and DF.
        unsafe {
            let f: unsafe extern "C" fn() = std::mem::transmute(CODE as *const u8);
            f();
        }
        let mut out = s.clone();
        for k in 0..16 {
            out.gpr[k] = rd64(w, S_OUT_REGS + 8 * k as u64);
        }
        out.rflags = rd64(w, S_OUT_FLAGS);
        out.mxcsr = u32::from_le_bytes(w[(S_OUT_MXCSR - BASE) as usize..][..4].try_into().unwrap());
        for k in 0..16 {
            out.xmm[k] = u128::from_le_bytes(
                w[(S_OUT_XMM - BASE) as usize + 16 * k..][..16]
                    .try_into()
                    .unwrap(),
            );
        }
        out.data
            .copy_from_slice(&w[(DATA - BASE) as usize..][..DATA_LEN]);
        out.stack
            .copy_from_slice(&w[(STACK - BASE) as usize..][..STACK_LEN]);
        out.rip = self.insn_end();
        out
    }

    /// Run in the emulator; `Err` if it raised an exception.
    pub fn run_emulated(&mut self, s: &State) -> Result<State, String> {
        let end = self.insn_end();
        let cpu = &mut self.cpu;
        cpu.gpr = s.gpr;
        cpu.gpr[4] = STACK_TOP;
        cpu.set_rflags(s.rflags | 0x202);
        cpu.cpl = 3;
        cpu.xmm = s.xmm;
        cpu.mxcsr = s.mxcsr;
        cpu.rip = self.insn_addr;
        cpu.idtr.limit = 0; // any exception triple-faults: reported below
        let m = &mut self.bus.mem;
        m[DATA as usize..][..DATA_LEN].copy_from_slice(&s.data);
        m[STACK as usize..][..STACK_LEN].copy_from_slice(&s.stack);
        // A form may be a short sequence (x87 tests): step to its end.
        for _ in 0..64 {
            let exit = cpu.step(&mut self.bus);
            if exit != Exit::Budget {
                return Err(format!(
                    "emulator stopped with {exit:?} at rip {:#x}",
                    cpu.rip
                ));
            }
            if cpu.rip == end {
                break;
            }
        }
        let mut out = s.clone();
        out.gpr = cpu.gpr;
        out.rflags = cpu.rflags();
        out.xmm = cpu.xmm;
        out.mxcsr = cpu.mxcsr;
        out.data
            .copy_from_slice(&self.bus.mem[DATA as usize..][..DATA_LEN]);
        out.stack
            .copy_from_slice(&self.bus.mem[STACK as usize..][..STACK_LEN]);
        out.rip = cpu.rip;
        Ok(out)
    }
}

/// A random starting state. `mem_base` registers are pointed into DATA.
pub fn random_state(rng: &mut Rng) -> State {
    let mut gpr = [0u64; 16];
    for g in gpr.iter_mut() {
        *g = rng.interesting();
    }
    gpr[4] = STACK_TOP;
    let mut xmm = [0u128; 16];
    for x in xmm.iter_mut() {
        *x = rng.next() as u128 | (rng.next() as u128) << 64;
    }
    let mut data = vec![0u8; DATA_LEN];
    for chunk in data.chunks_mut(8) {
        let v = rng.next().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    let mut stack = vec![0u8; STACK_LEN];
    for chunk in stack.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next().to_le_bytes()[..chunk.len()]);
    }
    State {
        gpr,
        rflags: rng.next() & STATUS,
        xmm,
        mxcsr: 0x1f80,
        data,
        stack,
        rip: 0,
    }
}

/// Compare two end states; `flag_mask` selects the defined flags.
pub fn diff(native: &State, emu: &State, flag_mask: u64) -> Option<String> {
    diff_in(native, emu, flag_mask, Mode::Long64)
}

/// Compare two end states of a form run in `mode`. After compatibility
/// mode the upper halves of RAX..RDI are undefined (SDM vol. 1 §3.4.1.1):
/// only the low 32 bits are compared.
pub fn diff_in(native: &State, emu: &State, flag_mask: u64, mode: Mode) -> Option<String> {
    let mut out = String::new();
    for k in 0..16 {
        let m = if mode == Mode::Compat32 && k < 8 {
            0xffff_ffff
        } else {
            u64::MAX
        };
        if native.gpr[k] & m != emu.gpr[k] & m {
            out += &format!(
                "  r{k}: native {:#x} emu {:#x}\n",
                native.gpr[k], emu.gpr[k]
            );
        }
    }
    let (nf, ef) = (native.rflags & flag_mask, emu.rflags & flag_mask);
    if nf != ef {
        out += &format!("  rflags: native {nf:#x} emu {ef:#x} (mask {flag_mask:#x})\n");
    }
    for k in 0..16 {
        if native.xmm[k] != emu.xmm[k] {
            out += &format!(
                "  xmm{k}: native {:#034x} emu {:#034x}\n",
                native.xmm[k], emu.xmm[k]
            );
        }
    }
    if native.mxcsr != emu.mxcsr {
        out += &format!("  mxcsr: native {:#x} emu {:#x}\n", native.mxcsr, emu.mxcsr);
    }
    if let Some(i) = (0..DATA_LEN).find(|&i| native.data[i] != emu.data[i]) {
        out += &format!(
            "  data+{i:#x}: native {:#x} emu {:#x}\n",
            native.data[i], emu.data[i]
        );
    }
    if let Some(i) = (0..STACK_LEN).find(|&i| native.stack[i] != emu.stack[i]) {
        out += &format!(
            "  stack+{i:#x}: native {:#x} emu {:#x}\n",
            native.stack[i], emu.stack[i]
        );
    }
    if native.rip != emu.rip {
        out += &format!("  rip: native {:#x} emu {:#x}\n", native.rip, emu.rip);
    }
    (!out.is_empty()).then_some(out)
}

/// Cases per form: `NETVM_CPU_DIFF_CASES` overrides (the longer run script).
/// Debug builds (plain `cargo test`) run fewer; scripts/test.d runs the
/// release build with the full count.
pub fn cases() -> u64 {
    let default = if cfg!(debug_assertions) { 200 } else { 3000 };
    std::env::var("NETVM_CPU_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Seed: fixed in CI, `NETVM_CPU_DIFF_SEED` for randomized runs.
pub fn seed() -> u64 {
    std::env::var("NETVM_CPU_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x6e65_7476_6d)
}

/// A differential suite's findings: how many forms it checked and their
/// failures, with one RNG (from `seed()`) drawn on by all its forms.
pub struct Tally {
    pub rng: Rng,
    fails: Vec<String>,
    forms: usize,
}

impl Tally {
    pub fn new() -> Tally {
        Tally::with_seed(seed())
    }

    /// A suite whose cases differ from other suites' for the same `seed()`.
    pub fn with_seed(seed: u64) -> Tally {
        Tally {
            rng: Rng::new(seed),
            fails: Vec::new(),
            forms: 0,
        }
    }

    /// Checks `form` in `mode` (see `check_form_in`) and keeps its failures.
    pub fn check_in(
        &mut self,
        form: &Form,
        mode: Mode,
        prepare: &dyn Fn(&mut State, &mut Rng),
        mask: &dyn Fn(&State) -> u64,
    ) {
        self.forms += 1;
        let f = check_form_in(form, mode, &mut self.rng, prepare, mask);
        self.fails.extend(f);
    }

    /// Checks the instruction bytes `bytes`, named `name` in failures.
    pub fn check_bytes(
        &mut self,
        name: impl Into<String>,
        bytes: Vec<u8>,
        mode: Mode,
        prepare: &dyn Fn(&mut State, &mut Rng),
        mask: &dyn Fn(&State) -> u64,
    ) {
        let form = Form {
            name: name.into(),
            bytes,
        };
        self.check_in(&form, mode, prepare, mask);
    }

    /// Fails the test with every difference found; `what` names the forms
    /// in the messages (e.g. "forms", "compatibility-mode forms").
    pub fn finish(self, what: &str) {
        assert!(
            self.fails.is_empty(),
            "{} of {} {what} differ:\n{}",
            self.fails.len(),
            self.forms,
            self.fails.join("\n")
        );
        eprintln!(
            "{} {what} x {} cases matched the host CPU",
            self.forms,
            cases()
        );
    }
}

/// Run `cases()` random cases of `form`; `prepare` adjusts the state (e.g.
/// points RSI at DATA, bounds a divisor) and `mask` gives the defined flags
/// for that input. Returns the failures (at most a few, described).
pub fn check_form(
    form: &Form,
    rng: &mut Rng,
    prepare: &dyn Fn(&mut State, &mut Rng),
    mask: &dyn Fn(&State) -> u64,
) -> Vec<String> {
    check_form_in(form, Mode::Long64, rng, prepare, mask)
}

/// `check_form` for a form run in `mode`.
pub fn check_form_in(
    form: &Form,
    mode: Mode,
    rng: &mut Rng,
    prepare: &dyn Fn(&mut State, &mut Rng),
    mask: &dyn Fn(&State) -> u64,
) -> Vec<String> {
    let mut h = Harness::new_in(form, mode);
    let mut fails = Vec::new();
    for case in 0..cases() {
        let mut s = random_state(rng);
        prepare(&mut s, rng);
        let emu = match h.run_emulated(&s) {
            Ok(e) => e,
            Err(e) => {
                fails.push(format!(
                    "{} case {case}: {e}\n  input {:x?}",
                    form.name, &s.gpr
                ));
                break;
            }
        };
        let nat = h.run_native(&s);
        if let Some(d) = diff_in(&nat, &emu, mask(&s), mode) {
            fails.push(format!(
                "{} ({:02x?}) case {case}:\n{d}  input gpr {:x?} flags {:#x}",
                form.name, form.bytes, s.gpr, s.rflags
            ));
            if fails.len() >= 3 {
                break;
            }
        }
    }
    fails
}

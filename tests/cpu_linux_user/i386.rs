//! The i386 ABI of the user-mode runner: a 32-bit program runs in
//! compatibility mode (CS.L = 0) under a minimal 64-bit "kernel" of real
//! descriptor tables, and its system calls arrive the way they do on Linux:
//! INT 0x80 through the 64-bit IDT, at CPL 0 on the TSS's RSP0 stack, with
//! the number in EAX and the arguments in EBX, ECX, EDX, ESI, EDI, EBP
//! (Linux arch/x86/entry/entry_64_compat.S, syscall_32.tbl).
//!
//! The INT 0x80 gate leads to a two-instruction stub, `syscall; iretq`: the
//! SYSCALL is the runner's hypercall (with `user_mode_syscalls` it returns
//! `Exit::Syscall` to the runner, which serves the call from the 32-bit
//! registers), and the IRETQ returns to the program in compatibility mode.
//! So every system call exercises the CPU's interrupt delivery from
//! compatibility mode and its IRETQ back.
//!
//! Calls whose arguments and structs are the same on both ABIs go to the
//! x86_64 dispatcher under their x86_64 numbers; the rest (32-bit `long`s,
//! `time_t`s, split 64-bit offsets, stat64, the GDT TLS entries of
//! set_thread_area) are converted here.

use netvm::cpu::state::{CR0_PG, CR0_WP, CS, DS, ES, FS, GS, SS};
use netvm::cpu::{Segment, TableReg};

use super::{host, Process, PAGE};

/// The runner's kernel structures, above 4 GiB where 32-bit code cannot
/// reach them, on supervisor-only pages.
const KERNEL_VA: u64 = 0x10_0000_0000;
const GDT_VA: u64 = KERNEL_VA;
const IDT_VA: u64 = KERNEL_VA + 0x1000;
const TSS_VA: u64 = KERNEL_VA + 0x2000;
const CODE_VA: u64 = KERNEL_VA + 0x3000;
/// The INT 0x80 entry: `syscall; iretq`.
const INT80_VA: u64 = CODE_VA;
/// Exception entries, 4 bytes apart: `hlt` (IF = 0: the CPU stops and
/// the runner reports the fault).
const FAULT_VA: u64 = CODE_VA + 0x100;
const KSTACK_VA: u64 = KERNEL_VA + 0x4000;
const KSTACK_TOP: u64 = KSTACK_VA + 2 * PAGE;
/// Where the INT 0x80 frame (EIP, CS, EFLAGS, ESP, SS as quadwords) lies:
/// entry from CPL 3 always switches to RSP0 = KSTACK_TOP.
const FRAME_VA: u64 = KSTACK_TOP - 40;

/// Selectors as Linux lays out its x86_64 GDT (arch/x86/include/asm/segment.h).
const KERNEL_CS: u64 = 0x10;
const USER32_CS: u64 = 0x23;
const USER_DS: u64 = 0x2b;
const TSS_SEL: u16 = 0x40;
/// GDT_ENTRY_TLS_MIN..=MAX: the entries set_thread_area hands out.
const TLS_ENTRIES: std::ops::RangeInclusive<u32> = 12..=14;
const GDT_ENTRIES: u64 = 16;

/// The kernel side of one i386 process.
pub struct Kernel {
    /// Guest-physical frame of the GDT (set_thread_area writes it).
    gdt: u64,
    /// Guest-physical frame of the kernel stack's top page (the INT 0x80
    /// frame is on it).
    kstack_top_frame: u64,
}

/// i386 system call numbers (arch/x86/entry/syscalls/syscall_32.tbl).
mod nr {
    pub const waitpid: u32 = 7;
    pub const time: u32 = 13;
    pub const lseek: u32 = 19;
    pub const getrlimit: u32 = 76;
    pub const gettimeofday: u32 = 78;
    pub const statfs: u32 = 99;
    pub const fstatfs: u32 = 100;
    pub const old_mmap: u32 = 90;
    pub const sysinfo: u32 = 116;
    pub const clone: u32 = 120;
    pub const llseek: u32 = 140;
    pub const nanosleep: u32 = 162;
    pub const rt_sigaction: u32 = 174;
    pub const pread64: u32 = 180;
    pub const pwrite64: u32 = 181;
    pub const ugetrlimit: u32 = 191;
    pub const mmap2: u32 = 192;
    pub const truncate64: u32 = 193;
    pub const ftruncate64: u32 = 194;
    pub const stat64: u32 = 195;
    pub const lstat64: u32 = 196;
    pub const fstat64: u32 = 197;
    pub const set_thread_area: u32 = 243;
    pub const clock_gettime: u32 = 265;
    pub const clock_getres: u32 = 266;
    pub const clock_nanosleep: u32 = 267;
    pub const statfs64: u32 = 268;
    pub const fstatfs64: u32 = 269;
    pub const fstatat64: u32 = 300;
}

/// i386 calls with the same arguments and memory layout as an x86_64
/// call: their x86_64 number.
fn same_as_amd64(nr: u32) -> Option<i64> {
    use libc::*;
    Some(match nr {
        1 => SYS_exit,
        2 => SYS_fork,
        3 => SYS_read,
        4 => SYS_write,
        5 => SYS_open,
        6 => SYS_close,
        9 => SYS_link,
        10 => SYS_unlink,
        11 => SYS_execve,
        12 => SYS_chdir,
        15 => SYS_chmod,
        20 => SYS_getpid,
        27 => SYS_alarm,
        33 => SYS_access,
        37 => SYS_kill,
        38 => SYS_rename,
        39 => SYS_mkdir,
        40 => SYS_rmdir,
        41 => SYS_dup,
        42 => SYS_pipe,
        45 => SYS_brk,
        54 => SYS_ioctl,
        55 | 221 => SYS_fcntl, // fcntl, fcntl64: the commands served are the same
        57 => SYS_setpgid,
        60 => SYS_umask,
        63 => SYS_dup2,
        64 => SYS_getppid,
        65 => SYS_getpgrp,
        66 => SYS_setsid,
        83 => SYS_symlink,
        85 => SYS_readlink,
        91 => SYS_munmap,
        93 => SYS_ftruncate,
        94 => SYS_fchmod,
        114 => SYS_wait4,
        118 => SYS_fsync,
        122 => SYS_uname,
        125 => SYS_mprotect,
        132 => SYS_getpgid,
        133 => SYS_fchdir,
        145 => SYS_readv, // iovecs are read with the ABI's word size
        146 => SYS_writev,
        147 => SYS_getsid,
        148 => SYS_fdatasync,
        158 => SYS_sched_yield,
        163 => SYS_mremap,
        168 => SYS_poll,
        175 => SYS_rt_sigprocmask,
        179 => SYS_rt_sigsuspend,
        183 => SYS_getcwd,
        186 => SYS_sigaltstack,
        190 => SYS_vfork,
        199 => SYS_getuid, // the *32 calls: 32-bit uids, as x86_64's
        200 => SYS_getgid,
        201 => SYS_geteuid,
        202 => SYS_getegid,
        213 => SYS_setuid,
        214 => SYS_setgid,
        219 => SYS_madvise,
        220 => SYS_getdents64,
        224 => SYS_gettid,
        240 => SYS_futex,
        242 => SYS_sched_getaffinity,
        252 => SYS_exit_group,
        258 => SYS_set_tid_address,
        270 => SYS_tgkill,
        295 => SYS_openat,
        296 => SYS_mkdirat,
        301 => SYS_unlinkat,
        302 => SYS_renameat,
        305 => SYS_readlinkat,
        306 => SYS_fchmodat,
        307 => SYS_faccessat,
        311 => SYS_set_robust_list,
        330 => SYS_dup3,
        331 => SYS_pipe2,
        340 => SYS_prlimit64,
        353 => SYS_renameat2,
        355 => SYS_getrandom,
        383 => SYS_statx,
        403 => SYS_clock_gettime, // the *_time64 calls: 64-bit timespecs
        406 => SYS_clock_getres,
        407 => SYS_clock_nanosleep,
        439 => SYS_faccessat2,
        _ => return None,
    })
}

fn gate(handler: u64, dpl: u64) -> [u64; 2] {
    let lo = (handler & 0xffff)
        | (KERNEL_CS << 16)
        | ((0x8e | dpl << 5) << 40)
        | ((handler >> 16) & 0xffff) << 48;
    [lo, handler >> 32]
}

/// Set up the kernel structures and enter the program at `entry` with
/// stack `sp`: IRETQ from the kernel stub into the 32-bit user code
/// segment, as a return from execve does.
pub fn enter(p: &mut Process, entry: u64, sp: u64) {
    let gdt = p.map_kernel(GDT_VA);
    let idt = p.map_kernel(IDT_VA);
    let tss = p.map_kernel(TSS_VA);
    let code = p.map_kernel(CODE_VA);
    p.map_kernel(KSTACK_VA);
    let kstack_top_frame = p.map_kernel(KSTACK_VA + PAGE);
    let put = |p: &mut Process, pa: u64, v: u64| p.wr64(pa, v);
    let tss_lo =
        0x67 | ((TSS_VA & 0xff_ffff) << 16) | (0x89u64 << 40) | ((TSS_VA >> 24) & 0xff) << 56;
    for (k, d) in [
        (2, 0x00af_9b00_0000_ffff), // 0x10 kernel code, 64-bit
        (3, 0x00cf_9300_0000_ffff), // 0x18 kernel data
        (4, 0x00cf_fb00_0000_ffff), // 0x23 user code, 32-bit
        (5, 0x00cf_f300_0000_ffff), // 0x2b user data
        (6, 0x00af_fb00_0000_ffff), // 0x33 user code, 64-bit
        (8, tss_lo),                // 0x40 TSS, 16 bytes
        (9, TSS_VA >> 32),
    ] {
        put(p, gdt + 8 * k, d);
    }
    put(p, tss + 4, KSTACK_TOP); // RSP0
    let [lo, hi] = gate(INT80_VA, 3);
    put(p, idt + 16 * 0x80, lo);
    put(p, idt + 16 * 0x80 + 8, hi);
    for v in 0..32u64 {
        let [lo, hi] = gate(FAULT_VA + 4 * v, 0);
        put(p, idt + 16 * v, lo);
        put(p, idt + 16 * v + 8, hi);
        let at = (code + (FAULT_VA - CODE_VA) + 4 * v) as usize;
        p.bus.mem[at] = 0xf4; // hlt
    }
    // syscall; iretq
    p.bus.mem[code as usize..code as usize + 4].copy_from_slice(&[0x0f, 0x05, 0x48, 0xcf]);
    // The IRETQ frame that enters the program.
    let frame = kstack_top_frame + (FRAME_VA & (PAGE - 1));
    for (k, v) in [entry, USER32_CS | 3, 0x202, sp, USER_DS]
        .into_iter()
        .enumerate()
    {
        put(p, frame + 8 * k as u64, v);
    }
    p.i386 = Some(Kernel {
        gdt,
        kstack_top_frame,
    });

    let user_data = Segment {
        selector: USER_DS as u16,
        base: 0,
        limit: 0xffff_ffff,
        attr: 0xc0f3,
    };
    let c = &mut p.cpu;
    c.cr3 = p.pml4;
    c.cr0 |= CR0_PG | CR0_WP;
    c.gdtr = TableReg {
        base: GDT_VA,
        limit: (8 * GDT_ENTRIES - 1) as u16,
    };
    c.idtr = TableReg {
        base: IDT_VA,
        limit: 0xfff,
    };
    c.tr = Segment {
        selector: TSS_SEL,
        base: TSS_VA,
        limit: 0x67,
        attr: 0x8b,
    };
    // CPL 0 in the 64-bit kernel code segment of Cpu::new(); IRETQ loads
    // CS and SS, DS/ES hold the user data segment as Linux leaves them,
    // FS/GS are null until the program loads its TLS selector.
    c.cpl = 0;
    c.seg[CS] = Segment {
        selector: KERNEL_CS as u16,
        base: 0,
        limit: 0xffff_ffff,
        attr: 0xa09b,
    };
    c.seg[SS] = Segment {
        selector: 0x18,
        base: 0,
        limit: 0xffff_ffff,
        attr: 0xc093,
    };
    c.seg[DS] = user_data;
    c.seg[ES] = user_data;
    c.seg[FS] = Segment::default();
    c.seg[GS] = Segment::default();
    c.user_mode_syscalls = true;
    c.gpr = [0; 16];
    c.gpr[4] = FRAME_VA;
    c.rip = INT80_VA + 2;
    c.set_rflags(0x2);
    c.flush_tlb();
    c.flush_code_cache();
}

/// An INT 0x80 arrived at the stub (the CPU stopped after its SYSCALL):
/// serve it from the 32-bit registers. Returns the exit status when the
/// program ends.
pub fn syscall(p: &mut Process) -> Option<i32> {
    let g = p.cpu.gpr;
    if p.cpu.rip != INT80_VA + 2 {
        // The program executed SYSCALL itself (only AMD CPUs take it from
        // compatibility mode on Linux): not the i386 ABI.
        eprintln!(
            "netvm user runner: SYSCALL from i386 code at {:#x}",
            p.cpu.rip
        );
        return Some(139);
    }
    let nr = g[0] as u32;
    let a = [g[3], g[1], g[2], g[6], g[7], g[5]].map(|r| r & 0xffff_ffff);
    let r = match dispatch(p, nr, a) {
        Ok(v) => v,
        Err(Some(code)) => return Some(code),
        Err(None) => -(libc::EFAULT as i64),
    };
    if p.strace {
        eprintln!(
            "[{}] i386 syscall {nr}({:#x}, {:#x}, {:#x}) = {r}",
            std::process::id(),
            a[0],
            a[1],
            a[2]
        );
    }
    // EAX only: the other registers are preserved, as by the kernel.
    p.cpu.gpr[0] = r as u32 as u64;
    None
}

/// The CPU halted in an exception entry: the program faulted.
pub fn report_fault(p: &Process) {
    let vector = p.cpu.rip.wrapping_sub(FAULT_VA + 1) / 4;
    eprintln!(
        "netvm user runner: i386 program took exception {vector} (last exception {:x?}, cr2 {:#x})",
        p.cpu.last_exception, p.cpu.cr2
    );
}

fn dispatch(p: &mut Process, nr: u32, a: [u64; 6]) -> Result<i64, Option<i32>> {
    use libc::*;
    if let Some(n) = same_as_amd64(nr) {
        return p.dispatch(n, a);
    }
    let signed = |v: u64| v as u32 as i32 as i64;
    let off64 = |lo: u64, hi: u64| lo | hi << 32;
    Ok(match nr {
        nr::waitpid => p.dispatch(SYS_wait4, [a[0], a[1], a[2], 0, 0, 0])?,
        nr::time => {
            let t = host(SYS_time, &[0]);
            if a[0] != 0 {
                p.write(a[0], &(t as u32).to_le_bytes()).ok_or(None)?;
            }
            t
        }
        nr::lseek => host(SYS_lseek, &[a[0], signed(a[1]) as u64, a[2]]),
        nr::llseek => {
            // _llseek(fd, offset_high, offset_low, loff_t *result, whence)
            let r = host(SYS_lseek, &[a[0], off64(a[2], a[1]), a[4]]);
            if r >= 0 {
                p.write(a[3], &(r as u64).to_le_bytes()).ok_or(None)?;
                0
            } else {
                r
            }
        }
        nr::pread64 | nr::pwrite64 => {
            let n = if nr == nr::pread64 {
                SYS_pread64
            } else {
                SYS_pwrite64
            };
            p.dispatch(n, [a[0], a[1], a[2], off64(a[3], a[4]), 0, 0])?
        }
        nr::truncate64 => {
            let path = p.cstr(a[0]).ok_or(None)?;
            host(SYS_truncate, &[path.as_ptr() as u64, off64(a[1], a[2])])
        }
        nr::ftruncate64 => host(SYS_ftruncate, &[a[0], off64(a[1], a[2])]),
        nr::mmap2 => p.mmap([a[0], a[1], a[2], a[3], a[4], a[5] * PAGE])?,
        nr::old_mmap => {
            // mmap(struct mmap_arg_struct *): six 32-bit words.
            let mut w = [0u64; 6];
            for (k, v) in w.iter_mut().enumerate() {
                *v = p.read_u32(a[0] + 4 * k as u64).ok_or(None)? as u64;
            }
            p.mmap(w)?
        }
        nr::clone => {
            // (flags, newsp, parent_tid, tls, child_tid); fork semantics.
            if a[0] & CLONE_THREAD as u64 != 0 {
                -(ENOSYS as i64)
            } else {
                let r = p.fork(None);
                if r == 0 && a[1] != 0 {
                    set_user_stack(p, a[1]);
                }
                r
            }
        }
        nr::rt_sigaction => {
            // The old action, struct sigaction of i386: handler, flags,
            // restorer, 64-bit mask. Nothing is ever installed.
            if a[2] != 0 {
                p.write(a[2], &[0u8; 20]).ok_or(None)?;
            }
            0
        }
        nr::getrlimit | nr::ugetrlimit => {
            let mut lim = [0u64; 2];
            let r = host(SYS_getrlimit, &[a[0], lim.as_mut_ptr() as u64]);
            if r == 0 {
                // RLIM_INFINITY and anything above 32 bits read as ~0.
                let b: Vec<u8> = lim
                    .iter()
                    .flat_map(|&v| (v.min(u32::MAX as u64) as u32).to_le_bytes())
                    .collect();
                p.write(a[1], &b).ok_or(None)?;
            }
            r
        }
        nr::gettimeofday => {
            let mut tv = [0i64; 2];
            let r = host(SYS_gettimeofday, &[tv.as_mut_ptr() as u64, 0]);
            if r == 0 && a[0] != 0 {
                p.write(a[0], &time32(tv)).ok_or(None)?;
            }
            r
        }
        nr::clock_gettime | nr::clock_getres => {
            let n = if nr == nr::clock_gettime {
                SYS_clock_gettime
            } else {
                SYS_clock_getres
            };
            let mut ts = [0i64; 2];
            let r = host(n, &[a[0], ts.as_mut_ptr() as u64]);
            if r == 0 && a[1] != 0 {
                p.write(a[1], &time32(ts)).ok_or(None)?;
            }
            r
        }
        nr::nanosleep => {
            let ts = timespec64(p, a[0])?;
            host(SYS_nanosleep, &[ts.as_ptr() as u64, 0])
        }
        nr::clock_nanosleep => {
            let ts = timespec64(p, a[2])?;
            host(SYS_clock_nanosleep, &[a[0], a[1], ts.as_ptr() as u64, 0])
        }
        nr::sysinfo => sysinfo32(p, a[0])?,
        nr::stat64 | nr::lstat64 => {
            let path = p.cstr(a[0]).ok_or(None)?;
            let flags = if nr == nr::lstat64 {
                AT_SYMLINK_NOFOLLOW
            } else {
                0
            };
            stat64_32(p, AT_FDCWD as u64, Some(&path), flags as u64, a[1])?
        }
        nr::fstat64 => stat64_32(p, a[0], None, AT_EMPTY_PATH as u64, a[1])?,
        nr::fstatat64 => {
            let path = p.cstr(a[1]).ok_or(None)?;
            stat64_32(p, a[0], Some(&path), a[3], a[2])?
        }
        nr::statfs | nr::statfs64 => {
            let path = p.cstr(a[0]).ok_or(None)?;
            statfs32(p, nr, None, Some(&path), a[1], a[2])?
        }
        nr::fstatfs | nr::fstatfs64 => statfs32(p, nr, Some(a[0]), None, a[1], a[2])?,
        nr::set_thread_area => set_thread_area(p, a[0])?,
        _ => {
            if p.strace {
                eprintln!("netvm user runner: unsupported i386 syscall {nr}");
            }
            -(ENOSYS as i64)
        }
    })
}

/// A (seconds, fraction) pair as i386's 32-bit timespec/timeval.
fn time32(t: [i64; 2]) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&(t[0] as i32).to_le_bytes());
    b[4..].copy_from_slice(&(t[1] as i32).to_le_bytes());
    b
}

/// A 32-bit timespec from guest memory, widened for the host.
fn timespec64(p: &Process, va: u64) -> Result<[i64; 2], Option<i32>> {
    let sec = p.read_u32(va).ok_or(None)? as i32 as i64;
    let nsec = p.read_u32(va + 4).ok_or(None)? as i32 as i64;
    Ok([sec, nsec])
}

/// While serving a call, the program's ESP is in the INT 0x80 frame on
/// the kernel stack (clone with a new stack changes it there).
fn set_user_stack(p: &mut Process, sp: u64) {
    let k = p.i386.as_ref().expect("i386 kernel");
    let at = k.kstack_top_frame + (FRAME_VA & (PAGE - 1)) + 24;
    p.wr64(at, sp);
}

/// sysinfo into i386's struct sysinfo (32-bit longs, 64 bytes). As Linux's
/// compat sysinfo does, memory sizes too large for 32 bits are scaled down
/// by raising mem_unit.
fn sysinfo32(p: &mut Process, va: u64) -> Result<i64, Option<i32>> {
    // SAFETY: a plain C struct filled by the host kernel.
    let mut si: libc::sysinfo = unsafe { std::mem::zeroed() };
    let r = host(libc::SYS_sysinfo, &[&mut si as *mut _ as u64]);
    if r != 0 {
        return Ok(r);
    }
    let mut mem = [
        si.totalram,
        si.freeram,
        si.sharedram,
        si.bufferram,
        si.totalswap,
        si.freeswap,
        si.totalhigh,
        si.freehigh,
    ];
    let mut unit = si.mem_unit;
    while mem.iter().any(|&v| v > u32::MAX as u64) {
        mem.iter_mut().for_each(|v| *v >>= 1);
        unit <<= 1;
    }
    let mut b = Vec::with_capacity(64);
    b.extend((si.uptime as i32).to_le_bytes());
    for l in si.loads {
        b.extend((l as u32).to_le_bytes());
    }
    for v in &mem[..6] {
        b.extend((*v as u32).to_le_bytes());
    }
    b.extend(si.procs.to_le_bytes());
    b.extend([0u8; 2]);
    for v in &mem[6..] {
        b.extend((*v as u32).to_le_bytes());
    }
    b.extend(unit.to_le_bytes());
    b.extend([0u8; 8]);
    debug_assert_eq!(b.len(), 64);
    p.write(va, &b).ok_or(None)?;
    Ok(0)
}

/// statfs/fstatfs (i386 struct statfs, 64 bytes of 32-bit words) and
/// statfs64/fstatfs64 (struct statfs64, 84 bytes: 32-bit words with
/// 64-bit block and file counts, packed to 4 bytes; asm-generic/statfs.h),
/// from the host's x86_64 struct statfs. As Linux does, counts that do not
/// fit 32 bits are EOVERFLOW for the old calls (f_files/f_ffree of -1 pass
/// as "unknown"), and statfs64 with a size other than 84 is EINVAL. For
/// the 64-bit calls `size` is their second argument and `out` the third;
/// for the old ones the buffer is the second argument.
fn statfs32(
    p: &mut Process,
    nr: u32,
    fd: Option<u64>,
    path: Option<&std::ffi::CStr>,
    size: u64,
    out: u64,
) -> Result<i64, Option<i32>> {
    let wide = matches!(nr, nr::statfs64 | nr::fstatfs64);
    let out = if wide { out } else { size };
    if wide && size != 84 {
        return Ok(-(libc::EINVAL as i64));
    }
    // x86_64's struct statfs as 15 words: type, bsize, blocks, bfree,
    // bavail, files, ffree, fsid (two ints), namelen, frsize, flags, spare.
    let mut st = [0u64; 15];
    let buf = st.as_mut_ptr() as u64;
    let r = match (fd, path) {
        (Some(fd), _) => host(libc::SYS_fstatfs, &[fd, buf]),
        (None, Some(path)) => host(libc::SYS_statfs, &[path.as_ptr() as u64, buf]),
        (None, None) => -(libc::EFAULT as i64),
    };
    if r != 0 {
        return Ok(r);
    }
    let counts = &st[2..7];
    let word = |v: u64| (v as u32).to_le_bytes();
    let mut b = Vec::with_capacity(84);
    b.extend(word(st[0]));
    b.extend(word(st[1]));
    if wide {
        counts.iter().for_each(|c| b.extend(c.to_le_bytes()));
    } else {
        let too_big = |v: u64| v >> 32 != 0;
        let unknown_or_small = |v: u64| v == u64::MAX || !too_big(v);
        if counts[..3].iter().any(|&c| too_big(c))
            || too_big(st[1])
            || too_big(st[9])
            || !counts[3..].iter().all(|&c| unknown_or_small(c))
        {
            return Ok(-(libc::EOVERFLOW as i64));
        }
        counts
            .iter()
            .for_each(|&c| b.extend((c as u32).to_le_bytes()));
    }
    b.extend(st[7].to_le_bytes()); // f_fsid, two ints as they are
    b.extend(word(st[8]));
    b.extend(word(st[9]));
    b.extend(word(st[10]));
    b.extend([0u8; 16]);
    debug_assert_eq!(b.len(), if wide { 84 } else { 64 });
    p.write(out, &b).ok_or(None)?;
    Ok(0)
}

/// stat64/lstat64/fstat64/fstatat64: the host's struct stat converted to
/// i386's struct stat64 (96 bytes, arch/x86/include/uapi/asm/stat.h).
fn stat64_32(
    p: &mut Process,
    dirfd: u64,
    path: Option<&std::ffi::CStr>,
    flags: u64,
    out: u64,
) -> Result<i64, Option<i32>> {
    // SAFETY: a plain C struct filled by the host kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let empty = c"";
    let path = path.unwrap_or(empty);
    let r = host(
        libc::SYS_newfstatat,
        &[dirfd, path.as_ptr() as u64, &mut st as *mut _ as u64, flags],
    );
    if r != 0 {
        return Ok(r);
    }
    let mut b = [0u8; 96];
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(0, &st.st_dev.to_le_bytes());
    put(12, &(st.st_ino as u32).to_le_bytes()); // __st_ino
    put(16, &st.st_mode.to_le_bytes());
    put(20, &(st.st_nlink as u32).to_le_bytes());
    put(24, &st.st_uid.to_le_bytes());
    put(28, &st.st_gid.to_le_bytes());
    put(32, &st.st_rdev.to_le_bytes());
    put(44, &st.st_size.to_le_bytes());
    put(52, &(st.st_blksize as u32).to_le_bytes());
    put(56, &st.st_blocks.to_le_bytes());
    put(64, &(st.st_atime as u32).to_le_bytes());
    put(68, &(st.st_atime_nsec as u32).to_le_bytes());
    put(72, &(st.st_mtime as u32).to_le_bytes());
    put(76, &(st.st_mtime_nsec as u32).to_le_bytes());
    put(80, &(st.st_ctime as u32).to_le_bytes());
    put(84, &(st.st_ctime_nsec as u32).to_le_bytes());
    put(88, &st.st_ino.to_le_bytes());
    p.write(out, &b).ok_or(None)?;
    Ok(0)
}

/// set_thread_area(struct user_desc *): install a TLS segment in one of
/// the GDT's TLS entries (entry_number -1 picks a free one and reports
/// it), as Linux's arch/x86/kernel/tls.c does. glibc then loads %gs with
/// the entry's selector and reaches its thread block through GS's base.
fn set_thread_area(p: &mut Process, u_info: u64) -> Result<i64, Option<i32>> {
    let w = |k: u64| p.read_u32(u_info + 4 * k).ok_or(None);
    let (mut entry, base, limit, bits) = (w(0)?, w(1)? as u64, w(2)? as u64, w(3)?);
    let gdt = p.i386.as_ref().expect("i386 kernel").gdt;
    if entry == u32::MAX {
        let free = TLS_ENTRIES
            .clone()
            .find(|&e| p.rd64(gdt + 8 * e as u64) == 0);
        let Some(e) = free else {
            return Ok(-(libc::ESRCH as i64));
        };
        entry = e;
        p.write(u_info, &entry.to_le_bytes()).ok_or(None)?;
    }
    if !TLS_ENTRIES.contains(&entry) {
        return Ok(-(libc::EINVAL as i64));
    }
    let bit = |n: u32| ((bits >> n) & 1) as u64;
    let (seg_32bit, contents, read_exec_only) = (bit(0), ((bits >> 1) & 3) as u64, bit(3));
    let (limit_in_pages, not_present, useable) = (bit(4), bit(5), bit(6));
    // An all-clear request (Linux's LDT_empty) frees the entry.
    let empty = base == 0
        && limit == 0
        && contents == 0
        && read_exec_only == 1
        && seg_32bit == 0
        && limit_in_pages == 0
        && not_present == 1
        && useable == 0;
    let desc = if empty || (base | limit | bits as u64) == 0 {
        0
    } else {
        if contents == 3 && not_present == 0 {
            return Ok(-(libc::EINVAL as i64));
        }
        // Data (or code) segment, DPL 3, accessed; fill_ldt's encoding.
        let ty = (read_exec_only ^ 1) << 1 | contents << 2 | 1;
        (limit & 0xffff)
            | (base & 0xff_ffff) << 16
            | ty << 40
            | 1 << 44
            | 3 << 45
            | (not_present ^ 1) << 47
            | ((limit >> 16) & 0xf) << 48
            | useable << 52
            | seg_32bit << 54
            | limit_in_pages << 55
            | ((base >> 24) & 0xff) << 56
    };
    p.wr64(gdt + 8 * entry as u64, desc);
    Ok(0)
}

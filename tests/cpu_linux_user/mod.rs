//! A test-only Linux user-mode runner: loads a static x86_64 ELF into the
//! emulated CPU's memory behind real 4-level page tables, runs it at CPL 3
//! and services its system calls on the host (like QEMU's linux-user, but
//! only the calls static busybox/glibc make). fork/vfork/clone become host
//! forks of this runner process, execve reloads the image, and file
//! descriptors, pipes and wait4 are the host's own.
//!
//! i386 programs run in compatibility mode with their system calls arriving
//! through INT 0x80 (`i386.rs`); their calls are translated to this file's
//! x86_64 ones where the ABI differs.
//!
//! Simplifications (documented in docs/cpu.md): signals are accepted but
//! never delivered to the guest; mprotect keeps pages read/write/execute;
//! threads (CLONE_THREAD) are refused.
#![allow(dead_code, non_upper_case_globals)]

mod i386;
mod loader;

use std::collections::HashMap;
use std::ffi::CString;

use netvm::cpu::{Cpu, Exit, RamBus};

const PAGE: u64 = 4096;

/// The system call ABI of the loaded program, chosen by its ELF class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abi {
    /// x86_64: SYSCALL, 8-byte pointers.
    Amd64,
    /// i386 under a 64-bit kernel: INT 0x80 from compatibility mode,
    /// 4-byte pointers and longs.
    I386,
}

const P: u64 = 1;
const RW: u64 = 2;
const US: u64 = 4;

pub struct Process {
    pub cpu: Cpu,
    pub bus: RamBus,
    next_frame: u64,
    pml4: u64,
    pages: HashMap<u64, u64>,
    brk_base: u64,
    brk: u64,
    mmap_next: u64,
    exe: String,
    abi: Abi,
    /// The kernel side of an i386 process (GDT with its TLS entries).
    i386: Option<i386::Kernel>,
    /// Print each system call to stderr (NETVM_STRACE=1).
    strace: bool,
}

fn errno() -> i64 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO) as i64
}

fn host(nr: i64, a: &[u64]) -> i64 {
    let g = |k: usize| a.get(k).copied().unwrap_or(0);
    // SAFETY: the caller passes host pointers it owns, or plain integers.
    let r = unsafe { libc::syscall(nr, g(0), g(1), g(2), g(3), g(4), g(5)) };
    if r == -1 {
        -errno()
    } else {
        r
    }
}

impl Process {
    pub fn new(ram: usize) -> Process {
        let mut p = Process {
            cpu: Cpu::new(),
            bus: RamBus::new(ram),
            next_frame: PAGE,
            pml4: 0,
            pages: HashMap::new(),
            brk_base: 0,
            brk: 0,
            mmap_next: 0,
            exe: String::new(),
            abi: Abi::Amd64,
            i386: None,
            strace: std::env::var("NETVM_STRACE").is_ok(),
        };
        p.pml4 = p.alloc_frame();
        p
    }

    fn alloc_frame(&mut self) -> u64 {
        let f = self.next_frame;
        assert!(
            f + PAGE <= self.bus.mem.len() as u64,
            "user-mode runner out of guest RAM"
        );
        self.next_frame += PAGE;
        self.bus.mem[f as usize..(f + PAGE) as usize].fill(0);
        f
    }

    fn rd64(&self, pa: u64) -> u64 {
        u64::from_le_bytes(
            self.bus.mem[pa as usize..pa as usize + 8]
                .try_into()
                .unwrap(),
        )
    }
    fn wr64(&mut self, pa: u64, v: u64) {
        self.bus.mem[pa as usize..pa as usize + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// Map one user page (read/write/execute), returning its frame.
    fn map(&mut self, va: u64) -> u64 {
        let va = va & !(PAGE - 1);
        if let Some(&f) = self.pages.get(&va) {
            return f;
        }
        let f = self.map_frame(va, US);
        self.pages.insert(va, f);
        f
    }

    /// Map one supervisor-only page (the runner's kernel structures, out
    /// of the program's reach), returning its frame.
    fn map_kernel(&mut self, va: u64) -> u64 {
        self.map_frame(va & !(PAGE - 1), 0)
    }

    fn map_frame(&mut self, va: u64, user: u64) -> u64 {
        let mut table = self.pml4;
        for level in (1..4).rev() {
            let idx = (va >> (12 + 9 * level)) & 511;
            let e = self.rd64(table + idx * 8);
            table = if e & P == 0 {
                let t = self.alloc_frame();
                self.wr64(table + idx * 8, t | P | RW | US);
                t
            } else {
                e & 0x000f_ffff_ffff_f000
            };
        }
        let f = self.alloc_frame();
        self.wr64(table + ((va >> 12) & 511) * 8, f | P | RW | user);
        f
    }

    fn unmap(&mut self, va: u64) {
        if self.pages.remove(&va).is_none() {
            return;
        }
        let mut table = self.pml4;
        for level in (1..4).rev() {
            let e = self.rd64(table + ((va >> (12 + 9 * level)) & 511) * 8);
            table = e & 0x000f_ffff_ffff_f000;
        }
        self.wr64(table + ((va >> 12) & 511) * 8, 0);
    }

    pub fn read(&self, va: u64, len: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        let mut a = va;
        while out.len() < len {
            let f = *self.pages.get(&(a & !(PAGE - 1)))?;
            let off = (a & (PAGE - 1)) as usize;
            let n = (PAGE as usize - off).min(len - out.len());
            out.extend_from_slice(&self.bus.mem[f as usize + off..f as usize + off + n]);
            a += n as u64;
        }
        Some(out)
    }

    pub fn write(&mut self, va: u64, data: &[u8]) -> Option<()> {
        let mut a = va;
        let mut done = 0;
        while done < data.len() {
            let f = *self.pages.get(&(a & !(PAGE - 1)))?;
            let off = (a & (PAGE - 1)) as usize;
            let n = (PAGE as usize - off).min(data.len() - done);
            self.bus.mem[f as usize + off..f as usize + off + n]
                .copy_from_slice(&data[done..done + n]);
            self.cpu.notify_ram_write(f + off as u64, n as u64);
            a += n as u64;
            done += n;
        }
        Some(())
    }

    fn read_u64(&self, va: u64) -> Option<u64> {
        Some(u64::from_le_bytes(self.read(va, 8)?.try_into().ok()?))
    }

    fn read_u32(&self, va: u64) -> Option<u32> {
        Some(u32::from_le_bytes(self.read(va, 4)?.try_into().ok()?))
    }

    /// Pointer and `long` size of the program's ABI.
    fn word_size(&self) -> u64 {
        match self.abi {
            Abi::Amd64 => 8,
            Abi::I386 => 4,
        }
    }

    /// One pointer or `long` of the program's ABI.
    fn read_word(&self, va: u64) -> Option<u64> {
        match self.abi {
            Abi::Amd64 => self.read_u64(va),
            Abi::I386 => self.read_u32(va).map(u64::from),
        }
    }

    fn cstr(&self, va: u64) -> Option<CString> {
        let mut v = Vec::new();
        loop {
            let b = self.read(va + v.len() as u64, 1)?[0];
            if b == 0 {
                return CString::new(v).ok();
            }
            v.push(b);
            if v.len() > 1 << 16 {
                return None;
            }
        }
    }

    fn cstr_array(&self, mut va: u64) -> Option<Vec<CString>> {
        let mut out = Vec::new();
        if va == 0 {
            return Some(out);
        }
        loop {
            let p = self.read_word(va)?;
            if p == 0 {
                return Some(out);
            }
            out.push(self.cstr(p)?);
            va += self.word_size();
        }
    }

    /// Run until the program exits; returns its exit status.
    pub fn run(&mut self) -> i32 {
        loop {
            match self.cpu.run(&mut self.bus, 50_000_000) {
                Exit::Budget => {}
                Exit::Syscall => {
                    let exit = match self.abi {
                        Abi::Amd64 => self.syscall(),
                        Abi::I386 => i386::syscall(self),
                    };
                    if let Some(code) = exit {
                        return code;
                    }
                }
                Exit::Halted if self.abi == Abi::I386 => {
                    i386::report_fault(self);
                    return 139;
                }
                other => {
                    eprintln!(
                        "netvm user runner: CPU stopped ({other:?}) at rip {:#x}, rsp {:#x}, cr2 {:#x}, last exception {:x?}",
                        self.cpu.rip, self.cpu.gpr[4], self.cpu.cr2, self.cpu.last_exception
                    );
                    return 139;
                }
            }
        }
    }

    fn syscall(&mut self) -> Option<i32> {
        let g = self.cpu.gpr;
        let nr = g[0] as i64;
        let a = [g[7], g[6], g[2], g[10], g[8], g[9]];
        // SYSCALL clobbers RCX and R11 (return RIP and RFLAGS).
        self.cpu.gpr[1] = self.cpu.rip;
        self.cpu.gpr[11] = self.cpu.rflags();
        let r = match self.dispatch(nr, a) {
            Ok(v) => v,
            Err(Some(code)) => return Some(code),
            Err(None) => -(libc::EFAULT as i64),
        };
        if self.strace {
            eprintln!(
                "[{}] syscall {nr}({:#x}, {:#x}, {:#x}) = {r}",
                std::process::id(),
                a[0],
                a[1],
                a[2]
            );
        }
        self.cpu.gpr[0] = r as u64;
        None
    }

    /// Copy-in / host call / copy-out helpers.
    fn buf_out(
        &mut self,
        nr: i64,
        args: &[u64],
        ptr_arg: usize,
        len: usize,
    ) -> Result<i64, Option<i32>> {
        let mut buf = vec![0u8; len];
        let mut h = args.to_vec();
        h[ptr_arg] = buf.as_mut_ptr() as u64;
        let r = host(nr, &h);
        if r >= 0 && args[ptr_arg] != 0 {
            self.write(args[ptr_arg], &buf).ok_or(None)?;
        }
        Ok(r)
    }

    fn path_call(&mut self, nr: i64, args: &[u64], path_arg: usize) -> Result<i64, Option<i32>> {
        let p = self.cstr(args[path_arg]).ok_or(None)?;
        let mut h = args.to_vec();
        h[path_arg] = p.as_ptr() as u64;
        Ok(host(nr, &h))
    }

    fn dispatch(&mut self, nr: i64, a: [u64; 6]) -> Result<i64, Option<i32>> {
        use libc::*;
        let einval = -(EINVAL as i64);
        Ok(match nr {
            SYS_read | SYS_pread64 => {
                let n = (a[2] as usize).min(1 << 20);
                self.buf_out(nr, &[a[0], a[1], n as u64, a[3]], 1, n)
                    .map(|r| r)?
            }
            SYS_write | SYS_pwrite64 => {
                let n = (a[2] as usize).min(1 << 20);
                let data = self.read(a[1], n).ok_or(None)?;
                host(nr, &[a[0], data.as_ptr() as u64, n as u64, a[3]])
            }
            SYS_readv | SYS_writev => {
                let mut total = 0i64;
                // struct iovec: two words (base, length).
                let w = self.word_size();
                for k in 0..a[2].min(1024) {
                    let base = self.read_word(a[1] + 2 * w * k).ok_or(None)?;
                    let len = self.read_word(a[1] + 2 * w * k + w).ok_or(None)?;
                    if len == 0 {
                        continue;
                    }
                    let r = if nr == SYS_readv {
                        self.dispatch(SYS_read, [a[0], base, len, 0, 0, 0])?
                    } else {
                        self.dispatch(SYS_write, [a[0], base, len, 0, 0, 0])?
                    };
                    if r < 0 {
                        return Ok(if total > 0 { total } else { r });
                    }
                    total += r;
                    if (r as u64) < len {
                        break;
                    }
                }
                total
            }
            SYS_open | SYS_stat | SYS_lstat | SYS_access | SYS_chdir | SYS_mkdir | SYS_rmdir
            | SYS_unlink | SYS_chmod | SYS_truncate => {
                if matches!(nr, SYS_stat | SYS_lstat) {
                    let p = self.cstr(a[0]).ok_or(None)?;
                    self.buf_out(nr, &[p.as_ptr() as u64, a[1]], 1, 144)?
                } else {
                    self.path_call(nr, &a, 0)?
                }
            }
            SYS_openat | SYS_faccessat | SYS_faccessat2 | SYS_unlinkat | SYS_mkdirat
            | SYS_fchmodat => self.path_call(nr, &a, 1)?,
            SYS_newfstatat => {
                let p = self.cstr(a[1]).ok_or(None)?;
                self.buf_out(nr, &[a[0], p.as_ptr() as u64, a[2], a[3]], 2, 144)?
            }
            SYS_statx => {
                let p = self.cstr(a[1]).ok_or(None)?;
                self.buf_out(nr, &[a[0], p.as_ptr() as u64, a[2], a[3], a[4]], 4, 256)?
            }
            SYS_fstat => self.buf_out(nr, &a[..2], 1, 144)?,
            // struct statfs: 120 bytes on x86_64.
            SYS_statfs => {
                let p = self.cstr(a[0]).ok_or(None)?;
                self.buf_out(nr, &[p.as_ptr() as u64, a[1]], 1, 120)?
            }
            SYS_fstatfs => self.buf_out(nr, &a[..2], 1, 120)?,
            SYS_rename | SYS_link | SYS_symlink => {
                let p1 = self.cstr(a[0]).ok_or(None)?;
                let p2 = self.cstr(a[1]).ok_or(None)?;
                host(nr, &[p1.as_ptr() as u64, p2.as_ptr() as u64])
            }
            SYS_renameat | SYS_renameat2 => {
                let p1 = self.cstr(a[1]).ok_or(None)?;
                let p2 = self.cstr(a[3]).ok_or(None)?;
                host(
                    nr,
                    &[a[0], p1.as_ptr() as u64, a[2], p2.as_ptr() as u64, a[4]],
                )
            }
            SYS_readlink | SYS_readlinkat => {
                let (pa, ba, la) = if nr == SYS_readlink {
                    (0, 1, 2)
                } else {
                    (1, 2, 3)
                };
                let p = self.cstr(a[pa]).ok_or(None)?;
                if p.as_bytes() == b"/proc/self/exe" {
                    let e = self.exe.clone().into_bytes();
                    let n = e.len().min(a[la] as usize);
                    self.write(a[ba], &e[..n]).ok_or(None)?;
                    n as i64
                } else {
                    let mut h = a.to_vec();
                    h[pa] = p.as_ptr() as u64;
                    self.buf_out(nr, &h, ba, a[la].min(4096) as usize)?
                }
            }
            SYS_getcwd => self.buf_out(nr, &[a[0], a[1].min(4096)], 0, a[1].min(4096) as usize)?,
            SYS_getdents64 => self.buf_out(
                nr,
                &[a[0], a[1], a[2].min(1 << 16)],
                1,
                a[2].min(1 << 16) as usize,
            )?,
            SYS_close | SYS_dup | SYS_dup2 | SYS_dup3 | SYS_lseek | SYS_umask | SYS_fchdir
            | SYS_ftruncate | SYS_fsync | SYS_fdatasync | SYS_getpid | SYS_getppid | SYS_getuid
            | SYS_geteuid | SYS_getgid | SYS_getegid | SYS_getpgrp | SYS_setpgid | SYS_getpgid
            | SYS_getsid | SYS_setsid | SYS_kill | SYS_gettid | SYS_sched_yield | SYS_fchmod
            | SYS_alarm | SYS_setuid | SYS_setgid => host(nr, &a),
            SYS_tgkill => host(SYS_kill, &[std::process::id() as u64, a[2]]),
            SYS_fcntl => match a[1] as i32 {
                F_GETFD | F_SETFD | F_GETFL | F_SETFL | F_DUPFD | F_DUPFD_CLOEXEC => {
                    host(nr, &a[..3])
                }
                _ => einval,
            },
            SYS_pipe | SYS_pipe2 => {
                let mut fds = [0i32; 2];
                let r = host(
                    SYS_pipe2,
                    &[
                        fds.as_mut_ptr() as u64,
                        if nr == SYS_pipe2 { a[1] } else { 0 },
                    ],
                );
                if r == 0 {
                    let b: Vec<u8> = fds.iter().flat_map(|f| f.to_le_bytes()).collect();
                    self.write(a[0], &b).ok_or(None)?;
                }
                r
            }
            SYS_ioctl => match a[1] {
                // struct termios (36 bytes, the same on i386 and x86_64)
                0x5401 => self.buf_out(nr, &a[..3], 2, 36)?, // TCGETS
                0x5413 => self.buf_out(nr, &a[..3], 2, 8)?,  // TIOCGWINSZ
                0x540f => self.buf_out(nr, &a[..3], 2, 4)?,  // TIOCGPGRP
                0x5402..=0x5404 | 0x5410 | 0x5414 => {
                    let n = match a[1] {
                        0x5410 => 4,
                        0x5414 => 8,
                        _ => 36,
                    };
                    let d = self.read(a[2], n).ok_or(None)?;
                    host(nr, &[a[0], a[1], d.as_ptr() as u64])
                }
                _ => -(ENOTTY as i64),
            },
            SYS_poll => {
                let n = a[1].min(256) as usize;
                let mut fds = self.read(a[0], 8 * n).ok_or(None)?;
                let r = host(nr, &[fds.as_mut_ptr() as u64, n as u64, a[2]]);
                self.write(a[0], &fds).ok_or(None)?;
                r
            }
            SYS_uname => self.buf_out(nr, &a[..1], 0, 390)?,
            SYS_sysinfo => self.buf_out(nr, &a[..1], 0, 112)?,
            SYS_clock_gettime | SYS_clock_getres => self.buf_out(nr, &a[..2], 1, 16)?,
            SYS_gettimeofday => self.buf_out(nr, &[a[0], 0], 0, 16)?,
            SYS_time => {
                let t = host(nr, &[0]);
                if a[0] != 0 {
                    self.write(a[0], &t.to_le_bytes()).ok_or(None)?;
                }
                t
            }
            SYS_nanosleep | SYS_clock_nanosleep => {
                let (ti, ro) = if nr == SYS_nanosleep { (0, 1) } else { (2, 3) };
                let ts = self.read(a[ti], 16).ok_or(None)?;
                let mut h = a.to_vec();
                h[ti] = ts.as_ptr() as u64;
                h[ro] = 0;
                host(nr, &h)
            }
            SYS_getrlimit => self.buf_out(nr, &a[..2], 1, 16)?,
            SYS_prlimit64 => {
                if a[2] != 0 {
                    0 // setting limits is ignored
                } else {
                    self.buf_out(nr, &[a[0], a[1], 0, a[3]], 3, 16)?
                }
            }
            SYS_getrandom => {
                let n = a[1].min(1 << 16) as usize;
                self.buf_out(nr, &[a[0], n as u64, a[2]], 0, n)?
            }
            SYS_wait4 => {
                let mut st = 0i32;
                let r = host(nr, &[a[0], &mut st as *mut i32 as u64, a[2], 0]);
                if r > 0 && a[1] != 0 {
                    self.write(a[1], &st.to_le_bytes()).ok_or(None)?;
                }
                r
            }
            SYS_rt_sigaction => {
                if a[2] != 0 {
                    self.write(a[2], &[0u8; 32]).ok_or(None)?;
                }
                0
            }
            SYS_rt_sigprocmask => {
                if a[2] != 0 {
                    self.write(a[2], &[0u8; 8]).ok_or(None)?;
                }
                0
            }
            SYS_sigaltstack | SYS_set_robust_list | SYS_madvise | SYS_mprotect | SYS_futex
            | SYS_rt_sigsuspend => 0,
            SYS_set_tid_address => std::process::id() as i64,
            SYS_sched_getaffinity => {
                let n = a[1].min(128) as usize;
                let mut m = vec![0u8; n];
                if n > 0 {
                    m[0] = 1;
                }
                self.write(a[2], &m).ok_or(None)?;
                n.min(8) as i64
            }
            SYS_arch_prctl => match a[0] {
                0x1002 => {
                    self.cpu.seg[netvm::cpu::state::FS].base = a[1];
                    0
                }
                0x1003 => {
                    let v = self.cpu.seg[netvm::cpu::state::FS].base;
                    self.write(a[1], &v.to_le_bytes()).ok_or(None)?;
                    0
                }
                _ => einval,
            },
            SYS_brk => {
                let want = a[0];
                if want >= self.brk_base && want < self.brk_base + (1 << 30) {
                    let mut p = (self.brk + PAGE - 1) & !(PAGE - 1);
                    while p < want {
                        self.map(p);
                        p += PAGE;
                    }
                    self.brk = want;
                }
                self.brk as i64
            }
            SYS_mmap => self.mmap(a)?,
            SYS_munmap => {
                let mut p = a[0] & !(PAGE - 1);
                while p < a[0] + a[1] {
                    self.unmap(p);
                    p += PAGE;
                }
                self.cpu.flush_tlb();
                0
            }
            SYS_mremap => -(ENOMEM as i64),
            SYS_exit | SYS_exit_group => return Err(Some(a[0] as i32)),
            SYS_fork | SYS_vfork => self.fork(None),
            SYS_clone => {
                if a[0] & CLONE_THREAD as u64 != 0 {
                    -(ENOSYS as i64)
                } else {
                    self.fork(if a[1] != 0 { Some(a[1]) } else { None })
                }
            }
            SYS_execve => self.execve(a)?,
            _ => {
                if self.strace {
                    eprintln!("netvm user runner: unsupported syscall {nr}");
                }
                -(ENOSYS as i64)
            }
        })
    }

    fn mmap(&mut self, a: [u64; 6]) -> Result<i64, Option<i32>> {
        let len = (a[1] + PAGE - 1) & !(PAGE - 1);
        if len == 0 || len > 1 << 32 {
            return Ok(-(libc::EINVAL as i64));
        }
        let flags = a[3] as i32;
        let addr = if flags & libc::MAP_FIXED != 0 {
            a[0] & !(PAGE - 1)
        } else {
            self.mmap_next -= len;
            self.mmap_next
        };
        let mut p = addr;
        while p < addr + len {
            if self.pages.contains_key(&p) {
                let f = self.pages[&p];
                self.bus.mem[f as usize..(f + PAGE) as usize].fill(0);
            } else {
                self.map(p);
            }
            p += PAGE;
        }
        self.cpu.flush_tlb();
        if flags & libc::MAP_ANONYMOUS == 0 {
            // File mapping: copy the contents in (private semantics).
            let mut buf = vec![0u8; a[1] as usize];
            let r = host(
                libc::SYS_pread64,
                &[a[4], buf.as_mut_ptr() as u64, a[1], a[5]],
            );
            if r < 0 {
                return Ok(r);
            }
            self.write(addr, &buf[..r as usize]).ok_or(None)?;
        }
        Ok(addr as i64)
    }

    /// fork/vfork/clone: the host process forks; the child keeps running
    /// the same emulated state (on a new stack for clone with a stack).
    fn fork(&mut self, child_stack: Option<u64>) -> i64 {
        // SAFETY: the runner process is single-threaded (spawned with
        // --test-threads=1), so the child may keep running Rust code.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return -errno();
        }
        if pid == 0 {
            if let Some(sp) = child_stack {
                self.cpu.gpr[4] = sp;
            }
            return 0;
        }
        pid as i64
    }

    fn execve(&mut self, a: [u64; 6]) -> Result<i64, Option<i32>> {
        let path = self.cstr(a[0]).ok_or(None)?;
        let argv = self.cstr_array(a[1]).ok_or(None)?;
        let envp = self.cstr_array(a[2]).ok_or(None)?;
        let p = path.to_string_lossy().to_string();
        match std::fs::metadata(&p) {
            Err(e) => return Ok(-(e.raw_os_error().unwrap_or(libc::ENOENT) as i64)),
            Ok(m) if !m.is_file() => return Ok(-(libc::EACCES as i64)),
            _ => {}
        }
        let mut fresh = Process::new(self.bus.mem.len());
        match fresh.load(&p, &argv, &envp) {
            Ok(()) => {
                // Close-on-exec descriptors must close as the kernel would.
                for fd in 3..256 {
                    // SAFETY: querying/closing host descriptors by number.
                    unsafe {
                        let fl = libc::fcntl(fd, libc::F_GETFD);
                        if fl >= 0 && fl & libc::FD_CLOEXEC != 0 {
                            libc::close(fd);
                        }
                    }
                }
                *self = fresh;
                Ok(0)
            }
            Err(e) => {
                if self.strace {
                    eprintln!("netvm user runner: execve {p}: {e}");
                }
                Ok(-(libc::ENOEXEC as i64))
            }
        }
    }
}

/// Entry point used when a test re-executes itself as the runner: argv of
/// the guest program comes from `NETVM_USER_RUNNER` (separated by U+001F).
pub fn runner_main_from_env() -> Option<i32> {
    let spec = std::env::var("NETVM_USER_RUNNER").ok()?;
    let args: Vec<CString> = spec
        .split('\u{1f}')
        .map(|s| CString::new(s).unwrap())
        .collect();
    let envp: Vec<CString> = std::env::vars()
        .filter(|(k, _)| {
            !k.starts_with("NETVM_") && !k.starts_with("RUST_") && !k.starts_with("CARGO")
        })
        .map(|(k, v)| CString::new(format!("{k}={v}")).unwrap())
        .collect();
    // Rust ignores SIGPIPE; a Linux process starts with the default action.
    // SAFETY: plain signal disposition change in a single-threaded process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let mut p = Process::new(1 << 30);
    let path = args[0].to_string_lossy().to_string();
    let argv: Vec<CString> = args[1..].to_vec();
    if let Err(e) = p.load(&path, &argv, &envp) {
        eprintln!("netvm user runner: {e}");
        return Some(127);
    }
    Some(p.run())
}

//! The ELF loader of the user-mode runner: static ET_EXEC images of either
//! class (ELF64 x86_64, ELF32 i386), mapped into the process's page tables,
//! and the initial stack of argv, envp and the auxiliary vector (System V
//! AMD64 ABI §3.4.1; the i386 ABI lays it out the same with 4-byte words).

use std::ffi::CString;

use netvm::cpu::state::{CR0_PG, CR0_WP, CS, SS};
use netvm::cpu::Segment;

use super::{i386, Abi, Process, PAGE};

/// x86_64 processes: the stack below the 47-bit canonical limit, mmap
/// areas growing down from below it.
const STACK_TOP_64: u64 = 0x7fff_ffff_f000;
const MMAP_TOP_64: u64 = 0x7f00_0000_0000;
/// i386 processes: everything below 4 GiB (a 64-bit kernel's compat
/// TASK_SIZE is 0xffffe000).
const STACK_TOP_32: u64 = 0xffff_e000;
const MMAP_TOP_32: u64 = 0xf700_0000;
const STACK_SIZE: u64 = 8 << 20;

/// One PT_LOAD segment.
struct Segment64 {
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

/// What the loader needs of an ELF image, whichever its class.
struct Image {
    abi: Abi,
    entry: u64,
    phdr_vaddr: u64,
    phent: u64,
    phnum: u64,
    loads: Vec<Segment64>,
}

fn parse(path: &str, img: &[u8]) -> Result<Image, String> {
    if img.len() < 52 || &img[..4] != b"\x7fELF" || img[5] != 1 {
        return Err(format!("{path}: not a little-endian ELF file"));
    }
    let u16_at = |o: usize| u16::from_le_bytes([img[o], img[o + 1]]) as u64;
    let u32_at = |o: usize| u32::from_le_bytes(img[o..o + 4].try_into().unwrap()) as u64;
    let u64_at = |o: usize| u64::from_le_bytes(img[o..o + 8].try_into().unwrap());
    let (abi, machine) = match img[4] {
        1 => (Abi::I386, 3),
        2 if img.len() >= 64 => (Abi::Amd64, 62),
        _ => return Err(format!("{path}: unknown ELF class {}", img[4])),
    };
    if u16_at(18) != machine {
        return Err(format!(
            "{path}: ELF machine {} does not match its class (want {machine})",
            u16_at(18)
        ));
    }
    if u16_at(16) != 2 {
        return Err(format!("{path}: only static ET_EXEC images are supported"));
    }
    // Header fields: (entry, phoff, phentsize, phnum) per class.
    let (entry, phoff, phent, phnum) = match abi {
        Abi::I386 => (u32_at(24), u32_at(28), u16_at(42), u16_at(44)),
        Abi::Amd64 => (u64_at(24), u64_at(32), u16_at(54), u16_at(56)),
    };
    let want_phent = if abi == Abi::I386 { 32 } else { 56 };
    if phent != want_phent {
        return Err(format!(
            "{path}: program header size {phent}, expected {want_phent}"
        ));
    }
    let mut image = Image {
        abi,
        entry,
        phdr_vaddr: 0,
        phent,
        phnum,
        loads: Vec::new(),
    };
    for k in 0..phnum {
        let o = (phoff + phent * k) as usize;
        if o + phent as usize > img.len() {
            return Err(format!("{path}: truncated program headers"));
        }
        let ty = u32_at(o);
        let seg = match abi {
            Abi::I386 => Segment64 {
                offset: u32_at(o + 4),
                vaddr: u32_at(o + 8),
                filesz: u32_at(o + 16),
                memsz: u32_at(o + 20),
            },
            Abi::Amd64 => Segment64 {
                offset: u64_at(o + 8),
                vaddr: u64_at(o + 16),
                filesz: u64_at(o + 32),
                memsz: u64_at(o + 40),
            },
        };
        if ty == 3 {
            return Err(format!("{path}: dynamically linked (PT_INTERP)"));
        }
        if ty != 1 {
            continue;
        }
        if seg.filesz > seg.memsz || seg.offset.saturating_add(seg.filesz) > img.len() as u64 {
            return Err(format!(
                "{path}: PT_LOAD at {:#x} beyond the file",
                seg.vaddr
            ));
        }
        if abi == Abi::I386 && seg.vaddr + seg.memsz > STACK_TOP_32 - STACK_SIZE {
            return Err(format!(
                "{path}: PT_LOAD at {:#x} overlaps the stack",
                seg.vaddr
            ));
        }
        if seg.offset <= phoff && phoff < seg.offset + seg.filesz {
            image.phdr_vaddr = seg.vaddr + phoff - seg.offset;
        }
        image.loads.push(seg);
    }
    Ok(image)
}

impl Process {
    /// Load a static executable, build its initial stack and set the CPU
    /// up to enter it at CPL 3 (64-bit mode, or compatibility mode for an
    /// i386 image).
    pub fn load(&mut self, path: &str, argv: &[CString], envp: &[CString]) -> Result<(), String> {
        let img = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        let image = parse(path, &img)?;
        self.abi = image.abi;
        let mut end = 0;
        for seg in &image.loads {
            let mut a = seg.vaddr & !(PAGE - 1);
            while a < seg.vaddr + seg.memsz {
                self.map(a);
                a += PAGE;
            }
            let data = &img[seg.offset as usize..(seg.offset + seg.filesz) as usize];
            self.write(seg.vaddr, data).ok_or("map failed")?;
            end = end.max(seg.vaddr + seg.memsz);
        }
        self.brk_base = (end + PAGE - 1) & !(PAGE - 1);
        self.brk = self.brk_base;
        let (stack_top, platform) = match image.abi {
            Abi::Amd64 => (STACK_TOP_64, &b"x86_64\0"[..]),
            Abi::I386 => (STACK_TOP_32, &b"i686\0"[..]),
        };
        self.mmap_next = match image.abi {
            Abi::Amd64 => MMAP_TOP_64,
            Abi::I386 => MMAP_TOP_32,
        };
        let mut a = stack_top - STACK_SIZE;
        while a < stack_top {
            self.map(a);
            a += PAGE;
        }
        let sp = self.build_stack(stack_top, path, platform, &image, argv, envp)?;
        self.exe = path.to_string();
        match image.abi {
            Abi::Amd64 => self.enter_64(image.entry, sp),
            Abi::I386 => i386::enter(self, image.entry, sp),
        }
        Ok(())
    }

    /// The initial stack: argc, argv[], 0, envp[], 0, auxv pairs, AT_NULL,
    /// with the strings above them; words of the image's size.
    fn build_stack(
        &mut self,
        top: u64,
        path: &str,
        platform: &[u8],
        image: &Image,
        argv: &[CString],
        envp: &[CString],
    ) -> Result<u64, String> {
        let mut sp = top;
        let mut push_bytes = |p: &mut Process, b: &[u8]| {
            sp -= b.len() as u64;
            p.write(sp, b);
            sp
        };
        let execfn = push_bytes(self, CString::new(path).unwrap().as_bytes_with_nul());
        let platform = push_bytes(self, platform);
        let random = push_bytes(self, &[0x5a; 16]);
        let argp: Vec<u64> = argv
            .iter()
            .map(|s| push_bytes(self, s.as_bytes_with_nul()))
            .collect();
        let envpp: Vec<u64> = envp
            .iter()
            .map(|s| push_bytes(self, s.as_bytes_with_nul()))
            .collect();
        // No AT_SYSINFO/AT_SYSINFO_EHDR: there is no vDSO, so i386 glibc
        // makes its system calls with INT 0x80.
        let auxv: [(u64, u64); 17] = [
            (3, image.phdr_vaddr),
            (4, image.phent),
            (5, image.phnum),
            (6, PAGE),
            (7, 0),
            (8, 0),
            (9, image.entry),
            (11, 0),
            (12, 0),
            (13, 0),
            (14, 0),
            (16, 0),
            (17, 100),
            (23, 0),
            (25, random),
            (31, execfn),
            (15, platform),
        ];
        let mut words: Vec<u64> = vec![argv.len() as u64];
        words.extend(&argp);
        words.push(0);
        words.extend(&envpp);
        words.push(0);
        for (k, v) in auxv {
            words.push(k);
            words.push(v);
        }
        words.push(0);
        words.push(0);
        let word = self.word_size();
        sp = (sp - word * words.len() as u64) & !15;
        let bytes: Vec<u8> = words
            .iter()
            .flat_map(|w| w.to_le_bytes()[..word as usize].to_vec())
            .collect();
        self.write(sp, &bytes).ok_or("stack write failed")?;
        Ok(sp)
    }

    /// 64-bit user mode with paging, as Linux enters an x86_64 program.
    fn enter_64(&mut self, entry: u64, sp: u64) {
        let c = &mut self.cpu;
        c.cr3 = self.pml4;
        c.cr0 |= CR0_PG | CR0_WP;
        c.cpl = 3;
        c.seg[CS] = Segment {
            selector: 0x33,
            base: 0,
            limit: 0xffff_ffff,
            attr: 0xa0fb,
        };
        c.seg[SS] = Segment {
            selector: 0x2b,
            base: 0,
            limit: 0xffff_ffff,
            attr: 0xc0f3,
        };
        c.user_mode_syscalls = true;
        c.gpr = [0; 16];
        c.gpr[4] = sp;
        c.rip = entry;
        c.set_rflags(0x202);
        c.flush_tlb();
        c.flush_code_cache();
    }
}

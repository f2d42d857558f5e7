//! Decoded-code cache: blocks of converted instructions keyed by the
//! guest-physical address of their first byte. A block never crosses a page,
//! so a write to a page drops exactly the blocks recorded for that page.

use std::collections::HashMap;
use std::rc::Rc;

use super::decode::Insn;

pub(crate) struct Block {
    pub insns: Box<[Insn]>,
}

/// Set in a block key for compatibility-mode (32-bit) code: the same
/// physical bytes decode differently in 64-bit and 32-bit mode.
pub(crate) const COMPAT_KEY: u64 = 1 << 63;

/// Direct-mapped front cache in front of the hash map (hot loops hit it).
const FRONT: usize = 4096;

pub(crate) struct CodeCache {
    blocks: HashMap<u64, Rc<Block>>,
    pages: HashMap<u64, Vec<u64>>,
    /// One bit per physical page holding cached code.
    bitmap: Vec<u64>,
    front: Vec<Option<(u64, Rc<Block>)>>,
    /// Encodings already reported as undefined (logged once each).
    undefined_seen: std::collections::HashSet<Vec<u8>>,
}

impl Default for CodeCache {
    fn default() -> Self {
        CodeCache {
            blocks: HashMap::new(),
            pages: HashMap::new(),
            bitmap: Vec::new(),
            front: vec![None; FRONT],
            undefined_seen: Default::default(),
        }
    }
}

impl CodeCache {
    #[inline(always)]
    pub fn has_code(&self, page: u64) -> bool {
        let w = (page >> 6) as usize;
        w < self.bitmap.len() && self.bitmap[w] & (1 << (page & 63)) != 0
    }

    #[inline(always)]
    pub fn get(&self, phys: u64) -> Option<Rc<Block>> {
        if let Some((p, b)) = &self.front[(phys as usize) & (FRONT - 1)] {
            if *p == phys {
                return Some(b.clone());
            }
        }
        None
    }

    pub fn get_slow(&mut self, phys: u64) -> Option<Rc<Block>> {
        let b = self.blocks.get(&phys)?.clone();
        self.front[(phys as usize) & (FRONT - 1)] = Some((phys, b.clone()));
        Some(b)
    }

    pub fn insert(&mut self, phys: u64, block: Block) -> Rc<Block> {
        let page = (phys & !COMPAT_KEY) >> 12;
        let w = (page >> 6) as usize;
        if w >= self.bitmap.len() {
            self.bitmap.resize(w + 1, 0);
        }
        self.bitmap[w] |= 1 << (page & 63);
        let b = Rc::new(block);
        self.blocks.insert(phys, b.clone());
        self.pages.entry(page).or_default().push(phys);
        self.front[(phys as usize) & (FRONT - 1)] = Some((phys, b.clone()));
        b
    }

    pub fn invalidate_page(&mut self, page: u64) {
        let w = (page >> 6) as usize;
        if w < self.bitmap.len() {
            self.bitmap[w] &= !(1 << (page & 63));
        }
        if let Some(starts) = self.pages.remove(&page) {
            for s in starts {
                self.blocks.remove(&s);
                let slot = &mut self.front[(s as usize) & (FRONT - 1)];
                if matches!(slot, Some((p, _)) if *p == s) {
                    *slot = None;
                }
            }
        }
    }

    /// True the first time an undefined encoding is seen.
    pub fn note_undefined(&mut self, bytes: &[u8]) -> bool {
        self.undefined_seen.len() < 4096 && self.undefined_seen.insert(bytes.to_vec())
    }

    pub fn clear(&mut self) {
        *self = CodeCache::default();
    }
}

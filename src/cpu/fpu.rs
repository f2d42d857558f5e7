//! x87 FPU state (Intel SDM vol. 1 ch. 8). Values are kept as f64; the
//! 80-bit memory format is converted exactly on load and rounded on store.

/// x87 register stack and control state, as FXSAVE lays it out.
#[derive(Clone, Debug)]
pub struct Fpu {
    pub st: [f64; 8],
    /// Control word; 0x037f after FNINIT.
    pub cw: u16,
    /// Status word without TOP (kept in `top`).
    pub sw: u16,
    pub top: u8,
    /// Abridged tag word (FXSAVE format): bit i set = physical register i valid.
    pub tag: u8,
    pub fop: u16,
    pub fip: u64,
    pub fdp: u64,
}

impl Default for Fpu {
    fn default() -> Self {
        Fpu { st: [0.0; 8], cw: 0x037f, sw: 0, top: 0, tag: 0, fop: 0, fip: 0, fdp: 0 }
    }
}

impl Fpu {
    /// The full status word with TOP in bits 11..13.
    pub fn status(&self) -> u16 {
        (self.sw & !0x3800) | ((self.top as u16 & 7) << 11)
    }
}

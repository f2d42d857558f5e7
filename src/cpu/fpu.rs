//! x87 FPU state (Intel SDM vol. 1 ch. 8). Registers are kept in their
//! exact 80-bit memory format, so FXSAVE/FXRSTOR and FLD/FSTP m80
//! round-trip bit for bit; the basic arithmetic works on those 80 bits
//! (f80.rs), the rest converts to f64 and back.

/// x87 register stack and control state, as FXSAVE lays it out.
#[derive(Clone, Debug)]
pub struct Fpu {
    /// Physical registers R0..R7 in 80-bit extended format.
    pub regs: [[u8; 10]; 8],
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
        Fpu {
            regs: [[0; 10]; 8],
            cw: 0x037f,
            sw: 0,
            top: 0,
            tag: 0,
            fop: 0,
            fip: 0,
            fdp: 0,
        }
    }
}

impl Fpu {
    /// The full status word with TOP in bits 11..13.
    pub fn status(&self) -> u16 {
        (self.sw & !0x3800) | ((self.top as u16 & 7) << 11)
    }
    pub fn reg_bytes(&self, phys: usize) -> [u8; 10] {
        self.regs[phys & 7]
    }
    pub fn set_reg_bytes(&mut self, phys: usize, b: [u8; 10]) {
        self.regs[phys & 7] = b;
    }
}

/// Exact conversion of an f64 to the 80-bit extended format.
pub fn f64_to_f80(v: f64) -> [u8; 10] {
    let bits = v.to_bits();
    let sign = ((bits >> 63) as u16) << 15;
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    let (e, m): (u16, u64) = if exp == 0x7ff {
        (0x7fff, (1 << 63) | (frac << 11))
    } else if exp == 0 {
        if frac == 0 {
            (0, 0)
        } else {
            // Subnormal f64: normalise (extended has the range for it).
            let lz = frac.leading_zeros() as i32; // >= 12
            let m = frac << lz;
            let e = -1022 - (lz - 11) + 16383;
            (e as u16, m)
        }
    } else {
        ((exp - 1023 + 16383) as u16, (1 << 63) | (frac << 11))
    };
    let mut out = [0u8; 10];
    out[..8].copy_from_slice(&m.to_le_bytes());
    out[8..].copy_from_slice(&(sign | e).to_le_bytes());
    out
}

/// 80-bit extended to f64, rounded to nearest-even.
pub fn f80_to_f64(b: [u8; 10]) -> f64 {
    let mant = u64::from_le_bytes(b[..8].try_into().unwrap());
    let se = u16::from_le_bytes([b[8], b[9]]);
    let sign = (se as u64 >> 15) << 63;
    let exp = (se & 0x7fff) as i32;
    if exp == 0x7fff {
        if mant << 1 == 0 {
            return f64::from_bits(sign | 0x7ff0_0000_0000_0000);
        }
        let frac = (mant << 1) >> 12;
        let frac = if frac == 0 { 1 << 51 } else { frac };
        return f64::from_bits(sign | 0x7ff0_0000_0000_0000 | frac);
    }
    if mant == 0 {
        return f64::from_bits(sign);
    }
    let lz = mant.leading_zeros() as i32;
    let m = mant << lz;
    // value = m * 2^(e2 - 63), m normalised with bit 63 set
    let e2 = if exp == 0 { -16382 } else { exp - 16383 } - lz;
    if e2 > 1023 {
        return f64::from_bits(sign | 0x7ff0_0000_0000_0000);
    }
    let (shift, biased) = if e2 >= -1022 {
        (11u32, (e2 + 1023) as u64)
    } else {
        ((11 - 1022 - e2) as u32, 0)
    };
    if shift >= 64 {
        // Far below the smallest subnormal: rounds to zero (or the
        // smallest subnormal when just above half of it).
        let half = shift == 64 && m > 1 << 63;
        return f64::from_bits(sign | half as u64);
    }
    let kept = m >> shift;
    let rest = m << (64 - shift);
    let round_up = rest > 1 << 63 || (rest == 1 << 63 && kept & 1 == 1);
    let mut mant53 = kept + round_up as u64;
    let mut biased = biased;
    if biased == 0 {
        // Subnormal: mant53 may have carried into the normal range.
        return f64::from_bits(sign | mant53);
    }
    if mant53 >> 53 != 0 {
        mant53 >>= 1;
        biased += 1;
        if biased >= 0x7ff {
            return f64::from_bits(sign | 0x7ff0_0000_0000_0000);
        }
    }
    f64::from_bits(sign | biased << 52 | (mant53 & ((1 << 52) - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f80_roundtrip_of_f64_values() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -2.5,
            1e300,
            5e-324,
            2.2250738585072014e-308,
            f64::INFINITY,
            f64::MAX,
            0.1,
        ] {
            assert_eq!(f80_to_f64(f64_to_f80(v)).to_bits(), v.to_bits(), "{v}");
        }
        assert!(f80_to_f64(f64_to_f80(f64::NAN)).is_nan());
    }

    #[test]
    fn one_in_f80() {
        assert_eq!(f64_to_f80(1.0), [0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]);
    }

    #[test]
    fn f80_rounding_to_nearest_even() {
        // 1 + 2^-53 (exactly half an f64 ulp) rounds to 1.0.
        let mut b = f64_to_f80(1.0);
        b[1] = 0x04; // bit 10 of the 64-bit mantissa = 2^-53
        assert_eq!(f80_to_f64(b), 1.0);
        b[1] = 0x0c; // 1 + 2^-53 + 2^-52 -> rounds up to 1 + 2^-51
        assert_eq!(f80_to_f64(b), 1.0 + 2f64.powi(-51));
    }
}

//! Exact decimals up to 256 bits without a big-number dependency: a value is its unscaled
//! integer as four little-endian 64-bit words of two's complement (decimal128 sign-extended),
//! and its scale. Text goes both ways digit by digit, so nothing is ever rounded.

use std::fmt;

/// An exact decimal: `unscaled / 10^scale`. Read from decimal128 and decimal256 columns
/// alike (a decimal128 is sign-extended to the four words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    /// The unscaled integer, little-endian 64-bit words of two's complement.
    pub words: [u64; 4],
    pub scale: i32,
}

impl Decimal {
    /// `unscaled / 10^scale` from an i128.
    pub fn from_i128(unscaled: i128, scale: i32) -> Decimal {
        Decimal { words: words_of_i128(unscaled), scale }
    }

    /// The unscaled integer when it fits an i128 (always for a decimal128 column).
    pub fn unscaled_i128(&self) -> Option<i128> {
        let low = (self.words[0] as u128 | (self.words[1] as u128) << 64) as i128;
        // It fits when the upper words are only the sign extension of the lower half.
        let extension = if low < 0 { u64::MAX } else { 0 };
        if self.words[2] == extension && self.words[3] == extension { Some(low) } else { None }
    }

    /// The unscaled integer as 32 little-endian bytes (decimal256's layout in a buffer).
    pub fn to_le_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, w) in self.words.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    pub fn is_negative(&self) -> bool {
        self.words[3] >> 63 != 0
    }

    /// Decimal digits of the unscaled integer's magnitude (no sign): what a precision bounds.
    pub fn digits(&self) -> usize {
        let digits = magnitude_digits(&self.words).1;
        if digits == [0] { 1 } else { digits.len() }
    }
}

impl fmt::Display for Decimal {
    /// Plain notation with exactly `scale` fraction digits: -12.3400, 0.05, 1200 (scale -2 of 12).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (negative, digits) = magnitude_digits(&self.words);
        let mut out = String::with_capacity(digits.len() + 4);
        if negative { out.push('-'); }
        let n = digits.len() as i64;
        let scale = self.scale as i64;
        let is_zero = digits == [0];
        if scale <= 0 {
            out.extend(digits.iter().map(|&d| (b'0' + d) as char));
            if !is_zero {
                for _ in 0..-scale { out.push('0'); }
            }
        } else if n <= scale {
            out.push_str("0.");
            for _ in 0..scale - n { out.push('0'); }
            out.extend(digits.iter().map(|&d| (b'0' + d) as char));
        } else {
            for (i, &d) in digits.iter().enumerate() {
                if i as i64 == n - scale { out.push('.'); }
                out.push((b'0' + d) as char);
            }
        }
        f.write_str(&out)
    }
}

pub(crate) fn words_of_i128(v: i128) -> [u64; 4] {
    let extension = if v < 0 { u64::MAX } else { 0 };
    [v as u64, (v >> 64) as u64, extension, extension]
}

/// The sign and the decimal digits (most significant first; [0] for zero) of a 256-bit
/// two's complement integer. Its magnitude fits 256 unsigned bits even for the minimum.
pub(crate) fn magnitude_digits(words: &[u64; 4]) -> (bool, Vec<u8>) {
    let negative = words[3] >> 63 != 0;
    let mut limbs = [0u32; 8];
    let mut carry = 1u64;
    for i in 0..4 {
        let w = if negative {
            let (sum, overflow) = (!words[i]).overflowing_add(carry);
            carry = overflow as u64;
            sum
        } else {
            words[i]
        };
        limbs[2 * i] = w as u32;
        limbs[2 * i + 1] = (w >> 32) as u32;
    }
    let mut digits = Vec::with_capacity(78);
    let mut top = 8;
    while top > 0 && limbs[top - 1] == 0 { top -= 1; }
    while top > 0 {
        let mut rem = 0u64;
        for i in (0..top).rev() {
            let cur = (rem << 32) | limbs[i] as u64;
            limbs[i] = (cur / 10) as u32;
            rem = cur % 10;
        }
        digits.push(rem as u8);
        while top > 0 && limbs[top - 1] == 0 { top -= 1; }
    }
    if digits.is_empty() { digits.push(0); }
    digits.reverse();
    (negative, digits)
}

/// Whether a 256-bit value has at most `precision` digits.
pub(crate) fn fits_precision(words: &[u64; 4], precision: u32) -> bool {
    let digits = magnitude_digits(words).1;
    digits == [0] || digits.len() <= precision as usize
}

/// Parses "-12.5" into the unscaled integer of a column of `scale` (-1250 for scale 2):
/// more fraction digits than the scale, or more digits in all than the precision, is an
/// error, never rounded or cut.
pub(crate) fn parse_decimal(text: &str, precision: u32, scale: i32) -> Result<[u64; 4], String> {
    let trimmed = text.trim();
    let (negative, body) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let (whole, fraction) = match body.find('.') {
        Some(dot) => (&body[..dot], &body[dot + 1..]),
        None => (body, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return Err(format!("'{}' is not a decimal number", text));
    }
    // Trailing zeros of the fraction carry no value: 1.50 fits scale 1.
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() as i64 > scale as i64 {
        return Err(format!("'{}' has more than {} digits after the point", text, scale.max(0)));
    }
    let mut digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).map(|b| b - b'0').collect();
    if scale < 0 {
        // A negative scale stores tens (scale -2: hundreds); the dropped digits must be zeros.
        let drop = (-(scale as i64)) as usize;
        let keep = digits.len().saturating_sub(drop);
        if digits[keep..].iter().any(|&d| d != 0) {
            return Err(format!("'{}' is not a multiple of 10^{}", text, -scale));
        }
        digits.truncate(keep);
    } else {
        let pad = (scale as i64 - fraction.len() as i64) as usize;
        digits.resize(digits.len() + pad, 0);
    }
    let first = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
    let significant = &digits[first..];
    if significant.len() > precision as usize {
        return Err(format!("'{}' has more than {} digits", text, precision));
    }
    // At most 76 digits: less than 10^76 < 2^253, so the magnitude never overflows 256 bits.
    if significant.len() > 76 {
        return Err(format!("'{}' has more than 76 digits", text));
    }
    let mut magnitude = [0u64; 4];
    for &d in significant {
        let mut carry = d as u128;
        for w in magnitude.iter_mut() {
            let cur = (*w as u128) * 10 + carry;
            *w = cur as u64;
            carry = cur >> 64;
        }
    }
    Ok(if negative { negate(magnitude) } else { magnitude })
}

pub(crate) fn negate(words: [u64; 4]) -> [u64; 4] {
    let mut out = [0u64; 4];
    let mut carry = 1u64;
    for i in 0..4 {
        let (sum, overflow) = (!words[i]).overflowing_add(carry);
        out[i] = sum;
        carry = overflow as u64;
    }
    out
}

/// The words of `high * 2^128 + low`.
pub(crate) fn words_of_parts(high: i128, low: u128) -> [u64; 4] {
    [low as u64, (low >> 64) as u64, high as u64, (high >> 64) as u64]
}

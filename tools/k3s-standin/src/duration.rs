//! Go's `time.ParseDuration`, which kube-apiserver uses for duration flags:
//! an optional sign, then one or more `<number><unit>` parts, where a number
//! is digits with an optional fraction and a unit is one of
//! `ns us µs μs ms s m h`; "0" alone is zero; the total must fit in an i64
//! of nanoseconds.

const NANOS_PER_UNIT: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

pub const SECOND: i64 = 1_000_000_000;
pub const HOUR: i64 = 3600 * SECOND;

/// Nanoseconds, or Go's error text.
pub fn parse(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", crate::gostr::quote(text));
    let (neg, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    // Limit: 2^63 for a negative total, 2^63 - 1 for a positive one.
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after) = s.split_at(int_len);
        let whole = int_digits
            .bytes()
            .try_fold(0u64, |acc, d| {
                let next = acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
                (next <= LIMIT).then_some(next)
            })
            .ok_or_else(invalid)?;
        s = after;

        // Fraction: keep as many digits as fit; the rest only set precision.
        let (mut frac, mut scale, mut frac_len) = (0u64, 1f64, 0usize);
        let had_point = s.starts_with('.');
        if had_point {
            s = &s[1..];
            frac_len = s.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for d in s[..frac_len].bytes() {
                if overflow {
                    continue;
                }
                match frac
                    .checked_mul(10)
                    .and_then(|f| f.checked_add(u64::from(d - b'0')))
                {
                    Some(next) if next <= LIMIT && frac <= (LIMIT - 1) / 10 => {
                        frac = next;
                        scale *= 10.0;
                    }
                    _ => overflow = true,
                }
            }
            s = &s[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return Err(invalid());
        }

        let unit_len = s
            .char_indices()
            .find(|&(_, c)| c == '.' || c.is_ascii_digit())
            .map_or(s.len(), |(i, _)| i);
        if unit_len == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                crate::gostr::quote(text)
            ));
        }
        let (unit, after) = s.split_at(unit_len);
        s = after;
        let per = NANOS_PER_UNIT
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|&(_, n)| n)
            .ok_or_else(|| {
                format!(
                    "time: unknown unit {} in duration {}",
                    crate::gostr::quote(unit),
                    crate::gostr::quote(text)
                )
            })?;
        if whole > LIMIT / per {
            return Err(invalid());
        }
        let mut part = whole * per;
        if frac > 0 {
            // A float is precise enough here: at most 3.6e12 ns per unit.
            part += (frac as f64 * (per as f64 / scale)) as u64;
            if part > LIMIT {
                return Err(invalid());
            }
        }
        total = total
            .checked_add(part)
            .filter(|&t| t <= LIMIT)
            .ok_or_else(invalid)?;
    }
    if neg {
        Ok((total as i64).wrapping_neg())
    } else {
        i64::try_from(total).map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_durations() {
        // Cases from Go's documented examples and time package tests.
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("-0"), Ok(0));
        assert_eq!(parse("24h"), Ok(24 * HOUR));
        assert_eq!(parse("1h"), Ok(HOUR));
        assert_eq!(parse("1h30m"), Ok(HOUR + 30 * 60 * SECOND));
        assert_eq!(parse("2h45m"), Ok(2 * HOUR + 45 * 60 * SECOND));
        assert_eq!(parse("1.5h"), Ok(HOUR + HOUR / 2));
        assert_eq!(parse(".5s"), Ok(SECOND / 2));
        assert_eq!(parse("1.s"), Ok(SECOND));
        assert_eq!(parse("300ms"), Ok(300_000_000));
        assert_eq!(parse("-1.5h"), Ok(-(HOUR + HOUR / 2)));
        assert_eq!(parse("+3s"), Ok(3 * SECOND));
        assert_eq!(parse("1µs"), Ok(1_000));
        assert_eq!(parse("1μs"), Ok(1_000));
        assert_eq!(parse("4294967296s"), Ok(4_294_967_296 * SECOND));
        assert_eq!(parse("9223372036854775807ns"), Ok(i64::MAX));
        assert_eq!(parse("-9223372036854775808ns"), Ok(i64::MIN));
        assert_eq!(parse("0.100000000000000000000h"), Ok(6 * 60 * SECOND));
    }

    #[test]
    fn invalid_durations() {
        assert_eq!(parse(""), Err("time: invalid duration \"\"".into()));
        assert_eq!(
            parse("1"),
            Err("time: missing unit in duration \"1\"".into())
        );
        assert_eq!(
            parse("1d"),
            Err("time: unknown unit \"d\" in duration \"1d\"".into())
        );
        assert!(parse("h").is_err());
        assert!(parse(".h").is_err());
        assert!(parse("-").is_err());
        assert!(parse("1h ").is_err());
        assert!(parse(" 1h").is_err());
        assert!(parse("1H").is_err());
        assert!(parse("3000000h").is_err());
        assert!(parse("9223372036854775808ns").is_err());
        assert!(parse("9223372036854775807ns1ns").is_err());
    }
}

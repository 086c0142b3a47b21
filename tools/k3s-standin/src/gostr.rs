//! The few Go standard-library text conversions k3s's behaviour depends on:
//! `strconv.ParseInt`/`ParseUint`/`ParseBool`, `%v` of a float64 and `%q`.
//! Written from the documented Go semantics, not translated from Go source.

/// `strconv.ParseUint(s, base, 64)`; `base == 0` means "use the Go prefix":
/// `0x` hex, `0o` octal, `0b` binary, a bare leading `0` octal, else decimal.
pub fn parse_uint(s: &str, base: u32) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let (radix, digits) = if base == 0 {
        let lower = s.as_bytes().get(1).map(u8::to_ascii_lowercase);
        match (s.as_bytes()[0], lower) {
            (b'0', Some(b'x')) if s.len() >= 3 => (16, &s[2..]),
            (b'0', Some(b'o')) if s.len() >= 3 => (8, &s[2..]),
            (b'0', Some(b'b')) if s.len() >= 3 => (2, &s[2..]),
            (b'0', _) => (8, &s[1..]),
            _ => (10, s),
        }
    } else {
        (base, s)
    };
    let mut value: u64 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix)?;
        value = value
            .checked_mul(u64::from(radix))?
            .checked_add(u64::from(d))?;
    }
    Some(value)
}

/// `strconv.ParseInt(s, base, 64)`: an optional sign, then [`parse_uint`].
pub fn parse_int(s: &str, base: u32) -> Option<i64> {
    let (neg, magnitude) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let m = parse_uint(magnitude, base)?;
    if neg {
        if m <= 1u64 << 63 {
            Some((m as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(m).ok()
    }
}

/// `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `fmt.Sprint(float64)`: shortest digits that round-trip, `%e` form when the
/// decimal exponent is below -4 or at least 6 (Go's rule for `%v`).
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: "-1.25e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push(char::from(digits[0]));
        if digits.len() > 1 {
            out.push('.');
            out.extend(digits[1..].iter().map(|&d| char::from(d)));
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
        return out;
    }
    // Fixed notation: the decimal point sits after `exp + 1` digits.
    let point = exp + 1;
    let digit_at = |i: i32| -> char {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .map_or('0', |&d| char::from(d))
    };
    if point <= 0 {
        out.push('0');
    } else {
        (0..point).for_each(|i| out.push(digit_at(i)));
    }
    let len = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if len > point {
        out.push('.');
        (point..len).for_each(|i| out.push(digit_at(i)));
    }
    out
}

/// `%q` of a string, enough for error messages: quotes, backslashes and
/// control characters are escaped as Go does.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_follow_go_prefix_rules() {
        assert_eq!(parse_int("0777", 0), Some(511));
        assert_eq!(parse_int("0x1F", 0), Some(31));
        assert_eq!(parse_int("0o17", 0), Some(15));
        assert_eq!(parse_int("0b101", 0), Some(5));
        assert_eq!(parse_int("-0x10", 0), Some(-16));
        assert_eq!(parse_int("+12", 0), Some(12));
        assert_eq!(parse_int("0", 0), Some(0));
        assert_eq!(parse_int("08", 0), None);
        assert_eq!(parse_int("0x", 0), None);
        assert_eq!(parse_int("", 0), None);
        assert_eq!(parse_int("-9223372036854775808", 0), Some(i64::MIN));
        assert_eq!(parse_int("9223372036854775808", 0), None);
        assert_eq!(parse_uint("18446744073709551615", 0), Some(u64::MAX));
        assert_eq!(parse_int("0644", 8), Some(420));
        assert_eq!(parse_int("644", 8), Some(420));
        assert_eq!(parse_int("0x1", 8), None);
    }

    #[test]
    fn floats_print_like_go_percent_v() {
        assert_eq!(format_float(1.5), "1.5");
        assert_eq!(format_float(8.0), "8");
        assert_eq!(format_float(100000.0), "100000");
        assert_eq!(format_float(1e6), "1e+06");
        assert_eq!(format_float(1234567.0), "1.234567e+06");
        assert_eq!(format_float(2147483647.0), "2.147483647e+09");
        assert_eq!(format_float(0.0001), "0.0001");
        assert_eq!(format_float(0.00001), "1e-05");
        assert_eq!(format_float(-2.5e-7), "-2.5e-07");
        assert_eq!(format_float(0.0), "0");
        assert_eq!(format_float(1e21), "1e+21");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(quote("a\tb\"c\u{1}"), "\"a\\tb\\\"c\\x01\"");
    }
}

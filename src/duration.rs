//! Go `time.ParseDuration` syntax ("24h", "1h30m", "90s", "1.5h"), which is what
//! kube-apiserver accepts for `--service-account-max-token-expiration` and what aio-prep
//! accepts for its own timeouts.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

/// Parses a Go duration. Negative durations are rejected (none of ours may be negative).
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_string(),
        reason,
    };
    let mut rest = input;
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if rest.starts_with('-') {
        return Err(err("must not be negative"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(err("empty"));
    }
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(r) = rest.strip_prefix('.') {
            let frac_len = r.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &r[..frac_len];
            rest = &r[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err("expected a number"));
        }
        let unit_len = rest
            .bytes()
            .take_while(|b| !b.is_ascii_digit() && *b != b'.')
            .count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "" => return Err(err("missing unit (use h, m, s, ms, us or ns)")),
            _ => return Err(err("unknown unit (use h, m, s, ms, us or ns)")),
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| err("number too large"))?
        };
        let mut nanos = whole
            .checked_mul(unit_nanos)
            .ok_or_else(|| err("number too large"))?;
        if !frac_part.is_empty() {
            let digits = frac_part.len().min(30) as u32;
            let frac: u128 = frac_part[..digits as usize]
                .parse()
                .map_err(|_| err("number too large"))?;
            nanos += frac * unit_nanos / 10u128.pow(digits);
        }
        total_nanos = total_nanos
            .checked_add(nanos)
            .ok_or_else(|| err("number too large"))?;
        if total_nanos > i64::MAX as u128 {
            return Err(err("number too large"));
        }
    }
    Ok(Duration::from_nanos(total_nanos as u64))
}

/// The range kube-apiserver allows for `--service-account-max-token-expiration`.
pub fn check_max_token_expiration(input: &str) -> Result<Duration, DurationError> {
    let d = parse_go_duration(input)?;
    let low = Duration::from_secs(3600);
    let high = Duration::from_secs(1 << 32);
    if d < low || d > high {
        return Err(DurationError {
            input: input.to_string(),
            reason:
                "must be between 1h and 2^32 seconds (kube-apiserver refuses to start otherwise)",
        });
    }
    Ok(d)
}

/// Short human form for progress lines: "1.2s", "2m03s".
pub fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1.0 {
        format!("{} ms", d.as_millis())
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_forms() {
        assert_eq!(parse_go_duration("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration(".5s"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in [
            "", "24", "h", "1d", "-1h", "1h ", " 1h", "1.h.", "abc", "1e3s",
        ] {
            assert!(
                parse_go_duration(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert!(parse_go_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn token_expiration_range_is_kube_apiservers() {
        assert!(check_max_token_expiration("1h").is_ok());
        assert!(check_max_token_expiration("59m59s").is_err());
        assert!(check_max_token_expiration("4294967296s").is_ok());
        assert!(check_max_token_expiration("4294967297s").is_err());
        assert!(check_max_token_expiration("24h").is_ok());
    }
}

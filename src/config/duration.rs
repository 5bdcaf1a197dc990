//! Duration strings of the configuration: a number and a unit (`"500ms"`, `"2s"`, `"1.5m"`).

use std::time::Duration;

/// Parse `"<number><unit>"` where unit is one of `us`, `ms`, `s`, `m`, `h`, `d`.
/// Several parts may follow each other (`"1m30s"`). A bare number is refused: the
/// contract says durations always carry their unit, so `"30"` is a mistake, not 30 ms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration (expected e.g. \"500ms\", \"2s\", \"1m\")".into());
    }
    let mut rest = s;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!(
                "invalid duration {text:?}: expected a number before the unit"
            ));
        }
        let (num, after) = rest.split_at(num_len);
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: {num:?} is not a number"))?;
        let scale = match unit {
            "us" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "" if !after.is_empty() => {
                let c = after.chars().next().unwrap_or(' ');
                return Err(format!(
                    "invalid duration {text:?}: unexpected {c:?} (write e.g. \"2s\")"
                ));
            }
            "" => {
                return Err(format!(
                    "invalid duration {text:?}: missing unit (write e.g. \"{num}ms\" or \"{num}s\")"
                ))
            }
            other => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {other:?} (use us, ms, s, m, h or d)"
                ))
            }
        };
        let secs = value * scale;
        if !secs.is_finite() || secs > 100.0 * 365.0 * 86400.0 {
            return Err(format!("invalid duration {text:?}: too large"));
        }
        total += Duration::from_secs_f64(secs);
        rest = next;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
    }

    #[test]
    fn refusals_name_the_problem() {
        assert!(parse_duration("30").unwrap_err().contains("missing unit"));
        assert!(parse_duration("3parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_duration("3 s")
            .unwrap_err()
            .contains("unexpected ' '"));
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("ms")
            .unwrap_err()
            .contains("expected a number"));
        assert!(parse_duration("1..2s")
            .unwrap_err()
            .contains("not a number"));
        assert!(parse_duration("99999999999999d")
            .unwrap_err()
            .contains("too large"));
    }
}

//! The `grpc-timeout` header: at most eight ASCII digits and a unit
//! (`H` hours, `M` minutes, `S` seconds, `m` millis, `u` micros, `n` nanos).

use core::time::Duration;

const MAX_VALUE: u64 = 99_999_999;

/// Formats `timeout` into `out` (10 bytes suffice), returning the bytes
/// written. Uses the finest unit that fits in eight digits, rounding up so
/// the peer never sees a deadline earlier than ours.
pub fn encode(timeout: Duration, out: &mut [u8; 10]) -> usize {
    let nanos = timeout.as_nanos();
    let units: [(u128, u8); 6] = [
        (1, b'n'),
        (1_000, b'u'),
        (1_000_000, b'm'),
        (1_000_000_000, b'S'),
        (60_000_000_000, b'M'),
        (3_600_000_000_000, b'H'),
    ];
    let (mut value, mut unit) = (MAX_VALUE, b'H');
    for (scale, name) in units {
        let v = nanos.div_ceil(scale);
        if v <= u128::from(MAX_VALUE) {
            (value, unit) = (v as u64, name);
            break;
        }
    }
    let mut digits = [0u8; 8];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (value % 10) as u8;
        len += 1;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for i in 0..len {
        out[i] = digits[len - 1 - i];
    }
    out[len] = unit;
    len + 1
}

/// Parses a `grpc-timeout` value; `None` when it is malformed.
pub fn parse(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(d: Duration) -> std::string::String {
        let mut out = [0u8; 10];
        let n = encode(d, &mut out);
        std::string::String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn picks_the_finest_unit_that_fits() {
        assert_eq!(text(Duration::from_millis(1500)), "1500000u");
        assert_eq!(text(Duration::from_millis(15)), "15000000n");
        assert_eq!(text(Duration::from_secs(1)), "1000000u");
        assert_eq!(text(Duration::from_secs(100)), "100000m");
        assert_eq!(text(Duration::from_secs(200_000)), "200000S");
        assert_eq!(text(Duration::from_secs(100_000_000 * 60)), "1666667H");
        assert_eq!(text(Duration::ZERO), "0n");
        assert_eq!(text(Duration::MAX), "99999999H");
    }

    #[test]
    fn parses_every_unit_and_rejects_garbage() {
        assert_eq!(parse(b"1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse(b"2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse(b"3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse(b"4m"), Some(Duration::from_millis(4)));
        assert_eq!(parse(b"5u"), Some(Duration::from_micros(5)));
        assert_eq!(parse(b"99999999n"), Some(Duration::from_nanos(99_999_999)));
        for bad in [&b""[..], b"S", b"123456789S", b"1x", b"-1S", b"1.5S"] {
            assert_eq!(parse(bad), None, "{:?}", bad);
        }
        for d in [Duration::from_millis(1500), Duration::from_secs(7 * 3600)] {
            assert!(parse(text(d).as_bytes()).unwrap() >= d);
        }
    }
}

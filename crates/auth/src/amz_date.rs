//! The SigV4 basic ISO-8601 timestamp, `YYYYMMDD'T'HHMMSS'Z'` (always UTC).

use std::time::SystemTime;

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

const FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year][month][day]T[hour][minute][second]Z");

/// Parses an `X-Amz-Date` value; `None` when it is not exactly that format.
pub(crate) fn parse_amz_date(value: &str) -> Option<SystemTime> {
    // The format description accepts a signed or longer year; SigV4 dates are exactly 16 ASCII bytes.
    if value.len() != 16 || !value.is_ascii() {
        return None;
    }
    PrimitiveDateTime::parse(value, FORMAT).ok().map(|t| SystemTime::from(t.assume_utc()))
}

/// Formats a time the way `X-Amz-Date` carries it (sub-seconds dropped).
pub(crate) fn format_amz_date(t: SystemTime) -> String {
    // Formatting only fails for years outside 0..=9999, which no real clock reaches.
    OffsetDateTime::from(t).format(FORMAT).unwrap_or_else(|_| "?".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn round_trip() {
        let t = UNIX_EPOCH + Duration::from_secs(1_704_067_200); // 2024-01-01T00:00:00Z
        assert_eq!(format_amz_date(t), "20240101T000000Z");
        assert_eq!(parse_amz_date("20240101T000000Z"), Some(t));
        assert_eq!(parse_amz_date("2024-01-01T00:00:00Z"), None);
        assert_eq!(parse_amz_date("20240101T000000"), None);
        assert_eq!(parse_amz_date("20241301T000000Z"), None);
    }
}

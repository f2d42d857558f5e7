//! Unix time and the proleptic Gregorian calendar (UTC, no leap seconds):
//! what a battery-backed clock chip shows and what `-rtc base=` names.

/// A calendar date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

const SECONDS_PER_DAY: i64 = 86_400;
/// Days in a 400-year cycle of the Gregorian calendar.
const DAYS_PER_ERA: i64 = 146_097;
/// Days from 0000-03-01 to 1970-01-01: the calendar below counts years from
/// March so that the leap day is the last day of its year.
const EPOCH_SHIFT: i64 = 719_468;

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1..=12) of `year`.
pub fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date (month 1..=12, day 1..=31).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    // Shift the year to start in March: January and February belong to
    // the previous year, and the month index counts from March = 0.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month as i64 + 9) % 12;
    // Day of the March-based year: months alternate 31/30 days in a
    // pattern that (153 * m + 2) / 5 reproduces.
    let day_of_year = (153 * month_from_march + 2) / 5 + day as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - EPOCH_SHIFT
}

/// The date of a day number (days since 1970-01-01); inverse of
/// [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + EPOCH_SHIFT;
    let era = z.div_euclid(DAYS_PER_ERA);
    let day_of_era = z - era * DAYS_PER_ERA;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u8;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u8;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl DateTime {
    /// The calendar time of `secs` seconds since the Unix epoch.
    pub fn from_unix(secs: i64) -> DateTime {
        let days = secs.div_euclid(SECONDS_PER_DAY);
        let rem = secs.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        DateTime { year, month, day, hour: (rem / 3600) as u8, minute: (rem / 60 % 60) as u8, second: (rem % 60) as u8 }
    }

    /// Seconds since the Unix epoch, or `None` if a field is out of range.
    pub fn to_unix(&self) -> Option<i64> {
        let valid = (1..=12).contains(&self.month)
            && (1..=days_in_month(self.year, self.month)).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60;
        valid.then(|| {
            days_from_civil(self.year, self.month, self.day) * SECONDS_PER_DAY
                + self.hour as i64 * 3600
                + self.minute as i64 * 60
                + self.second as i64
        })
    }

    /// Day of the week, 0 = Sunday.
    pub fn weekday(&self) -> u8 {
        // 1970-01-01 was a Thursday (4).
        (days_from_civil(self.year, self.month, self.day) + 4).rem_euclid(7) as u8
    }

    /// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS` (QEMU's `-rtc base=`
    /// forms; the time of day defaults to midnight).
    pub fn parse(s: &str) -> Option<DateTime> {
        let (date, time) = match s.split_once('T') {
            Some((d, t)) => (d, Some(t)),
            None => (s, None),
        };
        let number = |part: &str, digits: usize| {
            (part.len() == digits && part.bytes().all(|b| b.is_ascii_digit())).then(|| part.parse::<i64>().ok())?
        };
        let mut d = date.split('-');
        let (year, month, day) = (number(d.next()?, 4)?, number(d.next()?, 2)?, number(d.next()?, 2)?);
        if d.next().is_some() {
            return None;
        }
        let (mut hour, mut minute, mut second) = (0, 0, 0);
        if let Some(t) = time {
            let mut t = t.split(':');
            (hour, minute, second) = (number(t.next()?, 2)?, number(t.next()?, 2)?, number(t.next()?, 2)?);
            if t.next().is_some() {
                return None;
            }
        }
        let dt = DateTime {
            year,
            month: u8::try_from(month).ok()?,
            day: u8::try_from(day).ok()?,
            hour: u8::try_from(hour).ok()?,
            minute: u8::try_from(minute).ok()?,
            second: u8::try_from(second).ok()?,
        };
        dt.to_unix().map(|_| dt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(year: i64, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> DateTime {
        DateTime { year, month, day, hour, minute, second }
    }

    #[test]
    fn known_instants() {
        assert_eq!(DateTime::from_unix(0), dt(1970, 1, 1, 0, 0, 0));
        // `date -u -d @1700000000`: Tue Nov 14 22:13:20 UTC 2023.
        assert_eq!(DateTime::from_unix(1_700_000_000), dt(2023, 11, 14, 22, 13, 20));
        assert_eq!(DateTime::from_unix(1_700_000_000).weekday(), 2);
        // A leap day and the turn of a century that is a leap year.
        assert_eq!(dt(2000, 2, 29, 0, 0, 0).to_unix(), Some(951_782_400));
        assert_eq!(DateTime::from_unix(951_782_400 + 86_400), dt(2000, 3, 1, 0, 0, 0));
        assert_eq!(DateTime::from_unix(-1), dt(1969, 12, 31, 23, 59, 59));
        assert_eq!(dt(1970, 1, 1, 0, 0, 0).weekday(), 4);
    }

    #[test]
    fn round_trips_across_four_centuries() {
        let mut secs = -2_208_988_800; // 1900-01-01
        while secs < 10_413_792_000 {
            // 2300-01-01
            let d = DateTime::from_unix(secs);
            assert_eq!(d.to_unix(), Some(secs), "{d:?}");
            secs += 86_400 * 13 + 3_607;
        }
    }

    #[test]
    fn invalid_fields_are_rejected() {
        assert_eq!(dt(2023, 2, 29, 0, 0, 0).to_unix(), None, "2023 is not a leap year");
        assert_eq!(dt(1900, 2, 29, 0, 0, 0).to_unix(), None, "1900 is not a leap year");
        assert_eq!(dt(2023, 13, 1, 0, 0, 0).to_unix(), None);
        assert_eq!(dt(2023, 0, 1, 0, 0, 0).to_unix(), None);
        assert_eq!(dt(2023, 4, 31, 0, 0, 0).to_unix(), None);
        assert_eq!(dt(2023, 4, 30, 24, 0, 0).to_unix(), None);
        assert_eq!(dt(2023, 4, 30, 0, 60, 0).to_unix(), None);
    }

    #[test]
    fn parses_qemu_rtc_base_dates() {
        assert_eq!(DateTime::parse("2006-06-17T16:01:21"), Some(dt(2006, 6, 17, 16, 1, 21)));
        assert_eq!(DateTime::parse("2006-06-17"), Some(dt(2006, 6, 17, 0, 0, 0)));
        for bad in ["2006-6-17", "2006-06-17T16:01", "2006-02-30", "2006-06-17T25:00:00", "x", "", "2006-06-17-01"] {
            assert_eq!(DateTime::parse(bad), None, "{bad}");
        }
    }
}

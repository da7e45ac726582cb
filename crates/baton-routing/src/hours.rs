//! Business hours: a weekly schedule in a time zone, with holidays. A queue without hours is
//! open around the clock.

use serde::Deserialize;
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// What a closed queue does with a handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AfterHours {
    /// Open a ticket carrying the context package and tell the customer when to expect an
    /// answer.
    #[default]
    Ticket,
    /// Keep the customer in the queue and tell them when it opens.
    Wait,
}

/// Open now, or closed until `opens_at` (`None`: no opening in the next two weeks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Openness {
    Open,
    Closed { opens_at: Option<OffsetDateTime> },
}

/// A queue's weekly hours, checked and ready to use.
#[derive(Debug, Clone)]
pub struct Schedule {
    zone: jiff::tz::TimeZone,
    zone_name: String,
    /// Monday first: the open minutes of each day, `[open, close)` since midnight.
    week: [Option<(u32, u32)>; 7],
    holidays: BTreeSet<jiff::civil::Date>,
    pub after_hours: AfterHours,
}

/// Why hours are not valid; the caller names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    #[error("`{0}` is not a time zone of the IANA database (for example Europe/Madrid)")]
    Zone(String),
    #[error("`{0}` is not a window of the day: write \"09:00-17:30\" (24:00 ends the day)")]
    Window(String),
    #[error("`{0}` is not a date: write YYYY-MM-DD")]
    Holiday(String),
}

fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

fn window(text: &str) -> Result<(u32, u32), HoursError> {
    let bad = || HoursError::Window(text.chars().take(40).collect());
    let (open, close) = text.split_once('-').ok_or_else(bad)?;
    let (open, close) = (minutes(open).ok_or_else(bad)?, minutes(close).ok_or_else(bad)?);
    if open >= close {
        return Err(bad());
    }
    Ok((open, close))
}

/// `at` as jiff sees it.
fn timestamp(at: OffsetDateTime) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos()).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

impl Schedule {
    /// A schedule from its zone, the window of each day (Monday first, `None` closed), its
    /// holidays and what happens out of hours.
    pub fn new(
        zone: &str,
        week: [Option<&str>; 7],
        holidays: &[String],
        after_hours: AfterHours,
    ) -> Result<Self, HoursError> {
        let tz = jiff::tz::TimeZone::get(zone).map_err(|_| HoursError::Zone(zone.chars().take(60).collect()))?;
        let mut days = [None; 7];
        for (day, text) in days.iter_mut().zip(week) {
            *day = text.map(window).transpose()?;
        }
        let holidays = holidays
            .iter()
            .map(|h| {
                h.parse::<jiff::civil::Date>()
                    .map_err(|_| HoursError::Holiday(h.chars().take(40).collect()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Schedule {
            zone: tz,
            zone_name: zone.to_owned(),
            week: days,
            holidays,
            after_hours,
        })
    }

    pub fn zone(&self) -> &str {
        &self.zone_name
    }

    fn window_on(&self, date: jiff::civil::Date) -> Option<(u32, u32)> {
        if self.holidays.contains(&date) {
            return None;
        }
        self.week[date.weekday().to_monday_zero_offset() as usize]
    }

    /// Whether the schedule is open at `now`, and if not, when it opens next.
    pub fn openness(&self, now: OffsetDateTime) -> Openness {
        let here = timestamp(now).to_zoned(self.zone.clone());
        let today = here.date();
        let minute = here.hour() as u32 * 60 + here.minute() as u32;
        if let Some((open, close)) = self.window_on(today) {
            if (open..close).contains(&minute) {
                return Openness::Open;
            }
        }
        let mut date = today;
        for offset in 0..15 {
            if let Some((open, _)) = self.window_on(date) {
                if offset > 0 || minute < open {
                    let civil = date.at((open / 60) as i8, (open % 60) as i8, 0, 0);
                    if let Ok(zoned) = civil.to_zoned(self.zone.clone()) {
                        let opens_at =
                            OffsetDateTime::from_unix_timestamp_nanos(zoned.timestamp().as_nanosecond()).ok();
                        return Openness::Closed { opens_at };
                    }
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        Openness::Closed { opens_at: None }
    }

    /// `at` as a local time in the schedule's zone, for telling the customer ("09:00").
    pub fn local_time(&self, at: OffsetDateTime) -> (jiff::civil::Date, String) {
        let here = timestamp(at).to_zoned(self.zone.clone());
        (here.date(), format!("{:02}:{:02}", here.hour(), here.minute()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn office() -> Schedule {
        let weekday = Some("09:00-17:00");
        Schedule::new(
            "Europe/Madrid",
            [weekday, weekday, weekday, weekday, weekday, None, None],
            &["2026-12-25".into()],
            AfterHours::Ticket,
        )
        .expect("valid hours")
    }

    #[test]
    fn open_inside_the_window_in_the_zone() {
        // 10:00 in Madrid (UTC+1 in winter) is 09:00 UTC, a Monday.
        assert_eq!(office().openness(datetime!(2026-11-30 09:00 UTC)), Openness::Open);
        assert_eq!(
            office().openness(datetime!(2026-11-30 07:30 UTC)),
            Openness::Closed {
                opens_at: Some(datetime!(2026-11-30 08:00 UTC))
            },
            "08:30 local: opens at 09:00 local"
        );
    }

    #[test]
    fn evenings_weekends_and_holidays_open_on_the_next_working_morning() {
        // Friday 18:00 local → Monday 09:00 local.
        assert_eq!(
            office().openness(datetime!(2026-12-04 17:00 UTC)),
            Openness::Closed {
                opens_at: Some(datetime!(2026-12-07 08:00 UTC))
            }
        );
        // Christmas (a Friday) is closed all day: the next opening is Monday the 28th.
        assert_eq!(
            office().openness(datetime!(2026-12-25 10:00 UTC)),
            Openness::Closed {
                opens_at: Some(datetime!(2026-12-28 08:00 UTC))
            }
        );
    }

    #[test]
    fn summer_time_moves_the_opening_in_utc() {
        // 1 July: Madrid is UTC+2, so 09:00 local is 07:00 UTC.
        assert_eq!(office().openness(datetime!(2026-07-01 07:00 UTC)), Openness::Open);
        assert!(matches!(
            office().openness(datetime!(2026-07-01 06:59 UTC)),
            Openness::Closed { .. }
        ));
    }

    #[test]
    fn bad_entries_are_named() {
        let all = [Some("09:00-17:00"); 7];
        assert_eq!(
            Schedule::new("Mars/Olympus", all, &[], AfterHours::Ticket).err(),
            Some(HoursError::Zone("Mars/Olympus".into()))
        );
        for bad in ["9-17", "17:00-09:00", "09:00-25:00", "09:60-10:00", "09:00"] {
            let mut week = all;
            week[0] = Some(bad);
            assert_eq!(
                Schedule::new("UTC", week, &[], AfterHours::Ticket).err(),
                Some(HoursError::Window(bad.into())),
                "{bad}"
            );
        }
        assert!(matches!(
            Schedule::new("UTC", all, &["25/12".into()], AfterHours::Ticket),
            Err(HoursError::Holiday(_))
        ));
        let whole_day = Schedule::new("UTC", [Some("00:00-24:00"); 7], &[], AfterHours::Wait).expect("whole day");
        assert_eq!(whole_day.openness(datetime!(2026-11-30 23:59 UTC)), Openness::Open);
    }
}

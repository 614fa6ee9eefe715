package config

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule says when something recurring is next due.
type Schedule interface {
	Next(after time.Time) time.Time
}

type every time.Duration

// Next is the first multiple of the interval (since the Unix epoch) after t,
// so that restarts do not shift the schedule.
func (e every) Next(t time.Time) time.Time {
	d := time.Duration(e)
	return t.Truncate(d).Add(d)
}

// ParseSchedule reads an interval ("1h", at least a minute) or a
// five-field cron expression ("0 8 * * *").
func ParseSchedule(s string) (Schedule, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < time.Minute {
			return nil, fmt.Errorf("schedule %q: an interval must be at least 1m", s)
		}
		return every(d), nil
	}
	sch, err := cron.ParseStandard(s)
	if err != nil {
		return nil, fmt.Errorf("schedule %q is neither an interval (1h) nor a cron expression (0 8 * * *): %v", s, err)
	}
	return sch, nil
}

// QuietHours is a daily window of local time, e.g. 22:00-07:00.
type QuietHours struct{ start, end int } // minutes after midnight

// ParseQuietHours reads "HH:MM-HH:MM" (the window may span midnight).
func ParseQuietHours(s string) (QuietHours, error) {
	var h1, m1, h2, m2 int
	if n, err := fmt.Sscanf(s, "%d:%d-%d:%d", &h1, &m1, &h2, &m2); err != nil || n != 4 ||
		h1 < 0 || h1 > 23 || h2 < 0 || h2 > 23 || m1 < 0 || m1 > 59 || m2 < 0 || m2 > 59 || (h1 == h2 && m1 == m2) {
		return QuietHours{}, fmt.Errorf("quiet hours %q: want HH:MM-HH:MM, e.g. 22:00-07:00", s)
	}
	return QuietHours{h1*60 + m1, h2*60 + m2}, nil
}

func minuteOfDay(t time.Time) int { return t.Hour()*60 + t.Minute() }

// Contains reports whether t (in its own location) falls in the window.
func (q QuietHours) Contains(t time.Time) bool {
	m := minuteOfDay(t)
	if q.start < q.end {
		return m >= q.start && m < q.end
	}
	return m >= q.start || m < q.end
}

// End is the first end of the window after t.
func (q QuietHours) End(t time.Time) time.Time {
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	end := day.Add(time.Duration(q.end) * time.Minute)
	if !end.After(t) {
		end = day.AddDate(0, 0, 1).Add(time.Duration(q.end) * time.Minute)
	}
	return end
}

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

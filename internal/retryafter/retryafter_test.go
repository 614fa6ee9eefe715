package retryafter

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const long = 1e9 * time.Second // the notifier's limit
	cases := []struct {
		in    string
		limit time.Duration
		want  time.Duration
		ok    bool
	}{
		{"0", long, 0, true},
		{" 30 ", long, 30 * time.Second, true},
		{"1.5", long, 1500 * time.Millisecond, true},
		{"Thu, 01 Jan 2026 00:02:00 GMT", long, 2 * time.Minute, true},
		{"Wed, 31 Dec 2025 23:00:00 GMT", long, 0, true}, // in the past: now
		{"-5", long, 0, false},
		{"NaN", long, 0, false},
		{"", long, 0, false},
		{"tomorrow", long, 0, false},
		{"99999999999999999999", long, 1e9 * time.Second, true},
		// The fetcher's limit: a day, in seconds or as a date.
		{"120", 24 * time.Hour, 120 * time.Second, true},
		{"99999999", 24 * time.Hour, 24 * time.Hour, true},
		{"Sat, 10 Jan 2026 00:00:00 GMT", 24 * time.Hour, 24 * time.Hour, true},
	}
	for _, tc := range cases {
		got, ok := Parse(tc.in, now, tc.limit)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Parse(%q, %s) = %s, %v; want %s, %v", tc.in, tc.limit, got, ok, tc.want, tc.ok)
		}
	}
}

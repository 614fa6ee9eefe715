package config

import "testing"

func TestDurationHint(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"1 minute", "1m"},
		{"7d", "168h"},
		{"2 weeks", "336h"},
		{"90 secs", "90s"},
		{"soon", ""},
		// Past what a duration holds (about 106,751 days): no hint
		// that would be refused in turn.
		{"4000000000d", ""},
		{"200000 days", ""},
	} {
		if got := durationHint(tt.in); got != tt.want {
			t.Errorf("durationHint(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

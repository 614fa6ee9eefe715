package config

import "testing"

func TestReservedWebPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/", true}, {"", true}, {"/api", true}, {"/api/", true}, {"/api/sources", true},
		{"/-/reload", true}, {"/-", true}, {"/metrics", true}, {"/healthz/", true}, {"/readyz", true},
		{"/websub/", false}, {"/apiary", false}, {"/metrics/x", false}, {"/-x", false},
	} {
		if got := ReservedWebPath(tc.path); got != tc.want {
			t.Errorf("ReservedWebPath(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

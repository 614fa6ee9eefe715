package httpc

import (
	"net/netip"
	"testing"
	"time"
)

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestPublicAddr(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", true}, {"2606:4700::1111", true},
		{"127.0.0.1", false}, {"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"100.64.0.1", false}, {"0.0.0.0", false}, {"::1", false},
		{"fe80::1", false}, {"fd00::1", false}, {"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false}, {"224.0.0.1", false},
	}
	for _, tt := range tests {
		if got := publicAddr(mustAddr(t, tt.addr)); got != tt.want {
			t.Errorf("publicAddr(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	iv := 10 * time.Minute
	prevMax := time.Duration(0)
	for n := 1; n <= 20; n++ {
		d := Backoff(n, iv)
		ideal := min(iv<<min(n-1, 30), MaxBackoff)
		if d > ideal || d < ideal*3/4 {
			t.Errorf("Backoff(%d) = %s, want in [%s, %s]", n, d, ideal*3/4, ideal)
		}
		prevMax = max(prevMax, d)
	}
	if prevMax > MaxBackoff || Backoff(1000, iv) <= 0 {
		t.Errorf("not capped or disabled: %s", prevMax)
	}
	if d := Backoff(3, 24*time.Hour); d > 24*time.Hour || d < 18*time.Hour {
		t.Errorf("long interval: %s", d)
	}
	seen := map[time.Duration]bool{}
	for i := 0; i < 20; i++ {
		seen[Backoff(5, iv)] = true
	}
	if len(seen) < 2 {
		t.Error("no jitter")
	}
}

// Package retryafter reads the HTTP Retry-After header, for the fetcher
// (a source's server asks it to wait) and the notifier (a receiver asks
// it to wait), which differ only in how long a wait they accept.
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Parse reads a Retry-After value as delay-seconds or an HTTP date
// (RFC 9110 10.2.3). Fractional seconds are accepted, as some chat
// services send them. The delay is clamped to [0, limit], so that a
// hostile server cannot park its caller forever; a date in the past is
// no delay. ok is false when v is empty, negative or neither form.
func Parse(v string, now time.Time, limit time.Duration) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || secs != secs { // negative or NaN
			return 0, false
		}
		// Clamp in seconds first: a huge value would overflow a Duration.
		secs = min(secs, limit.Seconds())
		return min(time.Duration(secs*float64(time.Second)), limit), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), limit), true
}

package httpc

import (
	"math/rand/v2"
	"time"
)

// MaxBackoff caps the delay between retries of a failing source whose
// interval is shorter; a source with a longer interval is retried at its
// interval. A failing source is never disabled: it keeps being tried.
const MaxBackoff = 6 * time.Hour

// Backoff is the delay before retrying a source after n consecutive
// failures: the source's interval doubled for each failure after the
// first, capped at max(interval, MaxBackoff), minus up to a quarter of
// random jitter so that sources that failed together (a network outage)
// do not all come back at the same moment. n <= 0 yields the interval.
func Backoff(n int, interval time.Duration) time.Duration {
	if interval <= 0 {
		interval = time.Minute
	}
	limit := max(interval, MaxBackoff)
	d := interval
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d - rand.N(d/4+1)
}

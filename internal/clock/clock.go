// Package clock holds the one context-aware sleep every loop uses.
package clock

import (
	"context"
	"time"
)

// Sleep waits for d or until ctx ends, whichever comes first. It reports
// whether the whole of d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

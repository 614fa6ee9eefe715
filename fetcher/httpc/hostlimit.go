package httpc

import (
	"context"
	"sync"
	"time"
)

// hostLimiter keeps the fetcher polite to each host: at most perHost
// requests in flight, and request starts at least interval apart. It is
// in-process; replicas each keep their own.
type hostLimiter struct {
	perHost  int
	interval time.Duration

	mu    sync.Mutex
	hosts map[string]*hostSlot
}

type hostSlot struct {
	sem  chan struct{}
	next time.Time // earliest start of the next request
	refs int       // holders and waiters; the slot is dropped at zero
}

func newHostLimiter(perHost int, interval time.Duration) *hostLimiter {
	return &hostLimiter{perHost: perHost, interval: interval, hosts: map[string]*hostSlot{}}
}

// sweepAt is the map size at which idle hosts whose interval has passed
// are dropped, so that following links to many hosts does not grow it
// without bound.
const sweepAt = 1024

func (l *hostLimiter) sweep() {
	now := time.Now()
	for h, s := range l.hosts {
		if s.refs == 0 && !now.Before(s.next) {
			delete(l.hosts, h)
		}
	}
}

// acquire waits for a turn at host and returns the function that ends it.
func (l *hostLimiter) acquire(ctx context.Context, host string) (release func(), err error) {
	l.mu.Lock()
	s := l.hosts[host]
	if s == nil {
		if len(l.hosts) >= sweepAt {
			l.sweep()
		}
		s = &hostSlot{sem: make(chan struct{}, l.perHost)}
		l.hosts[host] = s
	}
	s.refs++
	l.mu.Unlock()

	done := func() {
		l.mu.Lock()
		s.refs--
		if s.refs == 0 && !time.Now().Before(s.next) {
			delete(l.hosts, host)
		}
		l.mu.Unlock()
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
	release = func() { <-s.sem; done() }

	if l.interval > 0 {
		// Reserve the next start time, then wait for it outside the lock.
		l.mu.Lock()
		now := time.Now()
		start := now
		if s.next.After(now) {
			start = s.next
		}
		s.next = start.Add(l.interval)
		l.mu.Unlock()
		if wait := start.Sub(now); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				release()
				return nil, ctx.Err()
			}
		}
	}
	return release, nil
}

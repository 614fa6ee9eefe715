package main

import (
	"fmt"
	"sync"
	"time"

	"newswatch/web"
)

// rejectedReload remembers the last reload that was rejected (the old
// config keeps running) until one is put in force, for /readyz, the
// status page and GET /api/problems: whoever sent the SIGHUP sees no
// answer, and an edit that never took effect must not go unnoticed until
// the next restart fails on it.
type rejectedReload struct {
	path string

	mu    sync.Mutex
	err   error
	since time.Time // the first rejection since the config in force was loaded
	last  time.Time
	count int64
}

// record notes a reload's outcome: err nil, the config was put in force.
func (r *rejectedReload) record(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.err, r.count = nil, 0
		return
	}
	now := time.Now().UTC()
	if r.err == nil {
		r.since = now
	}
	r.err, r.last = err, now
	r.count++
}

// faults is the rejection as a warning (never blocking: the config in
// force works), or none.
func (r *rejectedReload) faults() []web.Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		return nil
	}
	return []web.Fault{{
		Key:    configRejectedKind,
		Kind:   configRejectedKind,
		Detail: fmt.Sprintf("the last reload of %s was rejected, and the config loaded before it keeps running: %v; fix it (newswatch check -config %s prints every problem with its line) and reload again", r.path, r.err, r.path),
		Since:  r.since, Last: r.last, Count: r.count,
	}}
}

const configRejectedKind = "config.rejected"

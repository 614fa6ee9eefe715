package bus

import "sync"

// LocalKeys is an in-process lock and the last known entry per key of a
// bucket that only this process can write (Exclusive): a key locked here
// is held against every other writer there is, and an entry remembered
// here is the bucket's own unless something in this process wrote past
// it. Writes still go to the bucket at the remembered revision, so an
// entry that went stale shows as a conflict, never as an overwrite.
type LocalKeys struct {
	mu   sync.Mutex
	busy map[string]bool
	last map[string]Entry
}

func newLocalKeys() *LocalKeys {
	return &LocalKeys{busy: map[string]bool{}, last: map[string]Entry{}}
}

// TryLock locks key, or reports false when it is locked already.
func (l *LocalKeys) TryLock(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy[key] {
		return false
	}
	l.busy[key] = true
	return true
}

// Unlock unlocks key.
func (l *LocalKeys) Unlock(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.busy, key)
}

// Last is the last entry remembered for key (Deleted: the key has no
// value at that revision); false when none is.
func (l *LocalKeys) Last(key string) (Entry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.last[key]
	return e, ok
}

// Remember keeps e as its key's last entry, unless a later revision is
// remembered already (a watch delivers an entry after its writer
// remembered it).
func (l *LocalKeys) Remember(e Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.last[e.Key]; ok && old.Revision >= e.Revision {
		return
	}
	l.last[e.Key] = e
}

// Forget drops what is remembered of key: its next reader reads the
// bucket.
func (l *LocalKeys) Forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.last, key)
}

// StateLocal is the in-process lock and last state entry per source,
// for a bus that alone can reach its store (Exclusive); nil otherwise,
// where other processes write the state bucket too.
func (b *Bus) StateLocal() *LocalKeys { return b.stateLocal }

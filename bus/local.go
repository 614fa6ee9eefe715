package bus

import "sync"

// LocalKeys is an in-process lock and a value kept per key of a bucket
// that only this process can write (Exclusive): a key locked here is
// held against every other writer there is, and what the process keeps
// of a key's entry here it need not read back. Its owner decides what it
// keeps (bus does not look into the values); writes still go to the
// bucket at a revision, so a kept value gone stale shows as a conflict,
// never as an overwrite.
type LocalKeys struct {
	mu   sync.Mutex
	busy map[string]bool
	kept map[string]any
}

func newLocalKeys() *LocalKeys {
	return &LocalKeys{busy: map[string]bool{}, kept: map[string]any{}}
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

// Kept is the value kept for key; nil when none is.
func (l *LocalKeys) Kept(key string) any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.kept[key]
}

// Keep replaces the value kept for key by f's answer (nil: none), given
// the one kept now (nil: none); f runs under the lock of l and must not
// call l.
func (l *LocalKeys) Keep(key string, f func(old any) any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v := f(l.kept[key]); v != nil {
		l.kept[key] = v
	} else {
		delete(l.kept, key)
	}
}

// Range calls f for each key with a value kept, outside the lock of l.
func (l *LocalKeys) Range(f func(key string, v any)) {
	l.mu.Lock()
	kept := make(map[string]any, len(l.kept))
	for k, v := range l.kept {
		kept[k] = v
	}
	l.mu.Unlock()
	for k, v := range kept {
		f(k, v)
	}
}

// StateLocal is the in-process lock and kept state per source, for a
// bus that alone can reach its store (Exclusive); nil otherwise, where
// other processes write the state bucket too.
func (b *Bus) StateLocal() *LocalKeys { return b.stateLocal }

package bus

import (
	"sync"
	"testing"
)

func TestLocalKeys(t *testing.T) {
	l := newLocalKeys()
	if !l.TryLock("a") || l.TryLock("a") {
		t.Fatal("a second TryLock of a locked key succeeded, or the first failed")
	}
	if !l.TryLock("b") {
		t.Error("a lock on one key held another")
	}
	l.Unlock("a")
	if !l.TryLock("a") {
		t.Error("TryLock after Unlock failed")
	}
	for _, tc := range []struct {
		name string
		keep any
		want any
	}{
		{"kept", 1, 1},
		{"replaced", 2, 2},
		{"dropped", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.Keep("a", func(any) any { return tc.keep })
			if got := l.Kept("a"); got != tc.want {
				t.Errorf("Kept = %v, want %v", got, tc.want)
			}
		})
	}
	// Keep sees what is kept, under one lock for concurrent callers.
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			l.Keep("n", func(old any) any {
				n, _ := old.(int)
				return n + 1
			})
		})
	}
	wg.Wait()
	seen := map[string]any{}
	l.Range(func(k string, v any) { seen[k] = v })
	if seen["n"] != 50 || len(seen) != 1 {
		t.Errorf("Range saw %v, want n: 50 alone", seen)
	}
}

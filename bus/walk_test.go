package bus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

func TestWalk(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := Open(ctx, testConfig(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stream := b.Names.AlertStream

	collect := func(t *testing.T, walk func(fn func(*StoredMsg) bool) error, stopAfter int) []string {
		t.Helper()
		var got []string
		start := time.Now()
		err := walk(func(m *StoredMsg) bool {
			got = append(got, string(m.Data))
			return stopAfter == 0 || len(got) < stopAfter
		})
		if err != nil {
			t.Fatal(err)
		}
		// The end is known without waiting for a fetch to expire.
		if d := time.Since(start); d > walkFetchWait {
			t.Errorf("walk took %v", d)
		}
		return got
	}

	// An empty stream is a walk over nothing, in both directions.
	if got := collect(t, func(fn func(*StoredMsg) bool) error { return b.Walk(ctx, stream, "", 0, fn) }, 0); len(got) != 0 {
		t.Fatalf("empty stream: %v", got)
	}
	if got := collect(t, func(fn func(*StoredMsg) bool) error { return b.WalkBack(ctx, stream, "", 0, 0, fn) }, 0); len(got) != 0 {
		t.Fatalf("empty stream backwards: %v", got)
	}

	// Sequences 1..6 alternate between topics a and b; 7 is on c.
	for i := 1; i <= 6; i++ {
		topic := []string{"a", "b"}[i%2]
		if _, err := b.JS.Publish(ctx, b.Names.AlertSubject(topic), fmt.Appendf(nil, "%s%d", topic, i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.JS.Publish(ctx, b.Names.AlertSubject("c"), []byte("c7")); err != nil {
		t.Fatal(err)
	}
	a, all := b.Names.AlertSubject("a"), b.Names.AlertSubject(">")

	for _, tc := range []struct {
		name      string
		walk      func(fn func(*StoredMsg) bool) error
		stopAfter int
		want      []string
	}{
		{"all", func(fn func(*StoredMsg) bool) error { return b.Walk(ctx, stream, "", 0, fn) }, 0,
			[]string{"b1", "a2", "b3", "a4", "b5", "a6", "c7"}},
		{"wildcard", func(fn func(*StoredMsg) bool) error { return b.Walk(ctx, stream, all, 0, fn) }, 0,
			[]string{"b1", "a2", "b3", "a4", "b5", "a6", "c7"}},
		{"subject", func(fn func(*StoredMsg) bool) error { return b.Walk(ctx, stream, a, 0, fn) }, 0,
			[]string{"a2", "a4", "a6"}},
		{"no such subject", func(fn func(*StoredMsg) bool) error { return b.Walk(ctx, stream, b.Names.AlertSubject("z"), 0, fn) }, 0,
			nil},
		{"from a sequence", func(fn func(*StoredMsg) bool) error { return b.Walk(ctx, stream, "", 5, fn) }, 0,
			[]string{"b5", "a6", "c7"}},
		{"subject from a sequence", func(fn func(*StoredMsg) bool) error { return b.Walk(ctx, stream, a, 3, fn) }, 0,
			[]string{"a4", "a6"}},
		{"from past the end", func(fn func(*StoredMsg) bool) error { return b.Walk(ctx, stream, "", 8, fn) }, 0,
			nil},
		{"stop early", func(fn func(*StoredMsg) bool) error { return b.Walk(ctx, stream, "", 0, fn) }, 2,
			[]string{"b1", "a2"}},
		{"since", func(fn func(*StoredMsg) bool) error { return b.WalkSince(ctx, stream, a, time.Time{}, fn) }, 0,
			[]string{"a2", "a4", "a6"}},
		{"since the future", func(fn func(*StoredMsg) bool) error {
			return b.WalkSince(ctx, stream, "", time.Now().Add(time.Hour), fn)
		}, 0, nil},
		{"back", func(fn func(*StoredMsg) bool) error { return b.WalkBack(ctx, stream, "", 0, 0, fn) }, 0,
			[]string{"c7", "a6", "b5", "a4", "b3", "a2", "b1"}},
		{"back on a subject before a sequence", func(fn func(*StoredMsg) bool) error { return b.WalkBack(ctx, stream, a, 6, 0, fn) }, 0,
			[]string{"a4", "a2"}},
		{"back at most 3 read", func(fn func(*StoredMsg) bool) error { return b.WalkBack(ctx, stream, a, 0, 3, fn) }, 0,
			[]string{"a6"}},
		{"back stop early", func(fn func(*StoredMsg) bool) error { return b.WalkBack(ctx, stream, "", 0, 0, fn) }, 1,
			[]string{"c7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := collect(t, tc.walk, tc.stopAfter); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	// Messages carry their sequence, subject and time.
	var first *StoredMsg
	if err := b.Walk(ctx, stream, a, 0, func(m *StoredMsg) bool { first = m; return false }); err != nil {
		t.Fatal(err)
	}
	if first == nil || first.Seq != 2 || first.Subject != a || first.Time.IsZero() {
		t.Errorf("first message on a: %+v", first)
	}

	// A walk stops with ctx.
	cctx, ccancel := context.WithCancel(ctx)
	n := 0
	err = b.Walk(cctx, stream, "", 0, func(*StoredMsg) bool { n++; ccancel(); return true })
	if err == nil || n == 0 {
		t.Errorf("cancelled walk: err %v after %d messages", err, n)
	}
}

func TestSubjectMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, subject string
		want             bool
	}{
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{"a.*", "a.b", true},
		{"a.*", "a.b.c", false},
		{"a.>", "a.b.c", true},
		{"a.>", "a", false},
		{"a.b.c", "a.b", false},
	} {
		if got := SubjectMatches(tc.pattern, tc.subject); got != tc.want {
			t.Errorf("SubjectMatches(%q, %q) = %v", tc.pattern, tc.subject, got)
		}
	}
}

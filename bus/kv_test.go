package bus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

func openTestBus(t *testing.T) (context.Context, *Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	b, err := Open(ctx, testConfig(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return ctx, b
}

// The KV seam's compare-and-set contract: one Create wins, an Update at a
// stale revision loses, and both losses read as bus errors.
func TestKVCompareAndSet(t *testing.T) {
	ctx, b := openTestBus(t)
	kv := b.StoreKV()

	if _, err := kv.Get(ctx, "k"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Get of a missing key: err = %v, want ErrKeyNotFound", err)
	}
	rev, err := kv.Create(ctx, "k", []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "k", []byte("two")); !errors.Is(err, ErrKeyExists) || !Conflict(err) {
		t.Errorf("second Create: err = %v, want ErrKeyExists and a conflict", err)
	}
	rev2, err := kv.Update(ctx, "k", []byte("two"), rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, "k", []byte("three"), rev); !errors.Is(err, ErrRevisionMismatch) || !Conflict(err) {
		t.Errorf("Update at a stale revision: err = %v, want ErrRevisionMismatch and a conflict", err)
	}
	e, err := kv.Get(ctx, "k")
	if err != nil || string(e.Value) != "two" || e.Revision != rev2 || e.Key != "k" {
		t.Errorf("Get = %+v, %v; want two at revision %d", e, err, rev2)
	}
	if err := kv.DeleteAt(ctx, "k", rev); !Conflict(err) {
		t.Errorf("DeleteAt a stale revision: err = %v, want a conflict", err)
	}
	if err := kv.DeleteAt(ctx, "k", rev2); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "k"); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("Get after DeleteAt: err = %v, want ErrKeyNotFound", err)
	}
	// A deleted key can be created again.
	if _, err := kv.Create(ctx, "k", []byte("again")); err != nil {
		t.Errorf("Create after delete: %v", err)
	}
	if Conflict(nil) || Conflict(errors.New("other")) {
		t.Error("Conflict of nil or an unrelated error")
	}
}

func TestKVValuesAndWatch(t *testing.T) {
	ctx, b := openTestBus(t)
	kv := b.StateKV()
	for _, k := range []string{"a", "b", "c"} {
		if _, err := kv.Put(ctx, k, []byte(k+"1")); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	es, err := kv.Values(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range es {
		got[e.Key] = string(e.Value)
	}
	if len(got) != 2 || got["a"] != "a1" || got["b"] != "b1" {
		t.Errorf("Values = %v, want a and b (c deleted)", got)
	}
	if es, err := b.FeedbackKV().Values(ctx); err != nil || len(es) != 0 {
		t.Errorf("Values of an empty bucket = %v, %v", es, err)
	}

	w, err := kv.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := func() *Entry {
		t.Helper()
		select {
		case e, ok := <-w.Updates():
			if !ok {
				t.Fatal("watch closed")
			}
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no update within 10s")
		}
		return nil
	}
	initial := map[string]bool{}
	for e := next(); e != nil; e = next() {
		initial[e.Key] = e.Deleted
	}
	if len(initial) < 2 || initial["a"] || initial["b"] {
		t.Errorf("initial values = %v, want a and b as puts", initial)
	}
	if _, err := kv.Put(ctx, "a", []byte("a2")); err != nil {
		t.Fatal(err)
	}
	if e := next(); e == nil || e.Key != "a" || string(e.Value) != "a2" || e.Deleted {
		t.Errorf("update = %+v, want a = a2", e)
	}
	if err := kv.Purge(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if e := next(); e == nil || e.Key != "b" || !e.Deleted {
		t.Errorf("update = %+v, want b deleted", e)
	}
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	// The watch ends: its channel closes.
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-w.Updates():
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("updates not closed 10s after Stop")
		}
	}
}

func TestMissingBucketIsNilKV(t *testing.T) {
	b := &Bus{}
	if b.FeedbackKV() != nil || b.TrendsKV() != nil {
		t.Error("a bus without the bucket must give a nil KV, not a KV holding nil")
	}
}

package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/news"
)

// An event the store refuses stays queued and is published, once, when
// the store takes writes again; beyond EventQueue the oldest is dropped.
func TestEventsWaitForTheStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Open(ctx, testConfig(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := b.JS.Stream(ctx, b.Names.AlertStream)
	if err != nil {
		t.Fatal(err)
	}
	healthy := s.CachedInfo().Config
	// A full store: the stream refuses new messages.
	full := healthy
	full.MaxMsgs, full.Discard = 1, jetstream.DiscardNew
	if _, err := b.JS.UpdateStream(ctx, full); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JS.Publish(ctx, b.Names.AlertSubject("t"), []byte("{}")); err != nil {
		t.Fatal(err)
	}

	e := NewEvents(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	e.Emit(news.Event{ID: "store.error:store.write:1", Event: "store.error", Summary: "store error: disk full"})
	if err := e.Flush(ctx); err == nil {
		t.Fatal("Flush into a full stream succeeded")
	}
	if e.Pending() != 1 {
		t.Fatalf("pending %d after a refused publish, want 1", e.Pending())
	}

	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { e.Run(rctx); close(done) }()
	defer func() { stop(); <-done }()
	if _, err := b.JS.UpdateStream(ctx, healthy); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.Pending() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("event not published after the store recovered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	msg, err := s.GetLastMsgForSubject(ctx, b.Names.EventSubject("store.error"))
	if err != nil {
		t.Fatal(err)
	}
	var ev news.Event
	if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.Summary != "store error: disk full" || ev.V != news.Version || ev.At.IsZero() {
		t.Errorf("stored event %s (%v)", msg.Data, err)
	}
}

func TestEventQueueIsBounded(t *testing.T) {
	e := NewEvents(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for i := range EventQueue + 3 {
		e.Emit(news.Event{ID: fmt.Sprint(i), Event: "heartbeat"})
	}
	if e.Pending() != EventQueue || e.Dropped() != 3 {
		t.Errorf("pending %d, dropped %d; want %d, 3", e.Pending(), e.Dropped(), EventQueue)
	}
	if e.queue[0].ID != "3" {
		t.Errorf("oldest kept is %s, want 3: the oldest go first", e.queue[0].ID)
	}
}

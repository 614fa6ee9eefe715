package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/news"
	"newswatch/notifier"
)

// A replay whose client goes away while a dead letter is being delivered
// still finishes it: the receiver has the alert, so the dead letter is
// removed, not left for the next replay to deliver a second time.
func TestReplayRouteFinishesWhenClientGoes(t *testing.T) {
	reqCtx, leave := context.WithCancel(context.Background())
	defer leave()
	var got atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		got.Add(1)
		leave() // the replay's client goes away while the receiver answers
		select {
		case <-r.Context().Done(): // the delivery was abandoned
		case <-time.After(500 * time.Millisecond):
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	yaml := fmt.Sprintf(`data_dir: %s
topics:
  - id: fentanyl
    query: fentanyl
subscribers:
  - id: desk
    type: webhook
    url: %s/hooks
    secret: %s
`, filepath.Join(dir, "data"), rcv.URL, secret)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dl := notifier.DeadLetter{V: news.Version, Subscriber: "desk", Reason: "final: 400",
		Alert: news.Alert{ID: "a1", Topic: "fentanyl"}, DeadAt: time.Now().UTC()}
	data, _ := json.Marshal(dl)
	if err := b.PublishDeadLetter(ctx, "desk", "desk:a1:1", data); err != nil {
		t.Fatal(err)
	}
	subs := notifier.NewSubscribers(nil, nil, nil)
	defer subs.Close()
	h := replayRoutes(b, subs, func() *config.Config { return cfg }, discardLogger())["POST /-/deadletters/replay"]
	req := httptest.NewRequestWithContext(reqCtx, "POST", "/-/deadletters/replay", strings.NewReader(""))
	h.ServeHTTP(httptest.NewRecorder(), req)

	if got.Load() != 1 {
		t.Fatalf("receiver got %d deliveries, want 1", got.Load())
	}
	left, err := deadLetters(ctx, b, "desk")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("the delivered dead letter is kept (%d left): the next replay delivers it again", len(left))
	}
}

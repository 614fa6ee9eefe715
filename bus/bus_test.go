package bus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/config"
	"newswatch/internal/logtest"
)

func testConfig(t testing.TB) *config.Config {
	cfg := &config.Config{DataDir: t.TempDir()}
	cfg.ApplyDefaults()
	return cfg
}

func TestOpenCreatesStreamsAndLocksDataDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := testConfig(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"NEWSWATCH_FETCH", "NEWSWATCH_ARTICLES", "NEWSWATCH_ALERTS", "NEWSWATCH_DEAD"} {
		if _, err := b.JS.Stream(ctx, name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
	// Fetch jobs keep their ids a few minutes (FetchJobWindow), the
	// archive and the alerts for nats.dedup_window.
	s, _ := b.JS.Stream(ctx, "NEWSWATCH_FETCH")
	if info := s.CachedInfo(); info.Config.Retention != jetstream.WorkQueuePolicy || info.Config.Duplicates != FetchJobWindow {
		t.Errorf("fetch stream config = %+v", info.Config)
	}
	for _, name := range []string{"NEWSWATCH_ARTICLES", "NEWSWATCH_ALERTS"} {
		if s, _ := b.JS.Stream(ctx, name); s.CachedInfo().Config.Duplicates != 24*time.Hour {
			t.Errorf("%s keeps ids %s, want 24h", name, s.CachedInfo().Config.Duplicates)
		}
	}
	// A store made when fetch jobs kept theirs for the whole window.
	fetchCfg := s.CachedInfo().Config
	fetchCfg.Duplicates = 24 * time.Hour
	if _, err := b.JS.UpdateStream(ctx, fetchCfg); err != nil {
		t.Fatal(err)
	}
	// An alert published twice with one id is stored once.
	for range 2 {
		if _, err := b.JS.Publish(ctx, b.Names.AlertSubject("t"), []byte("{}"), jetstream.WithMsgID("t:1")); err != nil {
			t.Fatal(err)
		}
	}
	s, _ = b.JS.Stream(ctx, b.Names.AlertStream)
	if info, _ := s.Info(ctx); info.State.Msgs != 1 {
		t.Errorf("alert stream holds %d messages, want 1", info.State.Msgs)
	}

	if _, err := Open(ctx, cfg, log); !errors.Is(err, ErrDataDirInUse) {
		t.Errorf("second Open on the same data_dir: err = %v, want ErrDataDirInUse", err)
	}
	b.Close()

	// After Close the store reopens with its data.
	b, err = Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, _ = b.JS.Stream(ctx, b.Names.AlertStream)
	if info, _ := s.Info(ctx); info.State.Msgs != 1 {
		t.Errorf("after reopening, alert stream holds %d messages, want 1", info.State.Msgs)
	}
	if s, _ := b.JS.Stream(ctx, "NEWSWATCH_FETCH"); s.CachedInfo().Config.Duplicates != FetchJobWindow {
		t.Errorf("after reopening, fetch jobs keep ids %s, want %s", s.CachedInfo().Config.Duplicates, FetchJobWindow)
	}
}

func TestNamesForPrefix(t *testing.T) {
	n := NamesFor("news-eu")
	if n.AlertStream != "NEWS_EU_ALERTS" || n.AlertSubject("fentanyl") != "news-eu.alerts.fentanyl" || n.SeenBucket != "news-eu-seen" {
		t.Errorf("names = %+v", n)
	}
}

func TestListenProblemsAreErrorsNotPanics(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t)
	cfg.NATS.Listen = ln.Addr().String() // busy
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := Open(ctx, cfg, log); err == nil || !strings.Contains(err.Error(), "nats.listen") {
		t.Errorf("busy nats.listen: err = %v", err)
	}
	// The lock was released: the data dir opens without the listener.
	cfg.NATS.Listen = ""
	b, err := Open(ctx, cfg, log)
	if err != nil {
		t.Fatalf("after a failed start: %v", err)
	}
	b.Close()
}

func TestClientAttachesOnlyForInspection(t *testing.T) {
	cfg := testConfig(t)
	cfg.NATS.Listen = freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	daemon, err := Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer daemon.Close()
	if _, err := daemon.State.Put(ctx, "wire", []byte("state")); err != nil {
		t.Fatal(err)
	}
	// A second daemon on the same data dir must not attach to the first.
	if _, err := Open(ctx, cfg, log); !errors.Is(err, ErrDataDirInUse) {
		t.Errorf("second daemon: err = %v, want ErrDataDirInUse", err)
	}
	cli, err := OpenClient(ctx, cfg, log)
	if err != nil {
		t.Fatalf("inspection client: %v", err)
	}
	defer cli.Close()
	if cli.Embedded() {
		t.Error("the client started its own server")
	}
	if e, err := cli.State.Get(ctx, "wire"); err != nil || string(e.Value()) != "state" {
		t.Errorf("client reads %v, %v", e, err)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// A daemon restarted right after SIGTERM opens data_dir while the old one
// still drains: it waits for the lock instead of failing with
// ErrDataDirInUse, and sees what the old one stored.
func TestOpenWaitsForAStoppingHolder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := testConfig(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	old, err := Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.State.Put(ctx, "wire", []byte("state")); err != nil {
		t.Fatal(err)
	}
	old.Stopping() // SIGTERM: in-flight work drains for a while
	closed := make(chan struct{})
	go func() {
		time.Sleep(500 * time.Millisecond)
		old.Close()
		close(closed)
	}()
	b, err := Open(ctx, cfg, log)
	if err != nil {
		t.Fatalf("open while the old holder stops: %v", err)
	}
	defer b.Close()
	<-closed
	if e, err := b.State.Get(ctx, "wire"); err != nil || string(e.Value()) != "state" {
		t.Errorf("state after the restart: %v, %v", e, err)
	}
}

// TestCloseLogsFailedConsumerListing: Close lists the consumers to have
// the server drop ended pulls; when it cannot (here its connection is
// already closed), it says so and still closes: the embedded server
// stops.
func TestCloseLogsFailedConsumerListing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logs logtest.Buffer
	b, err := Open(ctx, testConfig(t), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.EnsureConsumer(ctx, b.Names.ArticleStream, ConsumerSpec{Durable: "c", AckWait: time.Minute}); err != nil {
		t.Fatal(err)
	}
	b.NC.Close()
	b.Close()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "list consumers") {
		t.Errorf("no WARN about the consumers not listed:\n%s", logs.String())
	}
	if b.server.Running() {
		t.Error("the embedded server still runs after Close")
	}
}

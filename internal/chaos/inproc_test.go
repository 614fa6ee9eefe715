package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/notifier"
	"newswatch/pipeline"
)

// parseConfig validates a config written as a map, as newswatch would
// load it from config.yaml.
func parseConfig(t *testing.T, m map[string]any) *config.Config {
	t.Helper()
	data, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data, os.LookupEnv)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, data)
	}
	return cfg
}

// replica is one in-process newswatch: its own bus connection and
// pipeline, running the given roles.
type replica struct {
	name   string
	b      *bus.Bus
	p      *pipeline.Pipeline
	cancel context.CancelFunc
	done   chan error
}

func startReplica(t *testing.T, name string, cfg *config.Config) *replica {
	t.Helper()
	log := testLogger(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, log)
	if err != nil {
		t.Fatalf("%s: open bus: %v", name, err)
	}
	p, err := pipeline.New(cfg, b, log, nil)
	if err != nil {
		b.Close()
		t.Fatalf("%s: pipeline: %v", name, err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	r := &replica{name: name, b: b, p: p, cancel: rcancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(rctx, pipeline.AllRoles) }()
	t.Cleanup(r.stop)
	return r
}

// stop shuts the replica down the way SIGTERM does: finish work in
// flight, then close the connection.
func (r *replica) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
	}
	r.b.Close()
}

// crash stops the replica the way a crash does: its connection goes
// first, so nothing it was doing can be acknowledged, then its goroutines
// are told to stop.
func (r *replica) crash() {
	if r.cancel == nil {
		return
	}
	r.b.NC.Close()
	r.cancel()
	r.cancel = nil
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
	}
	r.b.Close()
}

// alertSeqs maps each alert id to its sequence in the alert stream.
func alertSeqs(ctx context.Context, t *testing.T, b *bus.Bus) map[string]uint64 {
	t.Helper()
	msgs := readStream(ctx, t, b, b.Names.AlertStream, b.Names.AlertSubject(">"))
	out := make(map[string]uint64, len(msgs))
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		out[m.Headers().Get("Nats-Msg-Id")] = md.Sequence.Stream
	}
	return out
}

// deadLetters reads a subscriber's dead letters.
func deadLetters(ctx context.Context, t *testing.T, b *bus.Bus, sub string) []notifier.DeadLetter {
	t.Helper()
	var out []notifier.DeadLetter
	for _, m := range readStream(ctx, t, b, b.Names.DeadStream, b.Names.DeadSubject(sub)) {
		var dl notifier.DeadLetter
		if err := json.Unmarshal(m.Data(), &dl); err != nil {
			t.Fatalf("dead letter: %v", err)
		}
		out = append(out, dl)
	}
	return out
}

// readStream reads every message of a stream on subject with an ordered
// consumer.
func readStream(ctx context.Context, t *testing.T, b *bus.Bus, stream, subject string) []jetstream.Msg {
	t.Helper()
	s, err := b.JS.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	if n == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	var out []jetstream.Msg
	for uint64(len(out)) < n {
		batch, err := cons.Fetch(int(n)-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		got := 0
		for m := range batch.Messages() {
			out = append(out, m)
			got++
		}
		if err := batch.Error(); err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		if got == 0 {
			t.Fatalf("read %s: %d of %d messages", stream, len(out), n)
		}
	}
	return out
}

// checkOrder reports the first place where a subscriber's first
// deliveries do not follow the alert stream's order.
func checkOrder(seqs map[string]uint64, alertIDs []string) error {
	seen := map[string]bool{}
	var last uint64
	var lastID string
	for _, id := range alertIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		s, ok := seqs[id]
		if !ok {
			return fmt.Errorf("alert %s is not in the alert stream", id)
		}
		if s < last {
			return fmt.Errorf("alert %s (seq %d) delivered after %s (seq %d)", id, s, lastID, last)
		}
		last, lastID = s, id
	}
	return nil
}

package feedback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/bus"
	"newswatch/news"
)

// ErrNotFound means the alert is no longer (or not) in the alert stream.
var ErrNotFound = errors.New("alert not in the stream")

// maxScan bounds the messages looked at to find one alert.
const maxScan = 20000

// FindAlert looks alert id up in the alert stream, on its topic's subject,
// starting a little before created when known (the alert was published
// then), so that a lookup reads a handful of messages, not the stream.
func FindAlert(ctx context.Context, b *bus.Bus, id string, created time.Time) (*news.Alert, error) {
	topic, _, ok := SplitAlertID(id)
	if !ok {
		return nil, fmt.Errorf("alert id %q: %w", id, ErrNotFound)
	}
	s, err := b.JS.Stream(ctx, b.Names.AlertStream)
	if err != nil {
		return nil, fmt.Errorf("alert stream: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("alert stream: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil, ErrNotFound
	}
	last := info.State.LastSeq
	oc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{b.Names.AlertSubject(topic)}}
	if !created.IsZero() {
		start := created.Add(-10 * time.Minute)
		oc.DeliverPolicy, oc.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	cons, err := s.OrderedConsumer(ctx, oc)
	if err != nil {
		return nil, fmt.Errorf("alert stream: %w", err)
	}
	scanned := 0
	for scanned < maxScan {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			scanned++
			if m.Headers().Get(jetstream.MsgIDHeader) == id || len(m.Headers()) == 0 {
				var a news.Alert
				if json.Unmarshal(m.Data(), &a) == nil && a.ID == id {
					return &a, nil
				}
			}
			if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= last {
				return nil, ErrNotFound
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		if n == 0 {
			return nil, ErrNotFound
		}
	}
	return nil, ErrNotFound
}

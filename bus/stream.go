package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamState is what a stream holds.
type StreamState struct {
	Msgs, Bytes       uint64
	FirstSeq, LastSeq uint64
}

// StreamState looks stream up: it fails when the stream is missing or
// the server does not answer within ctx.
func (b *Bus) StreamState(ctx context.Context, stream string) (StreamState, error) {
	str, err := b.JS.Stream(ctx, stream)
	if err != nil {
		return StreamState{}, err
	}
	st := str.CachedInfo().State
	return StreamState{Msgs: st.Msgs, Bytes: st.Bytes, FirstSeq: st.FirstSeq, LastSeq: st.LastSeq}, nil
}

// DeleteMsg removes the message with sequence seq from stream.
func (b *Bus) DeleteMsg(ctx context.Context, stream string, seq uint64) error {
	str, err := b.JS.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	return str.DeleteMsg(ctx, seq)
}

// CountSince is how many messages stream holds on subject (NATS
// wildcards allowed) stored at or after since. The server counts them
// for a short-lived consumer: nothing is read.
func (b *Bus) CountSince(ctx context.Context, stream, subject, what string, since time.Time) (uint64, error) {
	cons, err := b.JS.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Description:       what,
		FilterSubject:     subject,
		DeliverPolicy:     jetstream.DeliverByStartTimePolicy,
		OptStartTime:      &since,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: 30 * time.Second,
		MemoryStorage:     true,
	})
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	n := cons.CachedInfo().NumPending
	// The consumer would go by itself after InactiveThreshold; deleting
	// it now keeps a busy page from piling them up.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	_ = b.JS.DeleteConsumer(dctx, stream, cons.CachedInfo().Name)
	cancel()
	return n, nil
}

// MsgID is the de-duplication id the message was published with ("" for
// none).
func (m *StoredMsg) MsgID() string { return m.Header.Get(jetstream.MsgIDHeader) }

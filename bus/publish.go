package bus

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PubAck is a stream's answer to a publish.
type PubAck struct {
	Stream string
	Seq    uint64
	// Duplicate: the stream already held a message with this id (within
	// its duplicate window) and kept the first.
	Duplicate bool
}

func pubOpts(msgID string) []jetstream.PublishOpt {
	if msgID == "" {
		return nil
	}
	return []jetstream.PublishOpt{jetstream.WithMsgID(msgID)}
}

// Publish stores data on subject and waits for the stream's ack. A
// msgID ("" for none) makes a repeat within the stream's duplicate
// window harmless.
func (b *Bus) Publish(ctx context.Context, subject string, data []byte, msgID string) (PubAck, error) {
	ack, err := b.JS.Publish(ctx, subject, data, pubOpts(msgID)...)
	if err != nil {
		return PubAck{}, err
	}
	return PubAck{Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// PendingAck is an async publish whose ack is still to come.
type PendingAck struct{ f jetstream.PubAckFuture }

// PublishAsync sends data on subject without waiting; Wait on the result
// for the stream's ack. Every pending publish fails after
// PublishAsyncTimeout at the latest, and the client holds at most 4,000:
// publish in windows and wait for each.
func (b *Bus) PublishAsync(subject string, data []byte, msgID string) (*PendingAck, error) {
	f, err := b.JS.PublishAsync(subject, data, pubOpts(msgID)...)
	if err != nil {
		return nil, err
	}
	return &PendingAck{f}, nil
}

// Wait returns the stream's ack, the publish's error, or ctx's cause
// when ctx ends first.
func (p *PendingAck) Wait(ctx context.Context) (PubAck, error) {
	select {
	case ack := <-p.f.Ok():
		return PubAck{Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil
	case err := <-p.f.Err():
		return PubAck{}, err
	case <-ctx.Done():
		return PubAck{}, context.Cause(ctx)
	}
}

// TooLarge reports whether a publish failed for the message itself: more
// than the server takes in one message, or than the stream takes. The
// state of the store has nothing to do with it; another message may go.
func TooLarge(err error) bool {
	var api *jetstream.APIError
	return errors.Is(err, nats.ErrMaxPayload) ||
		errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum
}

// MaxPayload is the most bytes one message may carry on this connection
// (0 when unknown).
func (b *Bus) MaxPayload() int64 {
	if b.NC == nil {
		return 0
	}
	return b.NC.MaxPayload()
}

// Reconnects is how many times the connection went back to a server
// after losing it: a server that restarted may have come back without its
// last writes (those within its fsync interval).
func (b *Bus) Reconnects() uint64 {
	if b.NC == nil {
		return 0
	}
	return b.NC.Stats().Reconnects
}

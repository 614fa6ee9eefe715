package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerSpec is a durable pull consumer with explicit acks, as the
// stages make them.
type ConsumerSpec struct {
	Durable     string
	Description string
	// Subjects filters the stream; none: every message.
	Subjects []string
	// AckWait is how long a message may go unsettled, with no sign of
	// progress, before it is delivered again.
	AckWait time.Duration
	// MaxAckPending bounds the messages in flight at once.
	MaxAckPending int
	// MaxDeliver bounds deliveries of a message (-1: no bound; 0: the
	// server's default).
	MaxDeliver int
	// StartSeq makes a new consumer start at this stream sequence (0:
	// with the first message). An existing consumer keeps its start,
	// which JetStream cannot change.
	StartSeq uint64
}

func (s ConsumerSpec) config() jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:        s.Durable,
		Description:    s.Description,
		FilterSubjects: s.Subjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        s.AckWait,
		MaxAckPending:  s.MaxAckPending,
		MaxDeliver:     s.MaxDeliver,
	}
	if s.StartSeq > 0 {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, s.StartSeq
	}
	return cc
}

// EnsureConsumer creates the consumer of spec on stream, or brings an
// existing one up to date (keeping where it started). A consumer made
// anew at spec.StartSeq that comes back standing behind it holds the
// state of a consumer of its name deleted just before (see
// ConsumerState.Behind): it is deleted and made again.
func (b *Bus) EnsureConsumer(ctx context.Context, stream string, spec ConsumerSpec) (*Consumer, error) {
	for attempt := 1; ; attempt++ {
		c, err := b.ensureConsumer(ctx, stream, spec)
		if err != nil || !c.created || spec.StartSeq == 0 || !c.State().Behind(spec.StartSeq) {
			return c, err
		}
		st := c.State()
		b.log.Warn("the consumer made anew came back with the state of the one deleted before it; deleting it to make it again",
			"consumer", spec.Durable, "start_seq", spec.StartSeq, "delivered_seq", st.Delivered, "ack_floor", st.AckFloor, "ack_pending", st.AckPending)
		if err := b.DeleteConsumer(ctx, stream, spec.Durable); err != nil {
			return nil, err
		}
		if attempt == 3 {
			return nil, fmt.Errorf("consumer %s came back with a stale state %d times", spec.Durable, attempt)
		}
	}
}

func (b *Bus) ensureConsumer(ctx context.Context, stream string, spec ConsumerSpec) (*Consumer, error) {
	cc := spec.config()
	existing, err := b.JS.Consumer(ctx, stream, spec.Durable)
	found := err == nil
	switch {
	case found:
		info := existing.CachedInfo()
		cc.DeliverPolicy, cc.OptStartSeq, cc.OptStartTime =
			info.Config.DeliverPolicy, info.Config.OptStartSeq, info.Config.OptStartTime
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, fmt.Errorf("look up consumer %s: %w", spec.Durable, err)
	}
	c, err := b.JS.CreateOrUpdateConsumer(ctx, stream, cc)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", spec.Durable, err)
	}
	return &Consumer{c: c, created: !found}, nil
}

// Behind reports whether a consumer just made to start at stream
// sequence start stands behind that start. nats-server does not wait,
// when it deletes a consumer, for a flush of the consumer's state that is
// under way: a flush that lands after the deletion writes the old state
// into the directory of a consumer of that name made right after (as a
// lost consumer is), which restores it. That consumer would stand at the
// old place, with an old message in flight until its ack wait ran out:
// queued messages delayed, settled ones handled again. A consumer that
// has delivered from its start on is not stale: another replica may have
// made it between our look and our create, and be using it; deleting it
// would hand its message in flight out again.
func (s ConsumerState) Behind(start uint64) bool {
	return s.Delivered+1 < start || s.AckFloor+1 < start
}

// ConsumerState is what a consumer reports of its progress.
type ConsumerState struct {
	AckFloor   uint64 // stream sequence every message up to which is settled
	Pending    uint64 // messages not yet delivered
	AckPending int    // messages delivered and not yet settled
	Delivered  uint64 // stream sequence of the last message given out
	Deliveries uint64 // messages given out since the consumer was made (its consumer sequence)
}

func stateOf(info *jetstream.ConsumerInfo) ConsumerState {
	return ConsumerState{AckFloor: info.AckFloor.Stream, Pending: info.NumPending, AckPending: info.NumAckPending,
		Delivered: info.Delivered.Stream, Deliveries: info.Delivered.Consumer}
}

// State is the consumer's state as the server reported it when the
// consumer was made or looked up.
func (c *Consumer) State() ConsumerState { return stateOf(c.c.CachedInfo()) }

// Backlog is the messages waiting, the ones in flight included.
func (s ConsumerState) Backlog() uint64 { return s.Pending + uint64(s.AckPending) }

// LookupConsumer reports a consumer's state; found is false when the
// consumer does not exist.
func (b *Bus) LookupConsumer(ctx context.Context, stream, durable string) (_ ConsumerState, found bool, _ error) {
	c, err := b.JS.Consumer(ctx, stream, durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return ConsumerState{}, false, nil
	}
	if err != nil {
		return ConsumerState{}, false, fmt.Errorf("look up consumer %s: %w", durable, err)
	}
	return stateOf(c.CachedInfo()), true, nil
}

// ConsumerBacklog is how many messages wait for a consumer, the ones in
// flight included, counting those the server stored but has not counted
// for the consumer yet: it acknowledges a publish before it counts the
// message for its consumers (in a goroutine of its own), so right after a
// publish the consumer's pending count can still be 0. When the server
// counts none undelivered but a message on the consumer's filter lies
// past the last one it was given, that one counts too (1 more: there may
// be more, but the backlog is not only what is in flight, such as alerts
// held for a digest). found is false when the consumer does not exist.
func (b *Bus) ConsumerBacklog(ctx context.Context, stream, durable string) (n uint64, found bool, err error) {
	c, err := b.JS.Consumer(ctx, stream, durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("look up consumer %s: %w", durable, err)
	}
	info := c.CachedInfo()
	n = info.NumPending + uint64(info.NumAckPending)
	if info.NumPending > 0 {
		return n, true, nil
	}
	str, err := b.JS.Stream(ctx, stream)
	if err != nil {
		return 0, true, fmt.Errorf("consumer %s: stream %s: %w", durable, stream, err)
	}
	filters := info.Config.FilterSubjects
	switch {
	case info.Config.FilterSubject != "":
		filters = []string{info.Config.FilterSubject}
	case len(filters) == 0:
		filters = []string{">"}
	}
	for _, f := range filters {
		_, err := str.GetMsg(ctx, info.Delivered.Stream+1, jetstream.WithGetMsgSubject(f))
		switch {
		case err == nil:
			return n + 1, true, nil
		case !errors.Is(err, jetstream.ErrMsgNotFound):
			return n, true, fmt.Errorf("consumer %s: next message on %s: %w", durable, f, err)
		}
	}
	return n, true, nil
}

// DeleteConsumer deletes a consumer; one that does not exist is no error.
func (b *Bus) DeleteConsumer(ctx context.Context, stream, durable string) error {
	err := b.JS.DeleteConsumer(ctx, stream, durable)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete consumer %s: %w", durable, err)
	}
	return nil
}

// StreamLastSeq is the sequence of the last message a stream took.
func (b *Bus) StreamLastSeq(ctx context.Context, stream string) (uint64, error) {
	s, err := b.JS.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	return s.CachedInfo().State.LastSeq, nil
}

package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StoredMsg is one message read back from a stream by a walk.
type StoredMsg struct {
	Seq     uint64
	Subject string
	Time    time.Time // when the stream stored it
	Header  nats.Header
	Data    []byte
}

const (
	// walkOpWait bounds each request of a walk to the server (stream
	// lookup, consumer creation, one message get).
	walkOpWait = 10 * time.Second
	// walkFetchWait bounds each batch of a forward walk: the end is
	// known from the pending count, so this is only reached when the
	// server is slow or messages expired meanwhile.
	walkFetchWait = 2 * time.Second
	walkBatch     = 500
)

// Walk calls fn on the messages of stream on subject ("" for all, NATS
// wildcards allowed), oldest first, from sequence from (0 for the first),
// until fn returns false or the last message stored when the walk began
// was seen: messages published meanwhile are not waited for. An empty
// stream or a from past its end is a walk over nothing. Every wait has a
// deadline and the walk stops with ctx's error when ctx ends.
func (b *Bus) Walk(ctx context.Context, stream, subject string, from uint64, fn func(*StoredMsg) bool) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	return b.walk(ctx, stream, subject, from, cfg, fn)
}

// WalkSince is Walk from the first message stored at or after since (all
// of them when since is zero).
func (b *Bus) WalkSince(ctx context.Context, stream, subject string, since time.Time, fn func(*StoredMsg) bool) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if !since.IsZero() {
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	return b.walk(ctx, stream, subject, 0, cfg, fn)
}

func (b *Bus) walk(ctx context.Context, stream, subject string, from uint64, cfg jetstream.OrderedConsumerConfig, fn func(*StoredMsg) bool) error {
	if subject != "" {
		cfg.FilterSubjects = []string{subject}
	}
	octx, cancel := context.WithTimeout(ctx, walkOpWait)
	defer cancel()
	str, err := b.JS.Stream(octx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	st := str.CachedInfo().State
	if st.Msgs == 0 || from > st.LastSeq {
		return nil
	}
	last := st.LastSeq
	cons, err := str.OrderedConsumer(octx, cfg)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	if ci := cons.CachedInfo(); ci != nil && ci.NumPending == 0 {
		return nil // nothing on subject from there
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, done, err := walkBatchOf(ctx, cons, last, fn)
		if err != nil {
			return fmt.Errorf("stream %s: %w", stream, err)
		}
		if done || n == 0 {
			return nil // the end, or the rest expired meanwhile
		}
	}
}

// walkBatchOf hands one batch of cons to fn; done when fn stopped or the
// end was reached.
func walkBatchOf(ctx context.Context, cons jetstream.Consumer, last uint64, fn func(*StoredMsg) bool) (n int, done bool, err error) {
	fctx, cancel := context.WithTimeout(ctx, walkFetchWait)
	defer cancel()
	batch, err := cons.Fetch(walkBatch, jetstream.FetchContext(fctx))
	if err != nil {
		return 0, false, err
	}
	for m := range batch.Messages() {
		n++
		if done {
			continue // drain what was already on its way
		}
		if ctx.Err() != nil {
			done, err = true, ctx.Err()
			continue
		}
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		sm := &StoredMsg{Seq: md.Sequence.Stream, Subject: m.Subject(), Time: md.Timestamp, Header: m.Headers(), Data: m.Data()}
		done = !fn(sm) || md.Sequence.Stream >= last || md.NumPending == 0
	}
	if done {
		return n, true, err
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return n, false, nil // this batch's own deadline
		}
		if ctx.Err() != nil {
			return n, false, ctx.Err()
		}
		return n, false, err
	}
	return n, false, nil
}

// WalkBack calls fn on the messages of stream on subject ("" for all,
// NATS wildcards allowed), newest first, from the one before sequence
// before (0 for the last), until fn returns false, the first message is
// passed or most messages of any subject were read (0: no bound). It
// reads one message at a time, for pages of the newest few.
func (b *Bus) WalkBack(ctx context.Context, stream, subject string, before uint64, most int, fn func(*StoredMsg) bool) error {
	octx, cancel := context.WithTimeout(ctx, walkOpWait)
	str, err := b.JS.Stream(octx, stream)
	cancel()
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	st := str.CachedInfo().State
	if st.Msgs == 0 {
		return nil
	}
	hi := st.LastSeq
	if before != 0 && before-1 < hi {
		hi = before - 1
	}
	for seq, read := hi, 0; seq >= st.FirstSeq && seq > 0 && (most <= 0 || read < most); seq, read = seq-1, read+1 {
		if err := ctx.Err(); err != nil {
			return err
		}
		octx, cancel := context.WithTimeout(ctx, walkOpWait)
		m, err := str.GetMsg(octx, seq)
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted or expired
		}
		if err != nil {
			return fmt.Errorf("stream %s: message %d: %w", stream, seq, err)
		}
		if subject != "" && !SubjectMatches(subject, m.Subject) {
			continue
		}
		if !fn(&StoredMsg{Seq: m.Sequence, Subject: m.Subject, Time: m.Time, Header: m.Header, Data: m.Data}) {
			return nil
		}
	}
	return nil
}

// SubjectMatches reports whether subject matches the NATS subject
// pattern (with the "*" and ">" wildcards).
func SubjectMatches(pattern, subject string) bool {
	pt, st := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, p := range pt {
		if p == ">" {
			return len(st) > i
		}
		if i >= len(st) || p != "*" && p != st[i] {
			return false
		}
	}
	return len(pt) == len(st)
}

// Span returns the first and last sequence of stream, both 0 when it
// holds no message.
func (b *Bus) Span(ctx context.Context, stream string) (first, last uint64, err error) {
	octx, cancel := context.WithTimeout(ctx, walkOpWait)
	defer cancel()
	str, err := b.JS.Stream(octx, stream)
	if err != nil {
		return 0, 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	st := str.CachedInfo().State
	if st.Msgs == 0 {
		return 0, 0, nil
	}
	return st.FirstSeq, st.LastSeq, nil
}

package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Durable is a Source over a stage's durable consumer that makes the
// consumer again when it is lost (deleted by hand, or gone with a damaged
// store): without it the stage would stop taking work while everything
// else looked fine. A consumer made anew starts after the ack floor the
// stage last read, so at most the messages settled since that
// look come again; the stages' own publishes carry message ids, and the
// stream drops their repeats within its duplicate window.
//
// A stage that cannot pull (its consumer cannot be made again, its stream
// is gone) is reported as a consumer.error fault (StageConsumerFault)
// after three failed pulls in a row, which fails /readyz until a pull
// works.
type Durable struct {
	b      *Bus
	stream string
	spec   ConsumerSpec
	log    *slog.Logger

	mu          sync.Mutex
	cons        *Consumer
	floor       uint64    // the consumer's ack floor, as last read
	looked      time.Time // when floor was last read
	failures    int       // pulls failed in a row
	warned      time.Time // when a failed remake was last logged
	floorWarned time.Time // when a failed read of the ack floor was last logged
}

// floorEvery is how often a Durable reads its consumer's ack floor.
const floorEvery = 5 * time.Second

// durableFailures is how many pulls in a row must fail before the stage
// is reported stopped: a blip is not a fault.
const durableFailures = 3

// Durable makes (or brings up to date) the consumer of spec on stream and
// returns it as a Source that makes it again when it is lost.
func (b *Bus) Durable(ctx context.Context, stream string, spec ConsumerSpec, log *slog.Logger) (*Durable, error) {
	c, err := b.EnsureConsumer(ctx, stream, spec)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b.Health.WatchConsumer(spec.Durable)
	return &Durable{b: b, stream: stream, spec: spec, log: log, cons: c, floor: c.State().AckFloor, looked: time.Now()}, nil
}

// OpenDurable is Durable tried until it works or ctx ends, as a stage
// does when it starts (see RetryShown).
func (b *Bus) OpenDurable(ctx context.Context, stream string, spec ConsumerSpec, log *slog.Logger) (*Durable, error) {
	var d *Durable
	err := b.RetryShown(ctx, log, "create "+spec.Durable+" consumer", StageConsumerFault(spec.Durable), func(ctx context.Context) (err error) {
		d, err = b.Durable(ctx, stream, spec, log)
		return err
	})
	return d, err
}

// RetryShown is Retry for a stage's set-up (its consumer, its watch):
// after three failed attempts the stage is the consumer.error fault key,
// cleared once the set-up works. A stage that cannot start must be seen
// where a stopped one is (/readyz, the status page, the metrics), not
// only in a WARN every few seconds.
func (b *Bus) RetryShown(ctx context.Context, log *slog.Logger, what, key string, call func(context.Context) error) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	failed := 0
	err := Retry(ctx, log, what, func(ctx context.Context) error {
		err := call(ctx)
		if err != nil {
			if failed++; failed >= durableFailures {
				b.Health.Report(key, KindConsumerError, fmt.Sprintf("%s: %v", what, err))
			}
		}
		return err
	})
	if err == nil && failed >= durableFailures {
		b.Health.Clear(key)
	}
	return err
}

// faultKey is the Health key of the stage's pull fault.
func (d *Durable) faultKey() string { return StageConsumerFault(d.spec.Durable) }

// Pull pulls from the current consumer. After a failed pull it looks the
// consumer up and makes it again if it is gone.
func (d *Durable) Pull(abort context.Context, n int, wait time.Duration, each func(Msg)) error {
	d.mu.Lock()
	c := d.cons
	d.mu.Unlock()
	err := c.Pull(abort, n, wait, each)
	if err == nil {
		d.pulled(abort, c)
		return nil
	}
	if abort.Err() != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if rerr := d.remake(ctx); rerr != nil {
		err = fmt.Errorf("%w; %w", err, rerr)
	}
	d.mu.Lock()
	d.failures++
	failures := d.failures
	d.mu.Unlock()
	if failures >= durableFailures {
		d.b.Health.Report(d.faultKey(), KindConsumerError,
			fmt.Sprintf("%s cannot take work from %s: %v", d.spec.Durable, d.stream, err))
	}
	return err
}

// pulled notes a pull that worked, and now and then the consumer's ack
// floor.
func (d *Durable) pulled(abort context.Context, c *Consumer) {
	d.mu.Lock()
	failed := d.failures > 0
	d.failures = 0
	look := time.Since(d.looked) >= floorEvery
	if look {
		d.looked = time.Now()
	}
	d.mu.Unlock()
	if failed {
		d.b.Health.Clear(d.faultKey())
	}
	if !look {
		return
	}
	ctx, cancel := context.WithTimeout(abort, 5*time.Second)
	defer cancel()
	info, err := c.c.Info(ctx)
	if err != nil {
		// The next look (floorEvery) will do; one that keeps failing
		// leaves the floor a remade consumer starts from stale, which
		// is said once a minute.
		d.mu.Lock()
		say := abort.Err() == nil && time.Since(d.floorWarned) >= time.Minute
		if say {
			d.floorWarned = time.Now()
		}
		d.mu.Unlock()
		if say {
			d.log.Warn("cannot read the consumer's settled position; should the consumer be lost, it would be made again from an older one and redo that work",
				"consumer", d.spec.Durable, "stream", d.stream, "err", err)
		}
		return
	}
	// The floor as read, not the highest seen: one consumer's floor only
	// rises, and a lower one is a consumer made again (by another
	// replica, or with its stream made again), whose floor is the one
	// that says what it has settled.
	d.mu.Lock()
	d.floor = info.AckFloor.Stream
	d.mu.Unlock()
}

// remake makes the consumer again if it is gone.
func (d *Durable) remake(ctx context.Context) error {
	_, found, err := d.b.LookupConsumer(ctx, d.stream, d.spec.Durable)
	if err != nil || found {
		return err
	}
	str, err := d.b.JS.Stream(ctx, d.stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", d.stream, err)
	}
	info := str.CachedInfo()
	last := info.State.LastSeq
	d.mu.Lock()
	spec := d.spec
	// A work queue keeps only what is not settled yet, and JetStream
	// takes no start on it: all of it is to do. A stream behind the
	// floor is not the one the floor was read on (made again empty):
	// all of it is new.
	if d.floor > 0 && d.floor <= last && info.Config.Retention != jetstream.WorkQueuePolicy {
		spec.StartSeq = d.floor + 1
	}
	d.mu.Unlock()
	c, err := d.b.EnsureConsumer(ctx, d.stream, spec)
	if err != nil {
		// Tried at every pull, said once a minute.
		d.mu.Lock()
		say := time.Since(d.warned) >= time.Minute
		if say {
			d.warned = time.Now()
		}
		d.mu.Unlock()
		if say {
			d.log.Error("the consumer was lost and cannot be made again; this stage takes no work until it can",
				"consumer", spec.Durable, "stream", d.stream, "err", err)
		}
		return err
	}
	d.log.Error("the consumer was lost; made again after the last message known settled, so nothing waiting is skipped",
		"consumer", spec.Durable, "stream", d.stream, "from_seq", max(spec.StartSeq, 1))
	d.b.Health.ConsumerRemade(spec.Durable)
	d.mu.Lock()
	d.cons, d.floor, d.looked = c, c.State().AckFloor, time.Now()
	d.mu.Unlock()
	return nil
}

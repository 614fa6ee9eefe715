package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Errors of a KV. They are jetstream's own values, so errors.Is matches
// them whichever name a caller uses.
var (
	// ErrKeyNotFound: Get of a key that has no value (never put, deleted
	// or expired).
	ErrKeyNotFound = jetstream.ErrKeyNotFound
	// ErrKeyExists: Create of a key that has a value.
	ErrKeyExists = jetstream.ErrKeyExists
	// ErrRevisionMismatch: Update or DeleteAt at a revision that is not
	// the key's last.
	ErrRevisionMismatch = jetstream.ErrKeyRevisionMismatch
)

// Conflict reports whether err is a lost compare-and-set: a Create of a
// key that exists, or an Update or DeleteAt at a stale revision. A
// replicated bucket reports it with another error code than a single
// one; both count.
func Conflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrKeyExists) || errors.Is(err, ErrRevisionMismatch) {
		return true
	}
	var api *jetstream.APIError
	return errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Entry is one value of a key, as a KV read or watched it.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
	// Deleted marks a watched delete or purge of the key (Value is
	// empty then).
	Deleted bool
}

// KV is one of the bus's key-value buckets. Revisions make compare-and-
// set possible: Create succeeds for one of several writers, Update only
// at the key's last revision.
type KV interface {
	// Get returns the key's value, or ErrKeyNotFound.
	Get(ctx context.Context, key string) (Entry, error)
	// Put sets the key and returns its new revision.
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	// Create sets a key that has no value, or fails with ErrKeyExists.
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	// Update sets the key if its last revision is rev, or fails with
	// ErrRevisionMismatch.
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	// Delete removes the key's value.
	Delete(ctx context.Context, key string) error
	// DeleteAt removes the key's value if its last revision is rev.
	DeleteAt(ctx context.Context, key string, rev uint64) error
	// Purge removes the key's value and its history.
	Purge(ctx context.Context, key string) error
	// Values reads every key's current value in one pass over the
	// bucket (deleted keys left out).
	Values(ctx context.Context) ([]Entry, error)
	// Watch sends every key's current value, then a nil entry, then
	// each change as it happens, until ctx ends or Stop.
	Watch(ctx context.Context) (*Watcher, error)
	// LastRevision is the bucket's last revision over all keys: it moves
	// with every write, so a reader can tell whether anything changed.
	LastRevision(ctx context.Context) (uint64, error)
}

// SeenKV is the bucket of article ids already published.
func (b *Bus) SeenKV() KV { return kvOf(b.Seen) }

// StateKV is the bucket of per-source fetch state.
func (b *Bus) StateKV() KV { return kvOf(b.State) }

// StoreKV is the bucket of small durable notes.
func (b *Bus) StoreKV() KV { return kvOf(b.Store) }

// FeedbackKV is the bucket of subscribers' labels; nil on a bus attached
// to a daemon that predates it.
func (b *Bus) FeedbackKV() KV { return kvOf(b.Feedback) }

// TrendsKV is the bucket of per-topic series; nil on a bus attached to a
// daemon that predates it.
func (b *Bus) TrendsKV() KV { return kvOf(b.Trends) }

// kvOf wraps a bucket; a missing one is a nil KV, not a KV that holds nil.
func kvOf(kv jetstream.KeyValue) KV {
	if kv == nil {
		return nil
	}
	return bucket{kv}
}

type bucket struct{ kv jetstream.KeyValue }

func entryOf(e jetstream.KeyValueEntry) Entry {
	return Entry{Key: e.Key(), Value: e.Value(), Revision: e.Revision(), Deleted: e.Operation() != jetstream.KeyValuePut}
}

func (k bucket) Get(ctx context.Context, key string) (Entry, error) {
	e, err := k.kv.Get(ctx, key)
	if err != nil {
		return Entry{}, err
	}
	return entryOf(e), nil
}

func (k bucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return k.kv.Put(ctx, key, value)
}

func (k bucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	return k.kv.Create(ctx, key, value)
}

func (k bucket) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	return k.kv.Update(ctx, key, value, rev)
}

func (k bucket) Delete(ctx context.Context, key string) error { return k.kv.Delete(ctx, key) }

func (k bucket) DeleteAt(ctx context.Context, key string, rev uint64) error {
	return k.kv.Delete(ctx, key, jetstream.LastRevision(rev))
}

func (k bucket) Purge(ctx context.Context, key string) error { return k.kv.Purge(ctx, key) }

func (k bucket) LastRevision(ctx context.Context) (uint64, error) {
	st, err := k.kv.Status(ctx)
	if err != nil {
		return 0, err
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil {
		return 0, nil
	}
	return bs.StreamInfo().State.LastSeq, nil
}

func (k bucket) Values(ctx context.Context) ([]Entry, error) {
	w, err := k.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", k.kv.Bucket(), err)
	}
	defer func() { _ = w.Stop() }()
	var out []Entry
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bucket %s: %w", k.kv.Bucket(), ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("bucket %s: watcher closed", k.kv.Bucket())
			}
			if e == nil { // every current value has been delivered
				return out, nil
			}
			out = append(out, entryOf(e))
		}
	}
}

func (k bucket) Watch(ctx context.Context) (*Watcher, error) {
	jw, err := k.kv.WatchAll(ctx)
	if err != nil {
		return nil, err
	}
	w := &Watcher{jw: jw, updates: make(chan *Entry), stop: make(chan struct{})}
	go w.relay()
	return w, nil
}

// Watcher is a running Watch of a bucket.
type Watcher struct {
	jw      jetstream.KeyWatcher
	updates chan *Entry
	stop    chan struct{}
	once    sync.Once
}

// Updates delivers the entries: the current values, a nil entry once
// they are all in, then changes. It is closed when the watch ends.
func (w *Watcher) Updates() <-chan *Entry { return w.updates }

// Stop ends the watch.
func (w *Watcher) Stop() error {
	w.once.Do(func() { close(w.stop) })
	return w.jw.Stop()
}

// relay hands jetstream's entries on as the bus's own until the watch
// ends (jetstream closes its channel when the subscription goes).
func (w *Watcher) relay() {
	defer close(w.updates)
	stopped := false
	for e := range w.jw.Updates() {
		if stopped {
			continue // drain until jetstream closes the channel
		}
		var out *Entry
		if e != nil {
			v := entryOf(e)
			out = &v
		}
		select {
		case w.updates <- out:
		case <-w.stop:
			stopped = true
		}
	}
}

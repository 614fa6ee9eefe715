package bus

import (
	"context"
	"errors"
)

// The store bucket's small durable notes of the consuming stages
// (delivery attempts, positions, disabled states), and the typed
// publishes they make. They go through StoreKV and Publish, so that a
// note or a publish has one way onto the bus.

// Note reads a note of the store bucket; found is false when none is set.
func (b *Bus) Note(ctx context.Context, key string) (value []byte, found bool, err error) {
	e, err := b.StoreKV().Get(ctx, key)
	if errors.Is(err, ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return e.Value, true, nil
}

// SetNote writes a note of the store bucket.
func (b *Bus) SetNote(ctx context.Context, key string, value []byte) error {
	_, err := b.StoreKV().Put(ctx, key, value)
	return err
}

// ForgetNote removes a note of the store bucket with its history; one
// never set is no error.
func (b *Bus) ForgetNote(ctx context.Context, key string) error {
	return b.StoreKV().Purge(ctx, key)
}

// PublishAlert stores an alert of topic and waits for the stream's ack.
// msgID makes a repeat within the duplicate window harmless; duplicate
// reports such a repeat.
func (b *Bus) PublishAlert(ctx context.Context, topic, msgID string, data []byte) (duplicate bool, err error) {
	ack, err := b.Publish(ctx, b.Names.AlertSubject(topic), data, msgID)
	return ack.Duplicate, err
}

// PublishDeadLetter stores a subscriber's dead letter and waits for the
// stream's ack; msgID makes a repeat harmless.
func (b *Bus) PublishDeadLetter(ctx context.Context, subscriber, msgID string, data []byte) error {
	_, err := b.Publish(ctx, b.Names.DeadSubject(subscriber), data, msgID)
	return err
}

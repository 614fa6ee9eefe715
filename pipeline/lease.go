package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"newswatch/bus"
)

// leaseTTL is how long a fetch lease holds without renewal: the most a
// source stays blocked after its fetcher died, no longer than the ack
// wait after which its job goes to another worker. A running fetch renews
// it every leaseTTL/3.
const leaseTTL = fetchAckWait

// A lease marks a source as being fetched, in the store bucket shared by
// every replica, so that at most one job fetches a source at a time. It
// is taken and renewed by compare-and-set on the key's revision: of two
// jobs that race, one wins and the other is told ErrSourceBusy. A lease
// whose holder died expires after leaseTTL.
type lease struct {
	kv    bus.KV
	key   string
	token string
	rev   uint64
}

type leaseValue struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

func leaseKey(source string) string { return "fetch-lease." + source }

func (l *lease) value() []byte {
	data, _ := json.Marshal(leaseValue{Token: l.token, Expires: time.Now().Add(leaseTTL).UTC()})
	return data
}

// acquireLease takes the fetch lease of source, or fails with
// ErrSourceBusy while another job holds it.
func acquireLease(ctx context.Context, kv bus.KV, source string) (*lease, error) {
	l := &lease{kv: kv, key: leaseKey(source), token: rand.Text()}
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	e, err := kv.Get(ctx, l.key)
	switch {
	case errors.Is(err, bus.ErrKeyNotFound):
		l.rev, err = kv.Create(ctx, l.key, l.value())
	case err != nil:
	default:
		var cur leaseValue
		if json.Unmarshal(e.Value, &cur) == nil && time.Now().Before(cur.Expires) {
			return nil, ErrSourceBusy
		}
		l.rev, err = kv.Update(ctx, l.key, l.value(), e.Revision)
	}
	if bus.Conflict(err) {
		return nil, ErrSourceBusy
	}
	if err != nil {
		return nil, fmt.Errorf("fetch lease of %s: %w", source, err)
	}
	return l, nil
}

// renew extends the lease; it fails when the lease was lost (expired and
// taken by another job).
func (l *lease) renew(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	rev, err := l.kv.Update(ctx, l.key, l.value(), l.rev)
	if err != nil {
		return fmt.Errorf("renew fetch lease %s: %w", l.key, err)
	}
	l.rev = rev
	return nil
}

// release gives the lease back, unless another job holds it by now.
func (l *lease) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	_ = l.kv.DeleteAt(ctx, l.key, l.rev)
}

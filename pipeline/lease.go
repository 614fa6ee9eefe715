package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"newswatch/bus"
)

// leaseTTL is how long a fetch claim holds without renewal: the most a
// source stays blocked after its fetcher died, no longer than the ack
// wait after which its job goes to another worker. A running fetch renews
// it every leaseTTL/3.
const leaseTTL = fetchAckWait

// FetchClaim marks a source as being fetched: it travels in the source's
// state entry, so that the claim costs no key of its own.
type FetchClaim struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

// A claim is a source's state as one job read it and claimed it, so that
// at most one job fetches a source at a time across replicas. The job
// claims by writing the state back with its claim at the revision it
// read, and saves the new state at the revision its claim wrote: of two
// jobs that race, one write wins and the other is told ErrSourceBusy, and
// a job whose claim was taken over (it stalled past the expiry) cannot
// save over the new holder's state. A claim whose holder died expires
// after leaseTTL. A fetch costs one read and two writes.
type claim struct {
	kv    bus.KV
	id    string
	token string
	read  SourceState // as read, without a claim
	fresh bool        // the source had no state before the claim

	// own: the claim wrote nothing (ownClaim): renewing and releasing
	// it write nothing either.
	own bool

	// skip, when set, may take a save's state without its being written
	// (fetchAlone); saved, when set, is told what a save wrote. skipped:
	// the last save wrote nothing, so it proves nothing of the store.
	skip    func(SourceState) bool
	saved   func(bus.Entry, SourceState)
	skipped bool

	mu    sync.Mutex
	rev   uint64
	ended bool // saved or released: renewals stop
}

// ownClaim is a claim that writes nothing, for a pass that fetches each
// source once in a process that alone can reach the store
// (bus.Exclusive): no other job can fetch the source, and a claim left in
// the state is a dead process's. The save still checks the revision read.
// A fetch then costs one write instead of two.
func ownClaim(kv bus.KV, id string, st SourceState, rev uint64) *claim {
	st.Claim = nil
	return &claim{kv: kv, id: id, read: st, fresh: rev == 0, rev: rev, own: true}
}

// readState returns a source's state and its revision (0: no state yet;
// a source never fetched is "pending").
func readState(ctx context.Context, kv bus.KV, id string) (SourceState, uint64, error) {
	at, err := readStateAt(ctx, kv, id)
	return at.st, at.rev, err
}

// readStateAt is readState with the decoding error, if any.
func readStateAt(ctx context.Context, kv bus.KV, id string) (stateAt, error) {
	e, err := kv.Get(ctx, id)
	if errors.Is(err, bus.ErrKeyNotFound) {
		return stateAt{st: SourceState{ID: id, Status: "pending"}}, nil
	}
	if err != nil {
		return stateAt{}, fmt.Errorf("load state of %s: %w", id, err)
	}
	return stateOf(id, e), nil
}

// stateAt is a source's state and the revision it was read at.
type stateAt struct {
	st  SourceState
	rev uint64
	// bad is why the stored value did not decode (st is then "pending"):
	// the fetch goes on as for a new source, and must say so.
	bad error
}

// stateOf decodes a state entry; one that does not decode reads as
// "pending", at its revision, with the error in bad.
func stateOf(id string, e bus.Entry) stateAt {
	var st SourceState
	if err := json.Unmarshal(e.Value, &st); err != nil {
		return stateAt{SourceState{ID: id, Status: "pending"}, e.Revision, fmt.Errorf("decode state of %s: %w", id, err)}
	}
	return stateAt{st: st, rev: e.Revision}
}

// readStates reads every source's state in one pass over the bucket,
// instead of one read per source, with the revision each was read at;
// one that does not decode reads as stateOf has it. A source missing
// from the result has no state yet. It fails as a whole: a fetch then
// reads per source. LoadStates is this for readers.
func readStates(ctx context.Context, kv bus.KV) (map[string]stateAt, error) {
	es, err := kv.Values(ctx)
	if err != nil {
		return nil, fmt.Errorf("read source states: %w", err)
	}
	out := make(map[string]stateAt, len(es))
	for _, e := range es {
		out[e.Key] = stateOf(e.Key, e)
	}
	return out, nil
}

// claimState claims source id, whose state st was read at revision rev,
// or fails with ErrSourceBusy while another job holds it or when another
// write came first.
func claimState(ctx context.Context, kv bus.KV, id string, st SourceState, rev uint64) (*claim, error) {
	if st.Claim != nil && time.Now().Before(st.Claim.Until) {
		return nil, ErrSourceBusy
	}
	st.Claim = nil
	c := &claim{kv: kv, id: id, token: rand.Text(), read: st, fresh: rev == 0}
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	var err error
	if c.fresh {
		c.rev, err = kv.Create(ctx, id, c.claimed())
	} else {
		c.rev, err = kv.Update(ctx, id, c.claimed(), rev)
	}
	if bus.Conflict(err) {
		return nil, ErrSourceBusy
	}
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", id, err)
	}
	return c, nil
}

// claimed is the state as read, with this job's claim until leaseTTL
// from now.
func (c *claim) claimed() []byte {
	st := c.read
	st.Claim = &FetchClaim{Holder: c.token, Until: time.Now().Add(leaseTTL).UTC()}
	data, _ := json.Marshal(st)
	return data
}

// renew extends the claim; it fails when the claim was lost (expired
// and taken by another job).
func (c *claim) renew(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended || c.own {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	rev, err := c.kv.Update(ctx, c.id, c.claimed(), c.rev)
	if err != nil {
		return fmt.Errorf("renew fetch claim of %s: %w", c.id, err)
	}
	c.rev = rev
	return nil
}

// save writes st, the fetch's outcome, in place of the claim. It fails
// with ErrSourceBusy when the claim was lost: the new holder's state
// stays.
func (c *claim) save(ctx context.Context, st SourceState) error {
	st.Claim = nil
	if c.skip != nil && c.skip(st) {
		c.mu.Lock()
		c.ended, c.skipped = true, true
		c.mu.Unlock()
		return nil
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var rev uint64
	if c.own && c.fresh {
		rev, err = c.kv.Create(ctx, c.id, data)
	} else {
		rev, err = c.kv.Update(ctx, c.id, data, c.rev)
	}
	if bus.Conflict(err) && c.own {
		// No other writer should exist: a store fault, not a lost claim,
		// and the fetch is not tried again.
		return fmt.Errorf("save state of %s: changed by another writer while this process held the store alone (the state is read again at the next poll; this is a bug, please report it): %w", c.id, err)
	}
	if bus.Conflict(err) {
		return fmt.Errorf("save state of %s: fetch claim lost: %w", c.id, ErrSourceBusy)
	}
	if err != nil {
		return fmt.Errorf("save state of %s: %w", c.id, err)
	}
	c.rev, c.ended, c.fresh = rev, true, false
	if c.saved != nil {
		c.saved(bus.Entry{Key: c.id, Value: data, Revision: rev}, st)
	}
	return nil
}

// release gives the claim back when no state was saved: the state is
// as it was read (none, for a source that had none), unless another job
// holds it by now. A release that fails leaves the source blocked until
// the claim expires (leaseTTL); the error says so.
func (c *claim) release(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended || c.own {
		c.ended = true
		return nil
	}
	c.ended = true
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	var err error
	if c.fresh {
		err = c.kv.DeleteAt(ctx, c.id, c.rev)
	} else {
		data, _ := json.Marshal(c.read)
		_, err = c.kv.Update(ctx, c.id, data, c.rev)
	}
	if err == nil || bus.Conflict(err) { // taken over: the new holder's now
		return nil
	}
	return fmt.Errorf("release fetch claim of %s (the source waits up to %s for it to expire): %w", c.id, leaseTTL, err)
}

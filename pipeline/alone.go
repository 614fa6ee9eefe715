package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"newswatch/bus"
	"newswatch/config"
)

// A daemon alone on its store (bus.StateLocal not nil) is the only
// writer of the source states: it keeps each one in memory (kept), locks
// a source in process instead of claiming it in the store, and leaves
// the state of a poll that changed nothing but its times unwritten for up
// to stateWriteEvery.

// stateWriteEvery bounds how stale a stored source state may be while the
// daemon alone on its store polls the source and nothing but the poll's
// times changes (a 304, or the same items again): last_fetch,
// last_success, next_due and the not_modified count lag by at most this
// in the store (status page, /api/sources, `newswatch sources`), and a
// process killed without a chance to write loses at most this much of
// them: its sources are polled again at start. A source polled less often
// is written at every poll. A source no longer polled (removed by a
// reload) has its last times written at stop.
const stateWriteEvery = 30 * time.Second

// kept is what a daemon alone on its store keeps of a source's state.
type kept struct {
	// at is the state, as stored at at.rev, or ahead of the store when
	// ahead: a poll's outcome not written (see stateWriteEvery).
	at    stateAt
	ahead bool
	// written is when this process last wrote the state; zero when it
	// was read or watched.
	written time.Time
}

// keptOf is the state kept for source id, nil when none is.
func keptOf(local *bus.LocalKeys, id string) *kept {
	k, _ := local.Kept(id).(*kept)
	return k
}

// rememberEntry keeps e, an entry read or watched, unless what is kept is
// as new (its revision at least e's: a watch delivers a write after its
// writer kept it); false when it kept nothing.
func rememberEntry(local *bus.LocalKeys, e bus.Entry) bool {
	at := stateAt{st: SourceState{ID: e.Key, Status: "pending"}, rev: e.Revision}
	if !e.Deleted {
		at = stateOf(e.Key, e)
	}
	newer := false
	local.Keep(e.Key, func(old any) any {
		if k, ok := old.(*kept); ok && k.at.rev >= e.Revision {
			return old
		}
		newer = true
		return &kept{at: at}
	})
	return newer
}

// fetchAlone is fetchDue for the daemon's jobs on a bus that alone can
// reach its store: an in-process lock per source stands for the claim,
// and the state kept in memory for the read. A poll then costs one write,
// its save, instead of a read and two writes; and with tell set (the
// scheduler is in this process and is told each next due time), a poll
// that changed nothing but its times none at all, up to stateWriteEvery.
// The save is still made at the revision kept: a state written since by
// anything else fails it as a store fault, and the next job reads the
// bucket again.
func (s *fetchStage) fetchAlone(ctx context.Context, local *bus.LocalKeys, src config.Source, due time.Time, tell *func(string, time.Time)) (_ FetchResult, done bool, err error) {
	if !local.TryLock(src.ID) {
		return FetchResult{Source: src.ID}, false, ErrSourceBusy
	}
	defer local.Unlock(src.ID)
	k := keptOf(local, src.ID)
	var at stateAt
	if k != nil {
		at = k.at
	} else {
		lctx, cancel := context.WithTimeout(ctx, busTimeout)
		e, err := s.b.StateKV().Get(lctx, src.ID)
		cancel()
		switch {
		case errors.Is(err, bus.ErrKeyNotFound):
			at = stateAt{st: SourceState{ID: src.ID, Status: "pending"}}
		case err != nil:
			err = fmt.Errorf("load state of %s: %w", src.ID, err)
			s.storeFailed(s.log, err)
			return FetchResult{Source: src.ID}, false, err
		default:
			at = stateOf(src.ID, e)
		}
	}
	if at.bad != nil {
		s.log.Error("source state does not decode; the source is fetched as new (validator and failure count lost), and the state is written afresh",
			"source", src.ID, "err", at.bad)
	}
	st := at.st
	if !due.IsZero() && !st.LastFetch.IsZero() && !st.LastFetch.Before(due) {
		return FetchResult{Source: src.ID}, true, nil
	}
	c := ownClaim(s.b.StateKV(), src.ID, st, at.rev)
	settled := false
	if tell != nil && k != nil && !k.written.IsZero() {
		c.skip = func(next SourceState) bool {
			if time.Since(k.written) >= s.writeEvery || !onlyTimesChanged(c.read, next) {
				return false
			}
			local.Keep(src.ID, func(any) any {
				return &kept{at: stateAt{st: next, rev: at.rev}, ahead: true, written: k.written}
			})
			(*tell)(src.ID, next.NextDue)
			settled = true
			return true
		}
	}
	c.saved = func(e bus.Entry, next SourceState) {
		local.Keep(src.ID, func(any) any {
			return &kept{at: stateAt{st: next, rev: e.Revision}, written: time.Now()}
		})
		if tell != nil {
			(*tell)(src.ID, next.NextDue)
		}
		settled = true
	}
	defer func() {
		if !settled {
			// Not saved: what is kept may be stale; the next job reads.
			local.Keep(src.ID, func(any) any { return nil })
		}
	}()
	res, err := s.fetchWithState(ctx, src, c.read, c)
	return res, false, err
}

// onlyTimesChanged reports whether next, a poll's outcome, differs from
// prev, the state it started from, in nothing but the poll's times and
// the not_modified count.
func onlyTimesChanged(prev, next SourceState) bool {
	next.LastFetch, next.LastSuccess, next.NextDue, next.NotModified = prev.LastFetch, prev.LastSuccess, prev.NextDue, prev.NotModified
	prev.Claim, next.Claim = nil, nil
	return reflect.DeepEqual(prev, next)
}

// flushKept writes every state kept ahead of the store: when the daemon
// stops, so that a restart finds the last poll of each source. What it
// cannot write is said in one line; those sources are polled at start.
func (s *fetchStage) flushKept(ctx context.Context, local *bus.LocalKeys) {
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	var failed int
	var lastErr error
	local.Range(func(id string, v any) {
		if k, ok := v.(*kept); !ok || !k.ahead || !local.TryLock(id) {
			return // a fetch that holds the source writes or keeps its own
		}
		defer local.Unlock(id)
		k := keptOf(local, id)
		if k == nil || !k.ahead {
			return
		}
		data, err := json.Marshal(k.at.st)
		if err == nil {
			_, err = s.b.StateKV().Update(ctx, id, data, k.at.rev)
		}
		if err != nil {
			failed, lastErr = failed+1, fmt.Errorf("save state of %s: %w", id, err)
		}
		local.Keep(id, func(any) any { return nil })
	})
	if failed > 0 {
		s.log.Warn("source states of the last polls not written at stop; those sources are polled again at start",
			"sources", failed, "err", lastErr)
	}
}

// SourceStates is every stored source state, as LoadStates has it, with
// the polls a daemon alone on its store left unwritten (fetchAlone) laid
// over them: readers in this process (status page, /api/sources) then
// see each source's last poll, not the stored one, which lags up to
// stateWriteEvery. A kept state stands only while the store still holds
// the revision it came from: a write since wins.
func (p *Pipeline) SourceStates(ctx context.Context) (map[string]SourceState, error) {
	ats, err := readStates(ctx, p.b.StateKV())
	if err != nil {
		return nil, err
	}
	if local := p.b.StateLocal(); local != nil {
		local.Range(func(id string, v any) {
			k, ok := v.(*kept)
			if !ok || !k.ahead {
				return
			}
			if at, ok := ats[id]; ok && at.bad == nil && at.rev == k.at.rev {
				ats[id] = stateAt{st: k.at.st, rev: at.rev}
			}
		})
	}
	return statesOf(ats), nil
}

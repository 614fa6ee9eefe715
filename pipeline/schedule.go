package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"newswatch/bus"
	"newswatch/config"
)

// scheduler publishes a fetch job for every source that is due. Due times
// are computed from the shared state, the same way on every replica, and a
// job's message id is "<source>@<due unix>": any number of replicas may
// schedule, and the fetch stream keeps one job per source and due time.
type scheduler struct {
	b       *bus.Bus
	log     *slog.Logger
	timeout time.Duration

	mu      sync.Mutex
	nextDue map[string]time.Time // from the state bucket, kept current by a watch
	sent    map[string]time.Time // last due time this replica published

	// local, when set, takes each due job instead of the fetch stream:
	// the fetch workers run in this process, and no other process can
	// reach the store (see Pipeline.Run).
	local func(fetchJob)
}

func newScheduler(b *bus.Bus, log *slog.Logger, timeout time.Duration) *scheduler {
	return &scheduler{b: b, log: log, timeout: timeout, nextDue: map[string]time.Time{}, sent: map[string]time.Time{}}
}

// offset spreads sources over their interval, so that 10,000 sources with
// the same interval do not all fire at once.
func offset(id string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(id))
	return time.Duration(h.Sum64() % uint64(interval))
}

// cronJitter spreads sources with the same cron schedule over this much
// time after each firing.
const cronJitter = 30 * time.Second

// slotFloor is the latest due time of src at or before t. For a cron
// schedule it is the latest firing within a day, else the next one.
func slotFloor(src config.Source, t time.Time) time.Time {
	if src.Schedule != "" {
		if sch, err := config.ParseSchedule(src.Schedule); err == nil {
			off := offset(src.ID, cronJitter)
			due := sch.Next(t.Add(-24*time.Hour - off)).Add(off)
			if due.After(t) {
				return due.UTC()
			}
			for {
				next := sch.Next(due.Add(-off)).Add(off)
				if next.After(t) {
					return due.UTC()
				}
				due = next
			}
		}
	}
	iv := src.Interval
	off := offset(src.ID, iv)
	n := (t.UnixNano() - int64(off)) / int64(iv)
	return time.Unix(0, n*int64(iv)+int64(off)).UTC()
}

// nextSlot is the first due time of src after t.
func nextSlot(src config.Source, t time.Time) time.Time {
	if src.Schedule != "" {
		if sch, err := config.ParseSchedule(src.Schedule); err == nil {
			off := offset(src.ID, cronJitter)
			return sch.Next(t.Add(-off)).Add(off).UTC()
		}
	}
	return slotFloor(src, t).Add(src.Interval)
}

// due is when src should next be fetched, given its stored next due time.
func (s *scheduler) due(src config.Source, stored time.Time, now time.Time) time.Time {
	// A source never fetched, or whose job was lost (its state did not
	// advance long after it fell due), goes on the current slot: a new
	// job id, so the duplicate window cannot hold it back.
	if stored.IsZero() {
		return slotFloor(src, now)
	}
	if now.Sub(stored) > src.Interval+4*s.timeout+time.Minute {
		d := slotFloor(src, now)
		if !d.After(stored) {
			// A cron source's latest firing is the lost job's own due
			// time: take the current minute instead, the same on every
			// replica and a job id of its own.
			d = now.Truncate(time.Minute)
		}
		return d
	}
	return stored
}

// watch keeps nextDue current from the state bucket; loaded is closed
// once the stored states are in.
func (s *scheduler) watch(ctx context.Context, loaded chan<- struct{}) error {
	var w *bus.Watcher
	if err := s.b.RetryShown(ctx, s.log, "watch source state", bus.StageConsumerFault("scheduler"), func(attempt context.Context) error {
		// A watch ends with the context it was made with, so it gets
		// one that lives as long as ctx; the attempt's timeout bounds
		// only its set-up. (Made with the attempt's context, the watch
		// stopped as soon as Retry returned, often before the stored
		// states came in: the first tick then waited forever.)
		wctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(attempt, cancel)
		kw, err := s.b.StateKV().Watch(wctx)
		if !stop() && err == nil {
			err = fmt.Errorf("watch set-up: %w", attempt.Err())
		}
		if err != nil {
			cancel()
			return err
		}
		w = kw
		return nil
	}); err != nil {
		return err
	}
	go func() {
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil { // end of the initial values
					if loaded != nil {
						close(loaded)
						loaded = nil
					}
					continue
				}
				if local := s.b.StateLocal(); local != nil && !rememberEntry(local, *e) {
					// Alone on the store, the fetches of this process
					// keep what they write and tell the scheduler
					// (told); a write by anything else is newer than
					// what they kept, and comes to their next read and
					// to the scheduler this way.
					continue
				}
				if e.Deleted {
					s.mu.Lock()
					delete(s.nextDue, e.Key)
					s.mu.Unlock()
					continue
				}
				var st SourceState
				if json.Unmarshal(e.Value, &st) == nil {
					s.mu.Lock()
					s.nextDue[e.Key] = st.NextDue
					s.mu.Unlock()
				}
			}
		}
	}()
	return nil
}

// tick publishes the jobs that are due at now.
func (s *scheduler) tick(ctx context.Context, sources []config.Source, now time.Time) {
	for _, src := range sources {
		s.mu.Lock()
		due := s.due(src, s.nextDue[src.ID], now)
		already := s.sent[src.ID].Equal(due)
		s.mu.Unlock()
		if due.After(now) || already {
			continue
		}
		if s.local != nil {
			s.mu.Lock()
			s.sent[src.ID] = due
			s.mu.Unlock()
			s.local(fetchJob{Source: src.ID, Due: due})
			continue
		}
		data, _ := json.Marshal(fetchJob{Source: src.ID, Due: due})
		id := fmt.Sprintf("%s@%d", src.ID, due.Unix())
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		_, err := s.b.Publish(pctx, s.b.Names.FetchSubject(src.ID), data, id)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("schedule fetch", "source", src.ID, "err", err)
			}
			continue
		}
		s.mu.Lock()
		s.sent[src.ID] = due
		s.mu.Unlock()
	}
}

// told takes a source's next due time from a fetch of this process,
// which may have left it unwritten (fetchAlone).
func (s *scheduler) told(source string, nextDue time.Time) {
	s.mu.Lock()
	s.nextDue[source] = nextDue
	s.mu.Unlock()
}

// retryLater has the job for source due at due taken again after d,
// unless a later due time was scheduled meanwhile: the next tick after d
// hands it out again, if the source is still configured and still due.
func (s *scheduler) retryLater(source string, due time.Time, d time.Duration) {
	time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sent[source].Equal(due) {
			delete(s.sent, source)
		}
	})
}

// run schedules until ctx ends; sources returns the current source list.
// local, when not nil, takes the jobs instead of the fetch stream.
func (s *scheduler) run(ctx context.Context, sources func() []config.Source, local func(fetchJob)) error {
	s.local = local
	loaded := make(chan struct{})
	if err := s.watch(ctx, loaded); err != nil {
		return err
	}
	// The first tick must see the stored state (back-offs, Retry-After).
	select {
	case <-loaded:
	case <-time.After(10 * time.Second):
		s.log.Warn("source state not loaded after 10s; scheduling without it")
	case <-ctx.Done():
		return nil
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s.tick(ctx, sources(), time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

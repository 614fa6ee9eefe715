package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// A damaged block file can make the server drop the messages after the
// damage without a word (StreamState.Lost stays empty): a stream's last
// sequence then goes back. A sequence never goes back otherwise, not
// even when messages age out or are acknowledged, so a small record of
// each stream's last sequence, kept in data_dir beside the store, shows
// the loss at the next start. The server's own Lost report is read too,
// at start and while running.

// marksFile holds the last sequence of every stream, written at every
// check and on a clean shutdown.
const marksFile = "stream-marks.json"

type streamMark struct {
	LastSeq uint64    `json:"last_seq"`
	Saved   time.Time `json:"saved"`
}

func (b *Bus) streamNames() []string {
	n := b.Names
	return []string{n.FetchStream, n.ArticleStream, n.AlertStream, n.DeadStream,
		"KV_" + n.SeenBucket, "KV_" + n.StateBucket, "KV_" + n.StoreBucket,
		"KV_" + n.TrendsBucket, "KV_" + n.FeedbackBucket}
}

// checkStreams compares every stream with the record in data_dir and with
// the server's own report of lost messages, reports what is gone to
// Health (logged at ERROR) and brings the record up to date. The record
// is kept only for the embedded server of a daemon.
func (b *Bus) checkStreams(ctx context.Context, atStart bool) {
	keep := b.server != nil && !b.client
	var marks map[string]streamMark
	if keep {
		marks = b.loadMarks()
	}
	next := map[string]streamMark{}
	now := time.Now().UTC()
	for _, name := range b.streamNames() {
		s, err := b.JS.Stream(ctx, name)
		if err != nil {
			if m, ok := marks[name]; ok {
				next[name] = m // unknown now: keep what we knew
			}
			continue
		}
		// The lookup fetched the stream's info just now: no second round trip.
		st := s.CachedInfo().State
		if m, ok := marks[name]; ok && st.LastSeq < m.LastSeq {
			n := m.LastSeq - st.LastSeq
			when := "at start"
			if !atStart {
				when = "while running"
			}
			b.Health.DataLost(name, n, fmt.Sprintf("stream %s lost messages %d..%d (%d messages), found %s; recorded %s",
				name, st.LastSeq+1, m.LastSeq, n, when, m.Saved.Format(time.RFC3339)))
		}
		if st.Lost != nil && len(st.Lost.Msgs) > 0 {
			b.lostMu.Lock()
			seen := b.lostSeen[name]
			fresh := 0
			for _, seq := range st.Lost.Msgs {
				if !seen[seq] {
					if seen == nil {
						seen = map[uint64]bool{}
						b.lostSeen[name] = seen
					}
					seen[seq] = true
					fresh++
				}
			}
			b.lostMu.Unlock()
			if fresh > 0 {
				msgs := st.Lost.Msgs
				b.Health.DataLost(name, uint64(fresh), fmt.Sprintf("the server reports stream %s lost %d messages (sequences %d..%d, %d bytes)",
					name, len(msgs), msgs[0], msgs[len(msgs)-1], st.Lost.Bytes))
			}
		}
		next[name] = streamMark{LastSeq: st.LastSeq, Saved: now}
	}
	if keep {
		if err := b.saveMarks(next); err != nil {
			b.log.Warn("record stream sequences", "err", err)
		}
	}
}

func (b *Bus) loadMarks() map[string]streamMark {
	data, err := os.ReadFile(filepath.Join(b.dataDir, marksFile))
	if err != nil {
		return nil
	}
	var m map[string]streamMark
	if err := json.Unmarshal(data, &m); err != nil {
		b.log.Warn("unreadable record of stream sequences; starting a new one", "file", marksFile, "err", err)
		return nil
	}
	return m
}

func (b *Bus) saveMarks(m map[string]streamMark) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(b.dataDir, marksFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

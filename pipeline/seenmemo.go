package pipeline

import (
	"hash/maphash"
	"slices"
	"sync"

	"newswatch/config"
)

// seenMemo remembers, for each source, which ids of its last fetch are
// marked seen, so that a refresh where most items were seen before costs
// a lookup in memory instead of a round trip to the seen bucket for each.
// It holds one source's last fetch only (8 bytes an item), and only what
// the bucket said or was told: seen ids are never unmarked while the
// process runs (they expire after nats.seen_ttl, and an item still in its
// feed by then is better not alerted again), so a remembered id is right
// as long as the store keeps what it was told. A store that may have lost
// writes (a server that restarted, data found lost in the seen bucket)
// starts a new epoch, and the memo forgets what it held: the bucket is
// asked again, and ids lost with their articles are published again.
type seenMemo struct {
	seed  maphash.Seed
	mu    sync.Mutex
	epoch uint64              // the store's epoch the ids are right for
	ids   map[string][]uint64 // source → sorted hashes of its ids known seen
}

func newSeenMemo() *seenMemo {
	return &seenMemo{seed: maphash.MakeSeed(), ids: map[string][]uint64{}}
}

// key hashes an article id. Two of a feed's ids colliding in 64 bits
// (one new item taken for seen) is a chance of about n/2⁶⁴ per new item.
func (m *seenMemo) key(id string) uint64 { return maphash.String(m.seed, id) }

// known returns the sorted hashes remembered for source (not to be
// modified) in the store's epoch; a new epoch forgets every source.
func (m *seenMemo) known(source string, epoch uint64) []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if epoch != m.epoch {
		clear(m.ids)
		m.epoch = epoch
	}
	return m.ids[source]
}

// has reports whether key is in known (from known).
func has(known []uint64, key uint64) bool {
	_, ok := slices.BinarySearch(known, key)
	return ok
}

// remember replaces what is remembered for source with keys (which it
// sorts and keeps), found in the store's epoch (keys of an epoch since
// ended are dropped). When the memo holds more sources than are
// configured (some were removed), it drops those.
func (m *seenMemo) remember(source string, keys []uint64, configured []config.Source, epoch uint64) {
	slices.Sort(keys)
	m.mu.Lock()
	defer m.mu.Unlock()
	if epoch != m.epoch {
		return
	}
	m.ids[source] = keys
	if len(m.ids) <= len(configured) {
		return
	}
	keep := make(map[string]bool, len(configured))
	for _, s := range configured {
		keep[s.ID] = true
	}
	for id := range m.ids {
		if !keep[id] {
			delete(m.ids, id)
		}
	}
}

package classifier

// automaton is an Aho–Corasick matcher over folded bytes, compiled into a
// dense DFA: one table load per input byte, whatever the number of keys.
// It reports every occurrence of every key, overlapping ones included
// (not leftmost-longest), because different topics may need "china" and
// "south china sea" at the same place; word boundaries are checked by the
// caller on each report, so the automaton itself knows nothing of words.
type automaton struct {
	class  [256]uint16 // byte -> equivalence class; 0 for bytes in no key
	stride uint32      // number of classes
	trans  []uint32    // state*stride + class -> next state*stride
	// matchStart is the first state (times stride) with outputs: states
	// are numbered so that those come last, and the scan loop tells a
	// match by one comparison.
	matchStart uint32
	outIdx     []int32 // state -> start of its outputs in outs; outIdx[s+1] ends them
	outs       []int32 // key ids, the state's own and its suffixes'
	keyLens    []int32
}

// newAutomaton compiles keys (non-empty byte strings).
func newAutomaton(keys []string) *automaton {
	a := &automaton{}
	// Byte classes: bytes that occur in keys get their own class.
	var used [256]bool
	for _, k := range keys {
		for i := 0; i < len(k); i++ {
			used[k[i]] = true
		}
	}
	n := 1
	for b := range used {
		if used[b] {
			a.class[b] = uint16(n)
			n++
		}
	}
	a.stride = uint32(n)

	// Trie.
	type trieNode struct {
		next map[uint16]int32
		out  []int32
	}
	nodes := []trieNode{{next: map[uint16]int32{}}}
	a.keyLens = make([]int32, len(keys))
	for id, k := range keys {
		a.keyLens[id] = int32(len(k))
		s := int32(0)
		for i := 0; i < len(k); i++ {
			c := a.class[k[i]]
			nx, ok := nodes[s].next[c]
			if !ok {
				nx = int32(len(nodes))
				nodes = append(nodes, trieNode{next: map[uint16]int32{}})
				nodes[s].next[c] = nx
			}
			s = nx
		}
		nodes[s].out = append(nodes[s].out, int32(id))
	}

	// Breadth-first: failure links, full transitions, inherited outputs.
	stride := int(a.stride)
	delta := make([]int32, len(nodes)*stride)
	fail := make([]int32, len(nodes))
	queue := make([]int32, 0, len(nodes))
	for c := 0; c < stride; c++ {
		if nx, ok := nodes[0].next[uint16(c)]; ok {
			delta[c] = nx
			fail[nx] = 0
			queue = append(queue, nx)
		}
	}
	for qi := 0; qi < len(queue); qi++ {
		s := queue[qi]
		nodes[s].out = append(nodes[s].out, nodes[fail[s]].out...)
		for c := 0; c < stride; c++ {
			if nx, ok := nodes[s].next[uint16(c)]; ok {
				delta[int(s)*stride+c] = nx
				fail[nx] = delta[int(fail[s])*stride+c]
				queue = append(queue, nx)
			} else {
				delta[int(s)*stride+c] = delta[int(fail[s])*stride+c]
			}
		}
	}

	// Renumber: states without outputs first (the root stays 0), each
	// group in breadth-first order, so that the shallow states a scan
	// spends most of its time in share cache lines.
	bfs := append([]int32{0}, queue...)
	newID := make([]uint32, len(nodes))
	order := make([]int32, 0, len(nodes))
	for pass := 0; pass < 2; pass++ {
		for _, s := range bfs {
			if (len(nodes[s].out) > 0) == (pass == 1) {
				newID[s] = uint32(len(order))
				order = append(order, s)
			}
		}
		if pass == 0 {
			a.matchStart = uint32(len(order)) * a.stride
		}
	}
	a.trans = make([]uint32, len(delta))
	for ns, old := range order {
		for c := 0; c < stride; c++ {
			a.trans[ns*stride+c] = newID[delta[int(old)*stride+c]] * a.stride
		}
	}
	a.outIdx = make([]int32, len(nodes)+1)
	for ns, old := range order {
		a.outIdx[ns] = int32(len(a.outs))
		a.outs = append(a.outs, nodes[old].out...)
	}
	a.outIdx[len(nodes)] = int32(len(a.outs))
	return a
}

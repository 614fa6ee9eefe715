package classifier

// automaton is an Aho–Corasick matcher over folded bytes, compiled into a
// dense DFA: one table load per input byte, whatever the number of keys.
// It reports every occurrence of every key, overlapping ones included
// (not leftmost-longest), because different topics may need "china" and
// "south china sea" at the same place; word boundaries are checked by the
// caller on each report, so the automaton itself knows nothing of words.
type automaton struct {
	class   [256]uint16 // byte -> equivalence class; 0 for bytes in no key
	stride  uint32      // number of classes
	trans   []uint32    // state*stride + class -> next state*stride, matchFlag set if it has outputs
	outIdx  []int32     // state -> start of its outputs in outs; outIdx[s+1] ends them
	outs    []int32     // key ids, the state's own and its suffixes'
	keyLens []int32
}

const matchFlag = 1 << 31

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

	a.trans = make([]uint32, len(delta))
	for i, nx := range delta {
		v := uint32(nx) * a.stride
		if len(nodes[nx].out) > 0 {
			v |= matchFlag
		}
		a.trans[i] = v
	}
	a.outIdx = make([]int32, len(nodes)+1)
	for s := range nodes {
		a.outIdx[s] = int32(len(a.outs))
		a.outs = append(a.outs, nodes[s].out...)
	}
	a.outIdx[len(nodes)] = int32(len(a.outs))
	return a
}

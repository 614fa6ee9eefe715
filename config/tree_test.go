package config

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// sourceList is a config with n feed sources, as an operator's long list.
func sourceList(n int) []byte {
	var b strings.Builder
	b.WriteString("topics:\n  - id: t\n    query: fentanyl\nsources:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - id: feed-%d\n    url: https://news%d.example.com/rss.xml\n    interval: 10m\n", i, i)
	}
	return []byte(b.String())
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestConfigDoesNotKeepItsYAMLTree: a loaded config costs about what its
// values take, not the parsed YAML behind them as well (the tree is
// several times the size of the values; it lived as long as the config).
func TestConfigDoesNotKeepItsYAMLTree(t *testing.T) {
	const n = 5000
	src := sourceList(n)
	before := heapAfterGC()
	c, err := Parse(src, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	kept := int64(heapAfterGC()) - int64(before)
	runtime.KeepAlive(c)
	if len(c.Sources) != n {
		t.Fatalf("%d sources, want %d", len(c.Sources), n)
	}
	// The values: a Source struct and its strings, well under 600 bytes here; the tree took ~1.4 KB more.
	if per := kept / n; per > 600 {
		t.Errorf("a parsed config keeps %d bytes a source (%d MB for %d sources)", per, kept>>20, n)
	}
}

// TestPositionsAfterTreeIsCollected: lines and positions in values are
// the same when the tree is parsed again, and a value put in by ${VAR}
// still has none.
func TestPositionsAfterTreeIsCollected(t *testing.T) {
	src := "topics:\n  - id: a\n    query: |\n      fentanyl AND\n        (china OR ZZ)\n  - id: b\n    query: ${Q}\n" +
		"sources:\n  - id: s\n    url: https://example.com/feed\n"
	c, err := Parse([]byte(src), env(map[string]string{"Q": "a AND b"}))
	if err != nil {
		t.Fatal(err)
	}
	type pos struct {
		line, col int
		ex        string
		ok        bool
	}
	at := func() (lines []int, ps []pos) {
		lines = append(lines, c.Line("sources", 0, "url"), c.Line("topics", 1), c.Line("nope"))
		off := strings.Index(c.Topics[0].Query, "ZZ")
		var p pos
		p.line, p.col, p.ex, p.ok = c.ValuePosition(off, "topics", 0, "query")
		ps = append(ps, p)
		p.line, p.col, p.ex, p.ok = c.ValuePosition(2, "topics", 1, "query")
		ps = append(ps, p)
		return lines, ps
	}
	lines, ps := at()
	if lines[0] != 10 || lines[1] != 6 || !ps[0].ok || ps[0].line != 5 || ps[1].ok || ps[1].line != 7 {
		t.Fatalf("before: lines %v, positions %+v", lines, ps)
	}
	runtime.GC()
	runtime.GC()
	if c.tree.weak.Value() != nil {
		t.Fatal("the tree was not collected; the test would not reach the parse again")
	}
	lines2, ps2 := at()
	if fmt.Sprint(lines2, ps2) != fmt.Sprint(lines, ps) {
		t.Errorf("after the tree was collected: %v %+v, before: %v %+v", lines2, ps2, lines, ps)
	}
}

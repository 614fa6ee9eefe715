package config

import (
	"sync"
	"weak"

	"go.yaml.in/yaml/v3"
)

// yamlTree is the parsed YAML behind a Config, for line numbers and
// positions in problems. The config keeps only a weak reference to it:
// the tree of a long source list costs ~3.5 KB a source (35 MB at 10,000
// sources) for as long as the process runs, and is wanted only while a
// config is checked. Once collected, it is parsed again from the file's
// bytes when asked for. A tree parsed again has ${VAR} references as
// written, not expanded, which is all lines and positions need.
type yamlTree struct {
	mu   sync.Mutex
	src  []byte
	weak weak.Pointer[yaml.Node]
}

func newYAMLTree(src []byte, root *yaml.Node) *yamlTree {
	return &yamlTree{src: src, weak: weak.Make(root)}
}

// root returns the tree, parsing it again if it was collected; nil when
// there is none.
func (t *yamlTree) root() *yaml.Node {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := t.weak.Value(); n != nil {
		return n
	}
	var n yaml.Node
	if err := yaml.Unmarshal(t.src, &n); err != nil {
		return nil
	}
	t.weak = weak.Make(&n)
	return &n
}

// wasExpanded reports whether n (of the tree as parsed, or as parsed
// again) is a scalar that ${VAR} or ${file:PATH} expansion changed.
func (c *Config) wasExpanded(n *yaml.Node) bool {
	if c.expandedNodes[n] != "" {
		return true
	}
	for e := range c.expandedNodes {
		if e.Line == n.Line && e.Column == n.Column {
			return true
		}
	}
	return false
}

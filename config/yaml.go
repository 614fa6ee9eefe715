package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var typeOfConfig = reflect.TypeOf(Config{})

var envRef = regexp.MustCompile(`\$\{(?:file:([^}]+)|([A-Za-z_][A-Za-z0-9_]*))\}`)

// A $NAME without braces is taken literally: as a whole value, or as a
// token of a URL or header, it was surely meant as ${NAME}.
var (
	bareWhole = regexp.MustCompile(`^\$([A-Z_][A-Z0-9_]*)$`)
	bareToken = regexp.MustCompile(`(?:^|[\s/:=@?&,])\$([A-Z_][A-Z0-9_]*)(?:$|[\s/:@?&#,.])`)
)

// tokenKeys are the keys whose values are checked for a $NAME token, not
// only a whole-value $NAME.
var tokenKeys = map[string]bool{"url": true, "callback_url": true, "headers": true}

// expansion records what expandEnv put into the document.
type expansion struct {
	values []string              // every value put in, for Expanded
	raw    map[*yaml.Node]string // expanded scalar: its text as written
	failed []Problem             // where a reference could not be expanded
}

// expandEnv replaces ${VAR} (from the environment) and ${file:PATH} (the
// file's content without its trailing newline; PATH relative to dir, as
// Docker and Kubernetes mount secrets) in every scalar value. Expansion
// happens after parsing, so a secret holding YAML syntax cannot change the
// document. It returns the values it put in, for redaction.
func expandEnv(n *yaml.Node, lookup func(string) (string, bool), dir string) (Problems, expansion) {
	var ps Problems
	x := expansion{raw: map[*yaml.Node]string{}}
	var walk func(n *yaml.Node, path, key string)
	walk = func(n *yaml.Node, path, key string) {
		if n.Kind == yaml.ScalarNode {
			ps = append(ps, bareRefs(n, path, key)...)
		}
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
			raw := n.Value
			failed := false
			n.Value = envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
				sub := envRef.FindStringSubmatch(m)
				if name := sub[1]; name != "" {
					file := name
					if !filepath.IsAbs(file) {
						file = filepath.Join(dir, file)
					}
					if abs, err := filepath.Abs(file); err == nil {
						file = abs
					}
					data, err := os.ReadFile(file)
					if err != nil {
						var pe *fs.PathError
						if errors.As(err, &pe) {
							err = pe.Err
						}
						failed = true
						ps = append(ps, Problem{Line: n.Line, Path: path, Msg: fmt.Sprintf("${file:%s}: cannot read %s: %v", name, file, err)})
						return ""
					}
					v := strings.TrimRight(string(data), "\r\n")
					x.values = append(x.values, v)
					return v
				}
				v, ok := lookup(sub[2])
				if !ok {
					failed = true
					ps = append(ps, Problem{Line: n.Line, Path: path, Msg: fmt.Sprintf("environment variable %s is not set", sub[2])})
				}
				x.values = append(x.values, v)
				return v
			})
			if raw != n.Value {
				x.raw[n] = raw
			}
			if failed {
				x.failed = append(x.failed, Problem{Line: n.Line, Path: path})
			}
			// An expanded value is a string whatever it looks like.
			n.Tag = "!!str"
			n.Style = yaml.DoubleQuotedStyle
		}
		for i, c := range n.Content {
			switch n.Kind {
			case yaml.MappingNode:
				if i%2 == 0 {
					continue // keys are never expanded
				}
				k := n.Content[i-1].Value
				p := k
				if path != "" {
					p = path + "." + k
				}
				if key == "headers" {
					k = key // a header's value is checked as headers are
				}
				walk(c, p, k)
			case yaml.SequenceNode:
				walk(c, path+"["+strconv.Itoa(i)+"]", key)
			default:
				walk(c, path, key)
			}
		}
	}
	walk(n, "", "")
	return ps, x
}

// bareRefs reports $NAME where ${NAME} was meant: a whole value anywhere,
// or a token of a URL or header value. Only the name is echoed.
func bareRefs(n *yaml.Node, path, key string) Problems {
	if n.Style != 0 && n.Style != yaml.DoubleQuotedStyle && n.Style != yaml.SingleQuotedStyle {
		return nil // block scalars: queries and templates, not references
	}
	var names []string
	if m := bareWhole.FindStringSubmatch(n.Value); m != nil {
		names = append(names, m[1])
	} else if tokenKeys[key] {
		for _, m := range bareToken.FindAllStringSubmatch(n.Value, -1) {
			names = append(names, m[1])
		}
	}
	var ps Problems
	for _, name := range names {
		ps = append(ps, Problem{Line: n.Line, Path: path, Msg: fmt.Sprintf("$%s is taken literally: did you mean ${%s}?", name, name)})
	}
	return ps
}

// afterFailedExpansion reports whether p only repeats that a reference
// could not be expanded: a check of the value it left empty.
func (x expansion) afterFailedExpansion(p Problem) bool {
	for _, f := range x.failed {
		if p.Path == "" && p.Line == f.Line {
			return true // a type error of the emptied value
		}
		if p.Path == f.Path || strings.HasPrefix(p.Path, f.Path+".") || strings.HasPrefix(p.Path, f.Path+"[") {
			return true
		}
	}
	return false
}

// unknownKeys reports mapping keys that match no field of t, with the
// nearest known key as a hint.
func unknownKeys(n *yaml.Node, t reflect.Type, path string) Problems {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var ps Problems
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeOf(time.Time{}) {
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return nil // a type error, reported by Decode
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if isMergeKey(k) {
				// "<<: *defaults": the merged keys are this mapping's.
				for _, m := range mergedMaps(v) {
					ps = append(ps, unknownKeys(m, t, path)...)
				}
				continue
			}
			if path == "" && strings.HasPrefix(k.Value, extensionPrefix) {
				continue
			}
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			ft, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("unknown key %q", k.Value)
				if s := nearest(k.Value, fields); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else if homes := keyHomes(k.Value); len(homes) > 0 && len(homes) <= 3 {
					msg += fmt.Sprintf(" here (it belongs under %s)", orList(homes))
				}
				ps = append(ps, Problem{Line: k.Line, Path: p, Msg: msg})
				continue
			}
			ps = append(ps, unknownKeys(v, ft, p)...)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			ps = append(ps, unknownKeys(c, t.Elem(), path+"["+strconv.Itoa(i)+"]")...)
		}
	}
	return ps
}

// extensionPrefix starts the top-level keys newswatch ignores, a place
// for YAML anchors shared by other keys ("x-defaults: &defaults"), as in
// Compose files.
const extensionPrefix = "x-"

// isMergeKey reports whether k is YAML's merge key ("<<").
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.Tag == "!!merge")
}

// mergedMaps returns the mappings a merge key's value v brings in: a
// mapping, an alias of one, or a list of those.
func mergedMaps(v *yaml.Node) []*yaml.Node {
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{v}
	case yaml.SequenceNode:
		var ms []*yaml.Node
		for _, c := range v.Content {
			ms = append(ms, mergedMaps(c)...)
		}
		return ms
	}
	return nil
}

// yamlFields maps the keys of struct type t to their types, the keys of
// its inlined structs (`yaml:",inline"`) included.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.Anonymous && tag == "" && opts == "inline" && f.Type.Kind() == reflect.Struct {
			for k, ft := range yamlFields(f.Type) {
				fields[k] = ft
			}
			continue
		}
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		fields[tag] = f.Type
	}
	return fields
}

// nearest returns the known key closest to k, if it is close enough to be
// a plausible typo.
func nearest(k string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	return Nearest(k, names)
}

// Nearest returns the name closest to k, if it is close enough to be a
// plausible typo of it.
func Nearest(k string, names []string) string {
	best, bestD := "", 1<<30
	for _, name := range names {
		if d := levenshtein(strings.ToLower(k), name); d < bestD {
			best, bestD = name, d
		}
	}
	if bestD <= 2 || (bestD <= len(k)/3) {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

var lineRe = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

func lineFromMsg(msg string) int {
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

func stripLine(msg string) string { return lineRe.ReplaceAllString(msg, "") }

func yamlErrLine(err error) int { return lineFromMsg(err.Error()) }

func cleanYAMLErr(err error) string { return stripLine(err.Error()) }

// Redact puts back the text as written (${VAR}, ${file:PATH}) wherever a
// problem's message shows a value the config took from the environment or
// a file, so that check and reload errors never print a secret. Values
// under four characters are replaced only where quoted: bare, they would
// mangle unrelated words and numbers, and they are no secrets.
func (c *Config) Redact(ps Problems) Problems {
	if len(c.expandedNodes) == 0 && len(c.expanded) == 0 {
		return ps
	}
	var pairs []string
	addPair := func(value, with string) {
		if value == "" {
			return
		}
		pairs = append(pairs, strconv.Quote(value), strconv.Quote(with), "`"+value+"`", "`"+with+"`")
		if len(value) >= 4 {
			pairs = append(pairs, value, with)
		}
	}
	for n, raw := range c.expandedNodes {
		addPair(n.Value, raw)
	}
	for _, v := range c.expanded {
		addPair(v, "[redacted]")
	}
	// Longest first, so that a whole value wins over a part of it; one
	// pass, so that text put in is never replaced again.
	type pair struct{ old, new string }
	ordered := make([]pair, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		ordered = append(ordered, pair{pairs[i], pairs[i+1]})
	}
	slices.SortStableFunc(ordered, func(a, b pair) int { return len(b.old) - len(a.old) })
	flat := make([]string, 0, len(pairs))
	for _, p := range ordered {
		flat = append(flat, p.old, p.new)
	}
	r := strings.NewReplacer(flat...)
	out := make(Problems, len(ps))
	for i, p := range ps {
		p.Msg = r.Replace(p.Msg)
		// yaml.v3 type errors show a long value cut short: `SEKRIT0...`.
		if p.Path == "" {
			for n, raw := range c.expandedNodes {
				if n.Line == p.Line {
					p.Msg = backticked.ReplaceAllLiteralString(p.Msg, "`"+raw+"`")
				}
			}
		}
		out[i] = p
	}
	return out
}

var backticked = regexp.MustCompile("`[^`]*`")

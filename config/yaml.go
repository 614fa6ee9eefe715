package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var typeOfConfig = reflect.TypeOf(Config{})

var envRef = regexp.MustCompile(`\$\{(?:file:([^}]+)|([A-Za-z_][A-Za-z0-9_]*))\}`)

// expandEnv replaces ${VAR} (from the environment) and ${file:PATH} (the
// file's content without its trailing newline; PATH relative to dir, as
// Docker and Kubernetes mount secrets) in every scalar value. Expansion
// happens after parsing, so a secret holding YAML syntax cannot change the
// document. It returns the values it put in, for redaction.
func expandEnv(n *yaml.Node, lookup func(string) (string, bool), dir string) (Problems, []string) {
	var ps Problems
	var values []string
	var walk func(n *yaml.Node, isKey bool)
	walk = func(n *yaml.Node, isKey bool) {
		if n.Kind == yaml.ScalarNode && !isKey && strings.Contains(n.Value, "${") {
			n.Value = envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
				sub := envRef.FindStringSubmatch(m)
				if path := sub[1]; path != "" {
					if !filepath.IsAbs(path) {
						path = filepath.Join(dir, path)
					}
					data, err := os.ReadFile(path)
					if err != nil {
						ps = append(ps, Problem{Line: n.Line, Msg: fmt.Sprintf("read secret file: %v", err)})
						return ""
					}
					v := strings.TrimRight(string(data), "\r\n")
					values = append(values, v)
					return v
				}
				v, ok := lookup(sub[2])
				if !ok {
					ps = append(ps, Problem{Line: n.Line, Msg: fmt.Sprintf("environment variable %s is not set", sub[2])})
				}
				values = append(values, v)
				return v
			})
			// An expanded value is a string whatever it looks like.
			n.Tag = "!!str"
			n.Style = yaml.DoubleQuotedStyle
		}
		for i, c := range n.Content {
			walk(c, n.Kind == yaml.MappingNode && i%2 == 0)
		}
	}
	walk(n, false)
	return ps, values
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
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			fields[tag] = f.Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			ft, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("unknown key %q", k.Value)
				if s := nearest(k.Value, fields); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
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

// nearest returns the known key closest to k, if it is close enough to be
// a plausible typo.
func nearest(k string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
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

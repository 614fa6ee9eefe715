package config

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// typeProblems finds the values under n that do not decode into their
// field of type t, and says for each, at its key, what was expected and
// how to write it. yaml.v3's own TypeError names neither the key nor the
// fix ("cannot unmarshal !!str `1 minute` into time.Duration").
//
// Each leaf is decoded on its own into a fresh value of its field's type,
// so the verdict is the decoder's own, custom unmarshalers included.
func typeProblems(n *yaml.Node, t reflect.Type, path string) Problems {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		return aliasProblems(n, t, path)
	}
	if n.Tag == "!!null" {
		return nil
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		return leafProblem(n, t, path)
	}
	var ps Problems
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeFor[time.Time]() {
			return leafProblem(n, t, path)
		}
		fields := yamlFields(t)
		if n.Kind != yaml.MappingNode {
			msg := "expected keys and values (key: value, one per line below it), found " + describe(n)
			if _, ok := fields["url"]; ok && n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "://") {
				// A list of bare URLs, as in other feed readers' configs.
				if _, ok := fields["id"]; ok {
					msg += fmt.Sprintf(": write {id: NAME, url: %s}", n.Value)
				}
			}
			return Problems{{Line: n.Line, Path: path, Msg: msg, decode: true}}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if isMergeKey(k) {
				for _, m := range mergedMaps(v) {
					ps = append(ps, typeProblems(m, t, path)...)
				}
				continue
			}
			if ft, ok := fields[k.Value]; ok {
				ps = append(ps, typeProblems(v, ft, joinPath(path, k.Value))...)
			}
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return leafProblem(n, t, path)
		}
		if n.Kind != yaml.SequenceNode {
			msg := "expected a list, found " + describe(n)
			if n.Kind == yaml.ScalarNode && n.Value != "" {
				msg += fmt.Sprintf(": write [%s]", n.Value)
			}
			return Problems{{Line: n.Line, Path: path, Msg: msg, decode: true}}
		}
		for i, c := range n.Content {
			ps = append(ps, typeProblems(c, t.Elem(), path+"["+strconv.Itoa(i)+"]")...)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return Problems{{Line: n.Line, Path: path, Msg: "expected keys and values (key: value), found " + describe(n), decode: true}}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			ps = append(ps, typeProblems(n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value))...)
		}
	default:
		return leafProblem(n, t, path)
	}
	return ps
}

// leafProblem decodes n alone into a value of type t and, if the decoder
// refuses it, says what t wants.
// aliasProblems checks the value an alias (*name) stands for against the
// type of the key it is written at, and reports its problems there, since
// the same anchored value may be right at one key and wrong at another.
// (The decoder has expanded the same aliases before, within its limits.)
func aliasProblems(n *yaml.Node, t reflect.Type, path string) Problems {
	if n.Alias == nil {
		return nil
	}
	ps := typeProblems(n.Alias, t, path)
	for i := range ps {
		if ps[i].anchorLine == 0 {
			ps[i].anchorLine = ps[i].Line
		}
		ps[i].Msg += fmt.Sprintf(" (through *%s, the value of &%s on line %d)", n.Value, n.Value, n.Alias.Line)
		ps[i].Line, ps[i].Column = n.Line, n.Column
	}
	return ps
}

func leafProblem(n *yaml.Node, t reflect.Type, path string) Problems {
	err := n.Decode(reflect.New(t).Interface())
	var te *yaml.TypeError
	if err == nil || !errors.As(err, &te) {
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return Problems{{Line: n.Line, Path: path, Msg: fmt.Sprintf("expected %s, found %s", want(t), describe(n)), decode: true}}
	}
	msg := fmt.Sprintf("%q is not %s", n.Value, want(t))
	switch {
	case t == reflect.TypeFor[time.Duration]():
		msg += ": write a number with a unit, e.g. 30s, 10m or 1h30m"
		if s := durationHint(n.Value); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
	case t.Kind() == reflect.Bool:
		msg += ": write true or false"
	}
	return Problems{{Line: n.Line, Path: path, Msg: msg, decode: true}}
}

// want names what a value of type t is written as.
func want(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration"
	case t == reflect.TypeFor[time.Time]():
		return "a time (RFC 3339, e.g. 2026-01-02T15:04:05Z)"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a single value (text)"
	case reflect.Slice:
		return "a list"
	}
	return "a value of the right kind"
}

// describe names what the YAML has at n, for "found ...".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "keys and values"
	}
	return strconv.Quote(n.Value)
}

var spelledDuration = regexp.MustCompile(`^(\d+)\s*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)$`)

// durationHint turns a duration written in words or with a unit Go does
// not know ("1 minute", "2 days", "7d") into Go's form ("1m", "48h",
// "168h"); it returns "" when it cannot.
func durationHint(v string) string {
	m := spelledDuration.FindStringSubmatch(strings.ToLower(strings.TrimSpace(v)))
	if m == nil {
		return ""
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return ""
	}
	hint := ""
	switch m[2][0] {
	case 's':
		hint = m[1] + "s"
	case 'm':
		hint = m[1] + "m"
	case 'h':
		hint = m[1] + "h"
	case 'd':
		hint = strconv.Itoa(24*n) + "h"
	case 'w':
		hint = strconv.Itoa(7*24*n) + "h"
	}
	// Never propose what the decoder would refuse in turn (too long).
	if _, err := time.ParseDuration(hint); err != nil {
		return ""
	}
	return hint
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// coveredBy reports whether p is about a value already reported as of the
// wrong type in decoded: a check of what the decoder left empty.
func coveredBy(p Problem, decoded Problems) bool {
	if p.decode {
		return false
	}
	for _, d := range decoded {
		if p.Path == d.Path || strings.HasPrefix(p.Path, d.Path+".") || strings.HasPrefix(p.Path, d.Path+"[") {
			return true
		}
	}
	return false
}

// keyHomes lists where in the config key is a known key ("fetch",
// "sources[]"; "the top level"), for a key written at the wrong level.
func keyHomes(key string) []string {
	var homes []string
	var walk func(t reflect.Type, path string, depth int)
	walk = func(t reflect.Type, path string, depth int) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			if t.Kind() == reflect.Slice {
				path += "[]"
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Time]() || depth > 6 {
			return
		}
		fields := yamlFields(t)
		if _, ok := fields[key]; ok {
			homes = append(homes, cmp.Or(path, "the top level"))
		}
		names := make([]string, 0, len(fields))
		for name := range fields {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			walk(fields[name], joinPath(path, name), depth+1)
		}
	}
	walk(typeOfConfig, "", 0)
	return homes
}

package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

const schemaPath = "../docs/config.schema.json"

func readSchema(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	return doc
}

// TestSchemaMatchesStructs walks the Go structs by their yaml tags and the
// schema side by side: every key of the structs is in the schema with a
// matching type and a description, the schema has no key the structs
// lack, and every object rejects unknown keys as config.Load does.
func TestSchemaMatchesStructs(t *testing.T) {
	checkSchema(t, "", reflect.TypeFor[Config](), readSchema(t))
}

func schemaTypes(node map[string]any) []string {
	switch v := node["type"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func checkSchema(t *testing.T, path string, typ reflect.Type, node map[string]any) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	where := path
	if where == "" {
		where = "(root)"
	}
	types := schemaTypes(node)
	want := ""
	switch {
	case typ == reflect.TypeFor[time.Duration]():
		want = "string"
	case typ.Kind() == reflect.Struct, typ.Kind() == reflect.Map:
		want = "object"
	case typ.Kind() == reflect.Slice:
		want = "array"
	case typ.Kind() == reflect.String:
		want = "string"
	case typ.Kind() == reflect.Bool:
		want = "boolean"
	case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Uint64:
		want = "integer"
	case typ.Kind() == reflect.Float32 || typ.Kind() == reflect.Float64:
		want = "number"
	default:
		t.Errorf("%s: Go type %s has no schema mapping in this test", where, typ)
		return
	}
	if !slices.Contains(types, want) {
		t.Errorf("%s: schema type %v, want %q (Go %s)", where, types, want, typ)
	}
	if path != "" {
		if d, _ := node["description"].(string); strings.TrimSpace(d) == "" {
			t.Errorf("%s: no description in the schema (editors show it)", where)
		}
	}
	switch {
	case typ == reflect.TypeFor[time.Duration]():
	case typ.Kind() == reflect.Struct:
		if node["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties must be false: unknown keys are errors", where)
		}
		props, _ := node["properties"].(map[string]any)
		seen := map[string]bool{}
		for _, f := range inlined(typ) {
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if !f.IsExported() || tag == "" || tag == "-" {
				continue
			}
			seen[tag] = true
			p := tag
			if path != "" {
				p = path + "." + tag
			}
			sub, ok := props[tag].(map[string]any)
			if !ok {
				t.Errorf("%s (%s.%s) is missing from %s: add it", p, typ.Name(), f.Name, schemaPath)
				continue
			}
			checkSchema(t, p, f.Type, sub)
		}
		var extra []string
		for k := range props {
			if !seen[k] {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
		for _, k := range extra {
			t.Errorf("%s.%s is in %s but not in the Go struct %s", where, k, schemaPath, typ.Name())
		}
	case typ.Kind() == reflect.Slice:
		items, ok := node["items"].(map[string]any)
		if !ok {
			t.Errorf("%s: array without items", where)
			return
		}
		checkSchemaElem(t, path+"[]", typ.Elem(), items)
	case typ.Kind() == reflect.Map:
		ap, ok := node["additionalProperties"].(map[string]any)
		if !ok {
			t.Errorf("%s: map without an additionalProperties schema", where)
			return
		}
		checkSchemaElem(t, path+".*", typ.Elem(), ap)
	}
}

// inlined lists the fields of a struct with those of its inlined
// structs (`yaml:",inline"`) in their place, as YAML sees them.
func inlined(typ reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous && f.Tag.Get("yaml") == ",inline" {
			out = append(out, inlined(f.Type)...)
			continue
		}
		out = append(out, f)
	}
	return out
}

// checkSchemaElem checks a list item or map value, which need no
// description of their own when they are scalars.
func checkSchemaElem(t *testing.T, path string, typ reflect.Type, node map[string]any) {
	t.Helper()
	if typ.Kind() == reflect.Struct {
		checkSchema(t, path, typ, node)
		return
	}
	if _, ok := node["description"]; !ok {
		node = maps(node, "description", "element")
	}
	checkSchema(t, path, typ, node)
}

func maps(m map[string]any, k string, v any) map[string]any {
	c := make(map[string]any, len(m)+1)
	for kk, vv := range m {
		c[kk] = vv
	}
	c[k] = v
	return c
}

func compileConfigSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("config.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("config.schema.json")
	if err != nil {
		t.Fatalf("%s does not compile: %v", schemaPath, err)
	}
	return s
}

// yamlInstance turns YAML into the JSON value a schema validates.
func yamlInstance(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// The documented configs validate against the schema, and the schema
// rejects what config.Load rejects for shape.
func TestSchemaValidatesDocumentedConfigs(t *testing.T) {
	s := compileConfigSchema(t)
	for _, path := range []string{"../config.yaml", "../cmd/newswatch/starter.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(yamlInstance(t, data)); err != nil {
			t.Errorf("%s does not validate against %s: %v", path, schemaPath, err)
		}
	}
	for name, bad := range map[string]string{
		"unknown top-level key": "sourcez: []\n",
		"unknown nested key":    "http: {listen: ':8080', auth: {bearer: x}}\n",
		"bad log level":         "log: {level: loud}\n",
		"bad source id":         "sources: [{id: Bad_ID, url: 'https://x'}]\n",
		"bad subscriber type":   "subscribers: [{id: a, type: pigeon}]\n",
		"bad duration":          "fetch: {interval: ten minutes}\n",
	} {
		if err := s.Validate(yamlInstance(t, []byte(bad))); err == nil {
			t.Errorf("%s: the schema accepts %q", name, bad)
		}
	}
	good := "http:\n  listen: 127.0.0.1:8080\n  auth:\n    basic: {username: ops, password: x}\n    bearer_token: y\nfetch: {interval: 90s, timeout: 1m30s}\n"
	if err := s.Validate(yamlInstance(t, []byte(good))); err != nil {
		t.Errorf("the schema rejects %q: %v", good, err)
	}
}

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestDocumentedExamples loads every YAML example of the README and the
// operations guide: each must parse, use only known keys with the right
// types, and validate against the schema. Examples are fragments, so
// cross-references (a subscriber's topic defined elsewhere) are not
// checked.
func TestDocumentedExamples(t *testing.T) {
	s := compileConfigSchema(t)
	env := func(string) (string, bool) { return "from-env", true }
	for _, path := range []string{"../README.md", "../docs/operations.md", "../docs/webhooks.md", "../docs/delivery.md"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		blocks := yamlBlock.FindAllSubmatch(data, -1)
		for i, m := range blocks {
			var probe any
			if err := yaml.Unmarshal(m[1], &probe); err != nil {
				t.Errorf("%s, YAML example %d does not parse: %v\n%s", path, i+1, err, m[1])
				continue
			}
			if probe == nil {
				continue // only comments, e.g. an editor modeline
			}
			if err := s.Validate(yamlInstance(t, m[1])); err != nil {
				t.Errorf("%s, YAML example %d does not match the schema: %v", path, i+1, err)
			}
			_, err := Parse(m[1], env)
			var ps Problems
			if err != nil && !errors.As(err, &ps) {
				t.Errorf("%s, YAML example %d: %v", path, i+1, err)
			}
			for _, p := range ps {
				if strings.HasPrefix(p.Msg, "unknown key") || p.decode {
					t.Errorf("%s, YAML example %d: %s", path, i+1, p)
				}
			}
		}
	}
}

// TestSchemaBounds: the schema states the same integer bounds as
// validateBounds, so editors refuse what check refuses.
func TestSchemaBounds(t *testing.T) {
	doc := readSchema(t)
	at := func(path ...string) map[string]any {
		n := doc
		for _, p := range path {
			next, ok := n[p].(map[string]any)
			if !ok {
				t.Fatalf("schema has no %v", path)
			}
			n = next
		}
		return n
	}
	for _, tt := range []struct {
		path []string
		max  float64
	}{
		{[]string{"properties", "fetch", "properties", "workers"}, MaxWorkers},
		{[]string{"properties", "fetch", "properties", "per_host"}, MaxPerHost},
		{[]string{"properties", "fetch", "properties", "max_body_bytes"}, MaxMaxBodyBytes},
		{[]string{"properties", "nats", "properties", "replicas"}, MaxReplicas},
		{[]string{"properties", "topics", "items", "properties", "min_score"}, MaxMinScore},
		{[]string{"properties", "topics", "items", "properties", "weights", "additionalProperties"}, MaxWeight},
		{[]string{"properties", "subscribers", "items", "properties", "retry", "properties", "attempts"}, MaxAttempts},
		{[]string{"properties", "subscribers", "items", "properties", "max_per_hour"}, MaxPerHourCap},
		{[]string{"properties", "smtp", "properties", "port"}, 65535},
		{[]string{"properties", "events", "properties", "source_failing_after"}, MaxAttempts},
	} {
		if got := at(tt.path...)["maximum"]; got != tt.max {
			t.Errorf("%s: maximum %v, want %v", strings.Join(tt.path, "."), got, tt.max)
		}
	}
}

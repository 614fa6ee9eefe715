package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestSinkTypeSwitchInOnePlace fails when code outside the kind tables
// compares a subscriber type name (== "webhook", case "email"): each
// type's parts belong in its entry of sinkKinds and of notifier's kinds,
// so that adding a type touches those two places only.
func TestSinkTypeSwitchInOnePlace(t *testing.T) {
	if hits := sinkTypeComparisons(t, ".."); len(hits) > 0 {
		t.Errorf("subscriber types compared outside the kind tables:\n%s", strings.Join(hits, "\n"))
	}
}

// sinkTypeComparisons lists, as file:line, every comparison and case
// clause against a sink type name in the non-test Go files under root.
func sinkTypeComparisons(t *testing.T, root string) []string {
	t.Helper()
	names := SinkKinds()
	isName := func(e ast.Expr) bool {
		lit, ok := e.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return false
		}
		s, err := strconv.Unquote(lit.Value)
		return err == nil && slices.Contains(names, s)
	}
	var hits []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var found ast.Expr
			switch n := n.(type) {
			case *ast.BinaryExpr:
				if (n.Op == token.EQL || n.Op == token.NEQ) && (isName(n.X) || isName(n.Y)) {
					found = n
				}
			case *ast.CaseClause:
				if i := slices.IndexFunc(n.List, isName); i >= 0 {
					found = n.List[i]
				}
			}
			if found != nil {
				hits = append(hits, fset.Position(found.Pos()).String())
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestSinkKindsInSchema keeps the schema's list of subscriber types, which
// editors offer, the list config accepts.
func TestSinkKindsInSchema(t *testing.T) {
	doc := readSchema(t)
	sub := dig(t, doc, "properties", "subscribers", "items", "properties", "type")
	var enum []string
	for _, v := range sub["enum"].([]any) {
		enum = append(enum, v.(string))
	}
	if !slices.Equal(enum, SinkKinds()) {
		t.Errorf("schema subscribers[].type enum %v, config kinds %v", enum, SinkKinds())
	}
}

func dig(t *testing.T, node map[string]any, keys ...string) map[string]any {
	t.Helper()
	for _, k := range keys {
		next, ok := node[k].(map[string]any)
		if !ok {
			t.Fatalf("schema has no %s", strings.Join(keys, "."))
		}
		node = next
	}
	return node
}

func TestSinkKindsOrList(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, ""}, {[]string{"a"}, "a"}, {[]string{"a", "b"}, "a or b"}, {[]string{"a", "b", "c"}, "a, b or c"},
	} {
		if got := orList(tc.in); got != tc.want {
			t.Errorf("orList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := orList(SinkKinds()); got != "webhook or email" {
		t.Errorf("check names the types %q, as it always has: webhook or email", got)
	}
}

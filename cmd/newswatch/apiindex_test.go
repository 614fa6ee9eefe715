package main

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// routeLiteral is a route or request path in Go source: "GET /api/x",
// "POST /-/reload", or a bare "/api/x" (a route map key, a client call).
var routeLiteral = regexp.MustCompile(`"(?:(GET|POST|PUT|PATCH|DELETE) )?(/api(?:/[^"\s]*)?|/-/[^"\s]*)"`)

// apiRoutesInSource are the API routes and paths the project's Go code
// (tests left out) names, as "METHOD path" or a bare path.
func apiRoutesInSource(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || n == "fixtures" || strings.HasPrefix(n, ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range routeLiteral.FindAllStringSubmatch(string(src), -1) {
			p := strings.TrimSuffix(m[2], "{$}")
			if p == "/api/" {
				p = "/api"
			}
			out[strings.TrimSpace(m[1]+" "+p)] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The daemon's GET /api lists every API route the code registers or
// calls, each with a line of words: a route added without its entry in
// the index fails here.
func TestAPIIndexListsEveryRoute(t *testing.T) {
	t.Setenv("NW_STATUS_PW", opsPass)
	dir := t.TempDir()
	d := startDaemon(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http": map[string]any{"listen": "127.0.0.1:0", "auth": map[string]any{
			"basic": map[string]any{"username": opsUser, "password": "${NW_STATUS_PW}"}, "bearer_token": opsToken}},
		"topics": []any{map[string]any{"id": "t", "query": "x"}},
	})
	if code, _ := d.do(t, "GET", "/api", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api without auth = %d, want 401", code)
	}
	code, body := d.do(t, "GET", "/api/", bearer())
	if code != http.StatusOK {
		t.Fatalf("GET /api/ = %d\n%s", code, body)
	}
	var index struct {
		Endpoints []struct{ Method, Path, Description string }
	}
	if err := json.Unmarshal([]byte(body), &index); err != nil {
		t.Fatalf("GET /api/: %v\n%s", err, body)
	}
	listed := map[string]bool{}
	paths := map[string]bool{}
	for _, e := range index.Endpoints {
		listed[e.Method+" "+e.Path] = true
		paths[e.Path] = true
		if e.Description == "" {
			t.Errorf("%s %s is listed without a description (web.apiDescriptions)", e.Method, e.Path)
		}
	}
	found := apiRoutesInSource(t, filepath.Join("..", ".."))
	if len(found) < 10 {
		t.Fatalf("only %d API routes found in the source: %v", len(found), found)
	}
	for route, file := range found {
		var ok bool
		switch {
		case strings.Contains(route, " "):
			ok = listed[route]
		case strings.HasSuffix(route, "/"):
			// The start of a path built at run time: "/-/subscribers/"+id+"/enable".
			for p := range paths {
				ok = ok || strings.HasPrefix(p, route)
			}
		default:
			ok = paths[route]
		}
		if !ok {
			t.Errorf("%s (%s) is not in the index GET /api serves:\n%s", route, file, body)
		}
	}
}

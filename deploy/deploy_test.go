// Package deploy holds newswatch's deployment files (container image,
// compose, systemd, Kubernetes) and tests that check what can be checked
// without Docker, a cluster or a booted systemd: the files parse, reference
// the right image, ports, probes and config, and use only real option names.
//
// Each checker returns a list of problems; the tests run it on the real
// files (expecting none) and on copies with one thing broken (expecting
// that problem), so every check is shown to be able to fail.
package deploy

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"newswatch/classifier"
	"newswatch/config"
)

// problems collects what a checker found wrong.
type problems []string

func (p *problems) addf(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

// expectClean fails the test for every problem.
func expectClean(t *testing.T, ps problems) {
	t.Helper()
	for _, p := range ps {
		t.Error(p)
	}
}

// expectProblem fails unless some problem contains want.
func expectProblem(t *testing.T, ps problems, want string) {
	t.Helper()
	for _, p := range ps {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Errorf("no problem mentions %q; got %d:\n  %s", want, len(ps), strings.Join(ps, "\n  "))
}

// copyTree copies the files under src into a new temporary directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// mutate replaces old with new in dir/file, failing if old is absent (so a
// mutation test cannot silently stop testing anything).
func mutate(t *testing.T, dir, file, old, new string) {
	t.Helper()
	path := filepath.Join(dir, file)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("mutation: %s does not contain %q", file, old)
	}
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(data), old, new)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// parseConfig validates a newswatch config against the config package, with
// ${VAR} resolved from env only.
func parseConfig(data []byte, env map[string]string) (*config.Config, error) {
	return config.Parse(data, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

// imageRepo is an image reference's repository name without registry, tag
// or digest: "registry.example/team/newswatch:1.0" -> "newswatch".
func imageRepo(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	if i := strings.Index(ref, ":"); i >= 0 {
		ref = ref[:i]
	}
	return ref
}

// imageTag is the tag of an image reference ("" when it has none).
func imageTag(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	if i := strings.Index(ref, ":"); i >= 0 {
		return ref[i+1:]
	}
	return ""
}

// runArgs checks that args are "run -config <path> [-roles r,...]" and
// returns the config path.
func runArgs(args []string, ps *problems, where string) string {
	if len(args) < 3 || args[0] != "run" {
		ps.addf("%s: command %q does not start with run -config <file>", where, args)
		return ""
	}
	cfg := ""
	for i := 1; i < len(args); i++ {
		switch a := strings.TrimLeft(args[i], "-"); {
		case !strings.HasPrefix(args[i], "-"):
			ps.addf("%s: unexpected argument %q", where, args[i])
		case a == "config" && i+1 < len(args):
			cfg = args[i+1]
			i++
		case a == "roles" && i+1 < len(args):
			for _, r := range strings.Split(args[i+1], ",") {
				switch r {
				case "scheduler", "fetcher", "classifier", "notifier":
				default:
					ps.addf("%s: unknown role %q", where, r)
				}
			}
			i++
		default:
			ps.addf("%s: unknown flag %q", where, args[i])
		}
	}
	if cfg == "" {
		ps.addf("%s: command %q has no -config <file>", where, args)
	}
	return cfg
}

// checkContainerConfig checks what a config needs inside a container:
// topics that compile, an absolute data_dir and an HTTP listener on port 8080 reachable from
// outside the container.
func checkContainerConfig(c *config.Config, ps *problems, where string) {
	if _, err := classifier.New(c.Topics); err != nil {
		ps.addf("%s: topics do not compile: %v", where, err)
	}
	if !filepath.IsAbs(c.DataDir) {
		ps.addf("%s: data_dir %q should be absolute (/var/lib/newswatch)", where, c.DataDir)
	}
	host, port, err := net.SplitHostPort(c.HTTP.Listen)
	if err != nil {
		ps.addf("%s: http.listen %q: %v", where, c.HTTP.Listen, err)
		return
	}
	if port != "8080" {
		ps.addf("%s: http.listen %q is not on port 8080", where, c.HTTP.Listen)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		ps.addf("%s: http.listen %q is loopback only; probes cannot reach it", where, c.HTTP.Listen)
	}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// envRefs lists the ${VAR} names in a config text.
func envRefs(data []byte) []string {
	var names []string
	for _, m := range envRef.FindAllSubmatch(data, -1) {
		names = append(names, string(m[1]))
	}
	return names
}

// splitHostPort splits "host:port" with a numeric port.
func splitHostPort(s string) (string, int, bool) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, false
	}
	n, err := strconv.Atoi(p)
	return h, n, err == nil
}

// TestDeployTopicsMatchDefault: the deploy configs carry the same topics as
// the repository's documented default config.yaml.
func TestDeployTopicsMatchDefault(t *testing.T) {
	data, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Skip("no ../config.yaml to compare with")
	}
	dummy := map[string]string{}
	for _, n := range envRefs(data) {
		dummy[n] = "x"
	}
	def, err := parseConfig(data, dummy)
	if err != nil {
		t.Skipf("../config.yaml does not validate (%v); not comparing", err)
	}
	want := topicsOf(def)

	cluster, err := os.ReadFile("config.cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	configs := k8sConfigs(t)
	configs["config.cluster.yaml"] = cluster
	for name, data := range configs {
		env := map[string]string{}
		for _, n := range envRefs(data) {
			env[n] = "x"
		}
		// Validity is TestCompose's and TestKubernetes' business; here
		// only the topics count.
		c, _ := parseConfig(data, env)
		if c == nil {
			t.Errorf("%s does not parse", name)
			continue
		}
		if got := topicsOf(c); got != want {
			t.Errorf("%s has other topics than config.yaml: keep them in step\n%s\nconfig.yaml:\n%s", name, got, want)
		}
	}
}

// topicsOf prints the topics: ids, names, queries, scores and weights.
func topicsOf(c *config.Config) string {
	var b strings.Builder
	for _, tp := range c.Topics {
		fmt.Fprintf(&b, "%s %q %q min_score=%v weights=%v story_window=%v\n", tp.ID, tp.Name, tp.Query, tp.MinScore, tp.Weights, *tp.StoryWindow)
	}
	return b.String()
}

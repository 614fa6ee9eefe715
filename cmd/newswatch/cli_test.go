package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/internal/fixture"
	"newswatch/internal/harness"
	"newswatch/internal/logtest"
	"newswatch/web"

	"github.com/nats-io/nats.go/jetstream"
)

func TestHelpOnEveryCommand(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "version" {
				return // takes no flags
			}
			code, out, errs := runCLI(t, c.name, "-help")
			if code != 0 || !strings.Contains(out+errs, "Usage: newswatch "+c.name) {
				t.Errorf("%s -help: exit %d, output %q", c.name, code, out+errs)
			}
		})
	}
	if code, out, _ := runCLI(t, "--help"); code != 0 || !strings.Contains(out, "Commands:") ||
		!strings.Contains(out, "Every command but version reads -config FILE (default config.yaml).") || !strings.Contains(out, "First time: newswatch init && newswatch check && newswatch run") {
		t.Errorf("--help: %d %q", code, out)
	}
	if code, _, errs := runCLI(t, "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: %d %q", code, errs)
	}
}

func TestCheck(t *testing.T) {
	if code, out, errs := runCLI(t, "check", "-config", "../../config.yaml"); code != 0 {
		t.Errorf("check of the repo config: %d %s %s", code, out, errs)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	bad := "sources:\n  - id: a\n    url: https://e.org/rss\n    intervall: 5m\ntopics:\n  - id: t\n    query: 'fentanyl AND (china'\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "check", "-config", path)
	if code == 0 {
		t.Fatal("check passed a broken config")
	}
	for _, want := range []string{path + ":4: sources[0].intervall: unknown key", path + ":7: topics[0].query:", "2 problems"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
}

func TestExplainAndClassify(t *testing.T) {
	seed := fixture.Path(t, "seed-article.txt")
	code, out, errs := runCLI(t, "explain", "-config", "../../config.yaml", seed)
	if code != 0 || !strings.Contains(out, "fentanyl (") || !strings.Contains(out, "«fentanyl»") {
		t.Errorf("explain: %d %q %s", code, out, errs)
	}
	code, out, _ = runCLI(t, "explain", "-config", "../../config.yaml", "-topic", "nope", seed)
	if code == 0 {
		t.Errorf("explain with an unknown topic passed: %q", out)
	}

	in := filepath.Join(t.TempDir(), "in.jsonl")
	text, _ := os.ReadFile(seed)
	line1, _ := json.Marshal(map[string]any{"id": "seed", "title": "Fentanyl talks", "text": string(text)})
	line2, _ := json.Marshal(map[string]any{"id": "other", "title": "Weather", "text": "Rain all week."})
	if err := os.WriteFile(in, []byte(string(line1)+"\n"+string(line2)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(t, "classify", "-config", "../../config.yaml", "-in", in)
	if code != 0 {
		t.Fatalf("classify: %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("classify printed %d lines, want 2:\n%s", len(lines), out)
	}
	var first, second struct {
		ID     string `json:"id"`
		Topics []struct {
			ID      string           `json:"id"`
			Score   float64          `json:"score"`
			Matches []map[string]any `json:"matches"`
		} `json:"topics"`
	}
	_ = json.Unmarshal([]byte(lines[0]), &first)
	_ = json.Unmarshal([]byte(lines[1]), &second)
	ids := map[string]bool{}
	for _, tp := range first.Topics {
		ids[tp.ID] = true
		if tp.Score <= 0 || len(tp.Matches) == 0 {
			t.Errorf("topic %s without score or matches: %+v", tp.ID, tp)
		}
	}
	if first.ID != "seed" || !ids["fentanyl"] || !ids["us-china"] {
		t.Errorf("seed classified as %+v", first)
	}
	if second.ID != "other" || len(second.Topics) != 0 {
		t.Errorf("weather classified as %+v", second)
	}
}

// A listener that answers other hosts without auth is refused by run and
// reported by check, unless http.insecure_no_auth says it is meant.
func TestRunRefusesExposedListenerWithoutAuth(t *testing.T) {
	dir := t.TempDir()
	cfg := map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": "0.0.0.0:0"},
		"topics":   []any{map[string]any{"id": "t", "query": "x"}},
	}
	path := harness.WriteConfig(t, dir, cfg)
	code, _, errs := runCLI(t, "run", "-config", path)
	if code == 0 || !strings.Contains(errs, "http.insecure_no_auth: true") {
		t.Errorf("run on 0.0.0.0 without auth: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Errorf("run started (made data_dir) before refusing")
	}
	code, out, _ := runCLI(t, "check", "-config", path)
	if code == 0 || !strings.Contains(out, "http.listen:") || !strings.Contains(out, "set http.auth") {
		t.Errorf("check on 0.0.0.0 without auth: exit %d\n%s", code, out)
	}
	cfg["http"] = map[string]any{"listen": "0.0.0.0:0", "insecure_no_auth": true}
	harness.WriteConfig(t, dir, cfg)
	if code, out, errs := runCLI(t, "check", "-config", path); code != 0 {
		t.Errorf("check with insecure_no_auth: exit %d\n%s%s", code, out, errs)
	}
}

// TestRunListenerInUse: a daemon whose http.listen is taken says what to
// do about it, and stops.
func TestRunListenerInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": ln.Addr().String()},
		"topics":   []any{map[string]any{"id": "t", "query": "x"}},
	})
	code, _, errs := runCLI(t, "run", "-config", path)
	if code != exitFailure || !strings.Contains(errs, "address already in use") ||
		!strings.Contains(errs, "another process listens there (another newswatch?): stop it, or give http.listen a free address") {
		t.Errorf("run on a taken address: exit %d\n%s", code, errs)
	}
}

// TestRunSaysWhereAlertsGoWithoutSubscribers: a first run, with no
// subscriber, says where its alerts can be seen; one with a subscriber
// does not.
func TestRunSaysWhereAlertsGoWithoutSubscribers(t *testing.T) {
	const note = `msg="no subscribers: alerts are on the status page and the bus only" subject=newswatch.alerts.> hint="add a webhook or email subscriber under subscribers: and reload"`
	for _, tc := range []struct {
		name string
		subs []any
		want bool
	}{
		{"none", nil, true},
		{"one", []any{map[string]any{"id": "desk", "type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": secret}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := map[string]any{
				"data_dir": filepath.Join(dir, "data"),
				"http":     map[string]any{"listen": "127.0.0.1:0"},
				"topics":   []any{map[string]any{"id": "t", "query": "x"}},
			}
			if tc.subs != nil {
				cfg["subscribers"] = tc.subs
			}
			path := harness.WriteConfig(t, dir, cfg)
			stderr := &logtest.Buffer{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan int, 1)
			go func() { done <- Main(ctx, []string{"run", "-config", path}, strings.NewReader(""), io.Discard, stderr) }()
			waitUntil(t, 30*time.Second, "the daemon to run", func() bool { return strings.Contains(stderr.String(), "newswatch running") })
			// The note, if any, comes right after "newswatch running";
			// how the stop ends is not what this test is about.
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("run did not stop within 30s")
			}
			if log := stderr.String(); strings.Contains(log, note) != tc.want {
				t.Errorf("note logged: %v, want %v\n%s", strings.Contains(log, note), tc.want, log)
			}
		})
	}
}

// TestOnceSaysWhenEverySourceFailsTheSameWay: a pass on a machine that
// reaches no source closes its list of failures with the likely cause.
func TestOnceSaysWhenEverySourceFailsTheSameWay(t *testing.T) {
	dir := t.TempDir()
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": ""},
		"fetch":    map[string]any{"timeout": "5s"},
		"sources": []any{
			map[string]any{"id": "a", "url": "http://" + freeAddr(t) + "/feed.xml"},
			map[string]any{"id": "b", "url": "http://" + freeAddr(t) + "/rss"},
		},
		"topics": []any{map[string]any{"id": "t", "query": "x"}},
	})
	code, stdout, stderr := runCLI(t, "once", "-config", path, "-timeout", "30s")
	want := "every source fails the same way (nothing listens at that address (connection refused)): check this machine's network, DNS or proxy first\n"
	if code != exitFailure || !strings.Contains(stdout, "sources: 0 ok, 2 failed") || !strings.HasSuffix(stderr, want) {
		t.Errorf("once with no source reachable: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

// runIn runs the CLI with stdin.
func runIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Main(ctx, args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// failWriter refuses every write, as a full disk does.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// Output that cannot be written (a full disk under a redirect) is an
// error that says so, not a truncated file and exit 0.
func TestClassifySaysOutputNotWritten(t *testing.T) {
	var errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := `{"id": "a", "title": "Fentanyl seizure at the border"}` + "\n"
	code := Main(ctx, []string{"classify", "-config", "../../config.yaml"}, strings.NewReader(in), failWriter{}, &errb)
	if code != exitFailure {
		t.Errorf("classify into a writer that fails: exit %d, want %d", code, exitFailure)
	}
	if !strings.Contains(errb.String(), "no space left on device") {
		t.Errorf("stderr does not say the output was not written:\n%s", errb.String())
	}
}

// A misnamed field is an error with its line, not an article that
// silently matches nothing.
func TestClassifyRejectsUnknownFields(t *testing.T) {
	in := `{"id": "a", "title": "Fentanyl seizure at the border", "content": "Agents seized fentanyl."}
{"headline": "Fentanyl seizure at the border", "body": "Agents seized fentanyl."}
`
	code, out, errs := runIn(t, in, "classify", "-config", "../../config.yaml")
	if code != exitFailure {
		t.Errorf("classify with an unknown field: exit %d", code)
	}
	if want := `line 2: unknown field "headline"`; !strings.Contains(errs, want) || !strings.Contains(errs, "title, summary, content") {
		t.Errorf("stderr lacks %q and the field list:\n%s", want, errs)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(lines[0], `"id":"a"`) {
		t.Errorf("want the good line classified only:\n%s", out)
	}
	_, help, _ := runCLI(t, "help", "classify")
	for _, f := range []string{"title", "summary", "content", "text", "categories", "url", "source"} {
		if !regexp.MustCompile(`(?m)^  ` + f + ` +`).MatchString(help) {
			t.Errorf("classify help does not document %q:\n%s", f, help)
		}
	}
}

// help CMD, -version, and errors that say what is wrong.
func TestHelpVersionAndUsageErrors(t *testing.T) {
	code, out, _ := runCLI(t, "help", "run")
	if code != 0 || !strings.HasPrefix(out, "Usage: newswatch run [-config FILE] [-roles LIST] [-shutdown-timeout D]\n") {
		t.Errorf("help run: exit %d\n%s", code, out)
	}
	for _, v := range []string{"version", "-version", "--version"} {
		if code, out, _ := runCLI(t, v); code != 0 || out != "newswatch "+version+"\n" {
			t.Errorf("%s: exit %d %q", v, code, out)
		}
	}
	// Every flag a command defines is in its usage line(s).
	flagLine := regexp.MustCompile(`(?m)^  -([a-z-]+)`)
	for _, c := range commands() {
		if c.name == "version" {
			continue
		}
		_, help, _ := runCLI(t, "help", c.name)
		usage, _, _ := strings.Cut(help, "\n\n")
		flags := flagLine.FindAllStringSubmatch(help, -1)
		if len(flags) == 0 {
			t.Errorf("help %s lists no flags:\n%s", c.name, help)
		}
		for _, f := range flags {
			if !regexp.MustCompile(`-` + f[1] + `\b`).MatchString(usage) {
				t.Errorf("usage of %s lacks -%s: %q", c.name, f[1], usage)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deadletters"}, "missing subcommand: list, replay or drop"},
		{[]string{"deadletters", "frob"}, `unknown subcommand "frob"`},
		{[]string{"deadletters", "-json"}, "comes before the flags"},
		{[]string{"explain", "-config", "../../config.yaml"}, "missing what to explain"},
		{[]string{"sources", "extra"}, `unexpected argument "extra"`},
		{[]string{"help", "nosuch"}, `unknown command "nosuch"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"backtest", "-config", "../../config.yaml", "-topic", "nosuch"}, `unknown topic "nosuch" (the config has fentanyl, us-china, us-china-fentanyl)`},
		{[]string{"sources", "-nosuch"}, "flag provided but not defined: -nosuch"},
	} {
		code, _, errs := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d, stderr lacks %q:\n%s", tc.args, code, tc.want, errs)
		}
	}
}

// TestUsageHints: a mistyped command or an argument where a flag was
// meant is refused with the command line that was probably meant; an
// argument deadletters or feedback does not take is never ignored.
func TestUsageHints(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.yaml") // never read: the usage error comes first
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"chek"}, `unknown command "chek": did you mean check?`},
		{[]string{"status"}, `unknown command "status": did you mean sources, or the status page at http.listen?`},
		{[]string{"start"}, `unknown command "start": did you mean run?`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" (have run, once,`},
		{[]string{"check", "config.yaml"}, `unexpected argument "config.yaml": did you mean newswatch check -config config.yaml?`},
		{[]string{"once", "x.yml"}, `did you mean newswatch once -config x.yml?`},
		{[]string{"deadletters", "replay", "-config", missing, "desk"}, `newswatch deadletters replay: unexpected argument "desk": did you mean newswatch deadletters replay -subscriber desk?`},
		{[]string{"deadletters", "list", "-config", missing, "12"}, `did you mean newswatch deadletters list -seq 12?`},
		{[]string{"deadletters", "drop", "-config", missing, "-all", "desk"}, `unexpected argument "desk"`},
		{[]string{"feedback", "list", "-config", missing, "fentanyl"}, `did you mean newswatch feedback list -topic fentanyl?`},
		{[]string{"once", "-timeout", "5"}, "invalid value \"5\" for flag -timeout: not a duration: write a number with a unit, e.g. 30s, 2m or 1h\nUsage: newswatch once [-config FILE] [-timeout D]\n"},
		{[]string{"run", "-shutdown-timeout=30"}, "  -shutdown-timeout duration\n"},
		{[]string{"subscribers"}, "newswatch subscribers: missing action: enable\n"},
		{[]string{"subscribers", "list"}, `unknown action "list": each subscriber's backlog, last delivery and state are on the status page and in /api/subscribers at http.listen`},
		{[]string{"subscribers", "frob"}, `unknown action "frob" (the one action is enable)`},
	} {
		code, _, errs := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d, stderr lacks %q:\n%s", tc.args, code, tc.want, errs)
		}
	}
}

// TestUsagePlaceholders: a usage line names each flag's value in capitals
// (FILE, ID, N, D), never by its Go type ("[-threshold float]").
func TestUsagePlaceholders(t *testing.T) {
	goType := regexp.MustCompile(`\[-[a-z-]+ [a-z][a-z0-9]*\]`)
	for _, c := range commands() {
		if c.name == "version" {
			continue
		}
		_, help, _ := runCLI(t, "help", c.name)
		usage, _, _ := strings.Cut(help, "\n\n")
		if m := goType.FindString(usage); m != "" {
			t.Errorf("usage of %s names a value by its type: %s\n%s", c.name, m, usage)
		}
	}
}

// TestSameProblemNote: when every source fails the same way, sources
// says to look at this machine first.
func TestSameProblemNote(t *testing.T) {
	const dns = "the host name does not resolve (DNS)"
	failing := func(id, problem string) web.Source {
		return web.Source{ID: id, Status: "error", Problem: problem}
	}
	for _, tc := range []struct {
		name string
		srcs []web.Source
		want string
	}{
		{"all the same", []web.Source{failing("a", dns), failing("b", dns), failing("c", dns)},
			"every source fails the same way (the host name does not resolve (DNS)): check this machine's network, DNS or proxy first"},
		{"one source", []web.Source{failing("a", dns)}, ""},
		{"one ok", []web.Source{failing("a", dns), {ID: "b", Status: "ok"}}, ""},
		{"different problems", []web.Source{failing("a", dns), failing("b", "HTTP 404: the URL is wrong or gone")}, ""},
		{"failing since different times", []web.Source{failing("a", dns+"; 3 failures in a row"), failing("b", dns)},
			"every source fails the same way (the host name does not resolve (DNS)): check this machine's network, DNS or proxy first"},
		{"words that say nothing", []web.Source{failing("a", "the fetch failed"), failing("b", "the fetch failed")}, ""},
		{"none", nil, ""},
	} {
		if got := sameProblemNote(tc.srcs); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestCheckSyntaxError: check points at the line and column of a YAML
// syntax error, with the line and a caret under the spot.
func TestCheckSyntaxError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("data_dir: x\nsubscribers: []\n  - id: desk\n    type: webhook\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "check", "-config", path)
	want := path + ":3: column 3: did not find expected key (line 2 already gives subscribers the empty value []: delete the [] to give it the entries below)\n" +
		"    3 |   - id: desk\n" +
		"      |   ^\n" +
		"1 problem in " + path + "\n"
	if code != exitFailure || out != want {
		t.Errorf("exit %d, output:\n%s\nwant:\n%s", code, out, want)
	}
}

// TestCheckOutput: check's exact output for a valid config, a missing
// one, and problems that must show the reference, not the secret, and
// the line and column of an error inside a multi-line query.
func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	ok := write("ok.yaml", "sources: [{id: a, url: \"https://e.org/\"}]\ntopics: [{id: t, query: x}]\n")
	if code, out, _ := runCLI(t, "check", "-config", ok); code != exitOK || out != ok+": ok (1 source, 1 topic, 0 subscribers)\n" {
		t.Errorf("valid config: exit %d, %q", code, out)
	}

	// Valid, but watching nothing: it says what is missing.
	bare := write("bare.yaml", "data_dir: ./d\n")
	if code, out, _ := runCLI(t, "check", "-config", bare); code != exitOK || out != bare+": ok (0 sources, 0 topics, 0 subscribers)\n"+
		"note: no sources, so nothing is fetched: add feeds or pages under sources:\n"+
		"note: no topics, so nothing alerts: add queries under topics:\n" {
		t.Errorf("config without sources or topics: exit %d, %q", code, out)
	}

	// sources says why its table is empty.
	if code, out, _ := runCLI(t, "sources", "-config", bare); code != exitOK || !strings.HasSuffix(out, "\nno source is configured: add feeds or pages under sources: in "+bare+"\n") {
		t.Errorf("sources without sources: exit %d, %q", code, out)
	}

	missing := filepath.Join(dir, "none.yaml")
	code, _, errs := runCLI(t, "check", "-config", missing)
	if code != exitFailure || !strings.Contains(errs, "newswatch init -config "+missing+" writes a starter config") {
		t.Errorf("missing config: exit %d, %q", code, errs)
	}

	t.Setenv("NW_CHECK_TO", "SEKRIT-not-an-address")
	bad := write("bad.yaml", `topics:
  - id: t
    query: >
      fentanyl AND
        (china OR
      mexico))
smtp: {host: h, from: f@e.org}
subscribers:
  - id: s
    type: email
    to: ["${NW_CHECK_TO}"]
  - id: w
    type: webhook
    url: https://e.org/h
    secret: $NW_CHECK_SECRET
`)
	code, out, _ := runCLI(t, "check", "-config", bad)
	want := bad + `:6: topics[0].query: column 14: topic "t": unbalanced ')': expected AND, OR, NEAR/n or end of query
    6 |       mexico))
      |              ^
` + bad + `:11: subscribers[0].to[0]: "${NW_CHECK_TO}" is not an email address
` + bad + `:15: subscribers[1].secret: $NW_CHECK_SECRET is taken literally: did you mean ${NW_CHECK_SECRET}?
3 problems in ` + bad + "\n"
	if code != exitFailure || out != want {
		t.Errorf("exit %d, output:\n%s\nwant:\n%s", code, out, want)
	}
	if strings.Contains(out, "SEKRIT") {
		t.Errorf("check printed an expanded value:\n%s", out)
	}
}

// TestOnceSaysTheStoreProblems: a pass that found data lost from its
// store (a block file overwritten) says so in its output, as /readyz and
// the status page would for the daemon: a cron user reads only that.
func TestOnceSaysTheStoreProblems(t *testing.T) {
	dir := t.TempDir()
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": ""},
		"topics":   []any{map[string]any{"id": "t", "query": "x"}},
	})
	if code, stdout, stderr := runCLI(t, "once", "-config", path); code != exitOK {
		t.Fatalf("first pass: exit %d\n%s%s", code, stdout, stderr)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := bus.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		data := fmt.Sprintf(`{"n":%d,"pad":"%0200d"}`, i, i)
		if _, err := b.JS.Publish(ctx, b.Names.AlertSubject("t"), []byte(data), jetstream.WithMsgID(fmt.Sprint("t:", i))); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	blks, _ := filepath.Glob(filepath.Join(cfg.DataDir, "jetstream", "jetstream", "*", "streams", b.Names.AlertStream, "msgs", "*.blk"))
	if len(blks) != 1 {
		t.Fatalf("block files: %v", blks)
	}
	f, err := os.OpenFile(blks[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	if _, err := f.WriteAt(bytes.Repeat([]byte{'X'}, 4000), st.Size()/3); err != nil {
		t.Fatal(err)
	}
	f.Close()

	_, _, stderr := runCLI(t, "once", "-config", path)
	if !strings.Contains(stderr, "newswatch once: problem: data.lost:"+b.Names.AlertStream+": ") {
		t.Errorf("once after the damage does not name the data lost:\n%s", stderr)
	}
}

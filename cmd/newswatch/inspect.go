package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"newswatch/bus"
	"newswatch/classifier"
	"newswatch/config"
	"newswatch/fetcher"
	"newswatch/learn"
	"newswatch/news"
	"newswatch/pipeline"
	"newswatch/trends"
	"newswatch/web"
)

// readInput reads FILE, URL or - (stdin), capped at the fetch body limit.
func readInput(ctx context.Context, env *cliEnv, cfg *config.Config, arg string) (body []byte, contentType, base string, err error) {
	limit := cfg.Fetch.MaxBodyBytes
	switch {
	case arg == "-":
		body, err = io.ReadAll(io.LimitReader(env.stdin, limit))
		return body, "", "", err
	case strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://"):
		// The operator's URL is trusted like a configured source's; the
		// fetcher's guard (for redirects), gzip and body cap apply.
		doc, err := fetcher.New(cfg.Fetch, nil).Get(ctx, arg)
		if err != nil {
			return nil, "", "", err
		}
		return doc.Body, doc.ContentType, doc.URL, nil
	default:
		f, err := os.Open(arg)
		if err != nil {
			return nil, "", "", err
		}
		defer f.Close()
		body, err = io.ReadAll(io.LimitReader(f, limit))
		return body, "", "", err
	}
}

// articlesOf turns a document into articles: every item of a feed, the
// main article of an HTML page, or plain text (first line is the title).
func articlesOf(body []byte, contentType, base string) ([]news.Article, error) {
	switch {
	case fetcher.LooksLikeFeed(body):
		return fetcher.ParseFeed(body, contentType, base, "explain")
	case fetcher.LooksLikeHTML(body):
		a, err := fetcher.ExtractArticle(body, contentType, base)
		if err != nil {
			return nil, err
		}
		return []news.Article{a}, nil
	}
	text := strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	title, rest, _ := strings.Cut(text, "\n")
	if len([]rune(title)) > 200 {
		// A paragraph, not a headline.
		title, rest = "", text
	}
	return []news.Article{{V: news.Version, Title: strings.TrimSpace(title), Content: strings.TrimSpace(rest), URL: base}}, nil
}

func cmdExplain(ctx context.Context, env *cliEnv, args []string) int {
	fs, cfgPath := newFlags(env, "explain")
	topic := fs.String("topic", "", "explain only this topic (`ID` from the config)")
	asJSON := fs.Bool("json", false, "print JSON Lines: one object per article")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		if fs.NArg() == 0 {
			fmt.Fprintln(env.stderr, "newswatch explain: missing what to explain: give a FILE, a URL, or - for stdin")
		} else {
			fmt.Fprintf(env.stderr, "newswatch explain: one FILE, URL or - at a time, got %d (flags go before it)\n", fs.NArg())
		}
		return exitUsage
	}
	cfg, ok := loadConfig(env, *cfgPath)
	if !ok {
		return exitFailure
	}
	c, err := classifier.New(cfg.Topics)
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch explain: %v\n", err)
		return exitFailure
	}
	if *topic != "" && !contains(c.Topics(), *topic) {
		fmt.Fprintf(env.stderr, "newswatch explain: unknown topic %q (have %s)\n", *topic, strings.Join(c.Topics(), ", "))
		return exitUsage
	}
	body, ct, base, err := readInput(ctx, env, cfg, fs.Arg(0))
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch explain: %v\n", err)
		return exitFailure
	}
	arts, err := articlesOf(body, ct, base)
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch explain: %v\n", err)
		return exitFailure
	}
	learned := learnedExplainer(ctx, env, cfg, c, *topic)
	enc := json.NewEncoder(env.stdout)
	for i := range arts {
		a := &arts[i]
		ex := c.Explain(a, *topic)
		if learned != nil {
			learned(a, ex)
		}
		if *asJSON {
			_ = enc.Encode(struct {
				ID     string                   `json:"id,omitempty"`
				Title  string                   `json:"title"`
				URL    string                   `json:"url,omitempty"`
				Topics []classifier.Explanation `json:"topics"`
			}{a.ID, a.Title, a.URL, ex})
			continue
		}
		if i > 0 {
			fmt.Fprintln(env.stdout)
		}
		fmt.Fprintf(env.stdout, "== %s\n", orDash(a.Title))
		if a.URL != "" {
			fmt.Fprintf(env.stdout, "   %s\n", a.URL)
		}
		if err := classifier.WriteExplanation(env.stdout, ex); err != nil {
			return exitFailure
		}
	}
	return exitOK
}

func orDash(s string) string {
	if s == "" {
		return "(untitled)"
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// classifyHelp documents classify's input and output (shown by -help).
const classifyHelp = `
Input: JSON Lines, one article per line; every field is optional, and
any other field is an error (with its line number), so that a misnamed
field does not silently match nothing:

  id          string    copied to the output
  title       string    the headline
  summary     string    teaser or description
  content     string    the full text ("text" is accepted for it too)
  text        string    the full text, when content is empty
  categories  [string]  the feed's categories or tags
  url         string    the article's link
  source      string    the source id
  topic       string    ignored (in 'newswatch feedback export' lines)
  label       string    ignored (in 'newswatch feedback export' lines)

Output: one line per input article, in order:
  {"id": "...", "topics": [{"id": "fentanyl", "score": 7.5, "matches": [...]}]}
A line that is not valid JSON, or has an unknown field, is reported on
stderr with its line number and skipped; the exit code is then 1.
`

// classifyFields are the fields of classifyInput, for error messages.
const classifyFields = "id, title, summary, content, text, categories, url, source, topic, label"

// classifyInput is one line of `newswatch classify` input.
type classifyInput struct {
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	Summary    string   `json:"summary"`
	Text       string   `json:"text"`
	Content    string   `json:"content"`
	Categories []string `json:"categories"`
	URL        string   `json:"url"`
	Source     string   `json:"source"`
	// Topic and Label are accepted so that exported feedback can be
	// classified as it is; they do not change the verdict.
	Topic string `json:"topic"`
	Label string `json:"label"`
}

type classifyTopic struct {
	ID      string       `json:"id"`
	Score   float64      `json:"score"`
	Matches []news.Match `json:"matches"`
}

type classifyOutput struct {
	ID     string          `json:"id"`
	Topics []classifyTopic `json:"topics"`
}

func cmdClassify(ctx context.Context, env *cliEnv, args []string) int {
	fs, cfgPath := newFlags(env, "classify")
	in := fs.String("in", "-", "JSON Lines input `FILE` (- for stdin)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, ok := loadConfig(env, *cfgPath)
	if !ok {
		return exitFailure
	}
	c, err := classifier.New(cfg.Topics)
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch classify: %v\n", err)
		return exitFailure
	}
	r := env.stdin
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			fmt.Fprintf(env.stderr, "newswatch classify: %v\n", err)
			return exitFailure
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), int(cfg.Fetch.MaxBodyBytes))
	w := bufio.NewWriter(env.stdout)
	enc := json.NewEncoder(w)
	line, bad := 0, 0
	for sc.Scan() {
		line++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var in classifyInput
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			msg := err.Error()
			if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
				msg = "unknown field " + f + " (the fields are " + classifyFields + "; see newswatch help classify)"
			}
			fmt.Fprintf(env.stderr, "newswatch classify: line %d: %s\n", line, msg)
			bad++
			continue
		}
		content := in.Content
		if content == "" {
			content = in.Text
		}
		a := news.Article{ID: in.ID, Title: in.Title, Summary: in.Summary, Content: content, Categories: in.Categories, URL: in.URL, Source: in.Source}
		out := classifyOutput{ID: in.ID, Topics: []classifyTopic{}}
		for _, m := range c.Classify(&a) {
			out.Topics = append(out.Topics, classifyTopic{ID: m.Topic, Score: m.Score, Matches: m.Matches})
		}
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(env.stderr, "newswatch classify: writing the output: %v\n", err)
			return exitFailure
		}
	}
	// Flushed here, not deferred: a full disk under a redirect must fail
	// the command, not leave a cut file behind an exit 0.
	if err := w.Flush(); err != nil {
		fmt.Fprintf(env.stderr, "newswatch classify: writing the output: %v\n", err)
		return exitFailure
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(env.stderr, "newswatch classify: %v\n", err)
		return exitFailure
	}
	if bad > 0 {
		return exitFailure
	}
	return exitOK
}

// openBus opens the bus for a command that needs it (not only to read).
func openBus(ctx context.Context, env *cliEnv, cfg *config.Config) (*bus.Bus, bool) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := bus.OpenClient(ctx, cfg, newLogger(env.stderr, config.Log{Level: "error", Format: cfg.Log.Format}))
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch: %v\n", err)
		if errors.Is(err, bus.ErrDataDirInUse) {
			fmt.Fprintln(env.stderr, "hint: a daemon owns this data_dir; set nats.listen (e.g. 127.0.0.1:4222) in its config and restart it, so commands can reach its bus")
		}
		return nil, false
	}
	return b, true
}

// loadSources reads every source's state: from the bus, or from the
// running daemon's API.
func loadSources(ctx context.Context, env *cliEnv, cfg *config.Config) ([]web.Source, bool) {
	b, api, ok := openInspect(ctx, env, cfg, "sources")
	if !ok {
		return nil, false
	}
	if api != nil {
		out, err := api.sources(ctx)
		if err != nil {
			fmt.Fprintf(env.stderr, "newswatch sources: %v\n", err)
			return nil, false
		}
		return out, true
	}
	defer b.Close()
	states, err := pipeline.LoadStates(ctx, b.StateKV())
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch sources: %v\n", err)
		return nil, false
	}
	return scrubbed(web.SourceRows(cfg, states), cfg.Secrets()), true
}

func cmdSources(ctx context.Context, env *cliEnv, args []string) int {
	fs, cfgPath := newFlags(env, "sources")
	asJSON := fs.Bool("json", false, "print JSON Lines (with the whole error) instead of a table")
	verbose := fs.Bool("v", false, "also print each failing source's whole error")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, ok := loadConfig(env, *cfgPath)
	if !ok {
		return exitFailure
	}
	srcs, ok := loadSources(ctx, env, cfg)
	if !ok {
		return exitFailure
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		for _, s := range srcs {
			_ = enc.Encode(sourceLine(s))
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tHTTP\tFAILURES\tLAST SUCCESS\tNEXT FETCH\tITEMS\tPROBLEM")
	for _, s := range srcs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\n", s.ID, s.Status, httpCode(s.HTTPStatus), s.ConsecutiveFailures,
			ago(s.LastSuccess), until(s.NextFetch), s.ItemsSeen, orNone(s.Problem))
	}
	tw.Flush()
	if len(srcs) == 0 {
		fmt.Fprintf(env.stdout, "no source is configured: add feeds or pages under sources: in %s\n", *cfgPath)
	}
	if *verbose {
		for _, s := range srcs {
			if s.Error != "" {
				fmt.Fprintf(env.stdout, "\n%s (%s):\n  %s\n", s.ID, s.URL, s.Error)
			}
		}
	} else if slices.ContainsFunc(srcs, func(s web.Source) bool { return s.Error != "" }) {
		fmt.Fprintln(env.stdout, "\n(-v prints each whole error)")
	}
	if note := sameProblemNote(srcs); note != "" {
		fmt.Fprintln(env.stdout, note)
	}
	return exitOK
}

// sameProblemNote says so when every source fails with one problem: then
// the cause is most likely this machine (offline, no DNS, a proxy), and
// reading each source's row would not show it.
func sameProblemNote(srcs []web.Source) string {
	first := web.SameProblem(srcs)
	if first == "" {
		return ""
	}
	return fmt.Sprintf("every source fails the same way (%s): check this machine's network, DNS or proxy first", first)
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// sourceLineJSON is the JSON Lines shape of `newswatch sources -json`;
// next_fetch is next_due under the API's name.
type sourceLineJSON struct {
	ID                  string     `json:"id"`
	URL                 string     `json:"url"`
	Status              string     `json:"status"`
	HTTPStatus          int        `json:"http_status"`
	Error               string     `json:"error"`
	Problem             string     `json:"problem,omitempty"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	LastSuccess         *time.Time `json:"last_success"`
	NextDue             *time.Time `json:"next_due"`
	NextFetch           *time.Time `json:"next_fetch"`
	ItemsSeen           int64      `json:"items_seen"`
	LastFetch           *time.Time `json:"last_fetch"`
}

func sourceLine(s web.Source) sourceLineJSON {
	ptr := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return sourceLineJSON{ID: s.ID, URL: s.URL, Status: s.Status, HTTPStatus: s.HTTPStatus, Error: s.Error, Problem: s.Problem,
		ConsecutiveFailures: s.ConsecutiveFailures, LastSuccess: ptr(s.LastSuccess), NextDue: ptr(s.NextFetch),
		NextFetch: ptr(s.NextFetch), ItemsSeen: s.ItemsSeen, LastFetch: ptr(s.LastFetch)}
}

func httpCode(c int) string {
	if c == 0 {
		return "-"
	}
	return fmt.Sprint(c)
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

func until(t time.Time) string {
	if t.IsZero() {
		return "now"
	}
	d := time.Until(t).Round(time.Second)
	if d <= 0 {
		return "now"
	}
	return "in " + d.String()
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func cmdBacktest(ctx context.Context, env *cliEnv, args []string) int {
	fs, cfgPath := newFlags(env, "backtest")
	topic := fs.String("topic", "", "topic `ID` from the config (required unless -query is given)")
	query := fs.String("query", "", "try this `QUERY` instead of the topic's")
	examples := fs.Int("examples", 10, "how many matching articles to list")
	spikes := fs.Bool("spikes", false, "list the spike alerts the topic's spikes settings would have sent")
	threshold := fs.Float64("threshold", 0, "with -spikes: try this threshold `N` instead of the topic's")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, ok := loadConfig(env, *cfgPath)
	if !ok {
		return exitFailure
	}
	var t config.Topic
	for _, x := range cfg.Topics {
		if x.ID == *topic {
			t = x
		}
	}
	ids := make([]string, 0, len(cfg.Topics))
	for _, x := range cfg.Topics {
		ids = append(ids, x.ID)
	}
	switch {
	case *topic == "" && *query == "":
		fmt.Fprintf(env.stderr, "newswatch backtest: give -topic ID (one of %s) or -query QUERY\n", strings.Join(ids, ", "))
		return exitUsage
	case t.ID == "" && *query == "":
		fmt.Fprintf(env.stderr, "newswatch backtest: unknown topic %q (the config has %s)\n", *topic, strings.Join(ids, ", "))
		return exitUsage
	case t.ID == "":
		// A query tried under a new name.
		t = config.Topic{ID: cmp.Or(*topic, "backtest"), Name: cmp.Or(*topic, "backtest")}
	}
	if *query != "" {
		t.Query = *query
	}
	c, inConfig, err := backtestClassifier(cfg.Topics, t)
	if err != nil {
		for _, e := range classifier.Errors(err) {
			var pe *classifier.ParseError
			if *query != "" && errors.As(e, &pe) && pe.Topic == t.ID {
				fmt.Fprintf(env.stderr, "newswatch backtest: -query: %s\n%s\n", pe.Msg, queryCaret(*query, pe.Pos))
				continue
			}
			fmt.Fprintf(env.stderr, "newswatch backtest: %v\n", e)
		}
		return exitFailure
	}
	b, ok := openBus(ctx, env, cfg)
	if !ok {
		return exitFailure
	}
	defer b.Close()
	if *spikes {
		if *threshold > 0 {
			t.Spikes.Threshold = *threshold
		}
		found, err := trends.BacktestSpikes(ctx, b, t, c, trends.BacktestOptions{})
		if err != nil {
			fmt.Fprintf(env.stderr, "newswatch backtest: %v\n", err)
			return exitFailure
		}
		trends.WriteSpikes(env.stdout, found)
		fmt.Fprintf(env.stdout, "topic %s: %d spike alerts would have been sent (threshold %g)\n", t.ID, len(found), trends.ParamsOf(t.Spikes).Threshold)
		return exitOK
	}
	total, matched, unreadable := 0, 0, 0
	// Labels on the topic: their articles' text comes with them, or from
	// the archive when the label was kept without it.
	labels := feedbackFor(ctx, env, b)
	need := map[string]bool{}
	for _, r := range labels {
		if r.Topic == t.ID && r.Article == nil {
			need[r.ArticleID] = true
		}
	}
	archive := map[string]news.Article{}
	err = b.Walk(ctx, b.Names.ArticleStream, b.Names.ArticleSubject(">"), 0, func(m *bus.StoredMsg) bool {
		var a news.Article
		if json.Unmarshal(m.Data, &a) != nil {
			unreadable++
			return true
		}
		if need[a.ID] {
			archive[a.ID] = a
		}
		total++
		for _, m := range c.Classify(&a) {
			if m.Topic != t.ID {
				continue // a topic the tried one names
			}
			matched++
			if matched <= *examples {
				fmt.Fprintf(env.stdout, "%6.2f  %s  %s\n", m.Score, a.Source, oneLine(a.Title, 100))
			}
		}
		return true
	})
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch backtest: %v\n", err)
		return exitFailure
	}
	pct := 0.0
	if total > 0 {
		pct = 100 * float64(matched) / float64(total)
	}
	fmt.Fprintf(env.stdout, "topic %s: %d of %d archived articles would have alerted (%.1f%%)\n", t.ID, matched, total, pct)
	// Left out of the figures above: say so, or they mislead.
	switch unreadable {
	case 0:
	case 1:
		fmt.Fprintln(env.stderr, "newswatch backtest: 1 archived message is not an article (not JSON of one); it is not counted")
	default:
		fmt.Fprintf(env.stderr, "newswatch backtest: %d archived messages are not articles (not JSON of one); they are not counted\n", unreadable)
	}
	// A query tried under a name of its own has no labels to say so about.
	if e := evalFeedback(c, t.ID, labels, archive); b.FeedbackKV() != nil && (inConfig || e.Labelled > 0) {
		e.write(env.stdout, t.ID)
		if t.Learned.Enabled {
			writeLearnedReport(env.stdout, t, learn.Build(t.ID, t.Learned, learn.Examples(c, t.ID, labels)))
		}
	}
	return exitOK
}

// backtestClassifier compiles topic t as tried, with the config's topics
// it names (topic:id) beside it: t replaces the config's topic of its id,
// or is added. It reports whether t's id is a topic of the config.
func backtestClassifier(topics []config.Topic, t config.Topic) (*classifier.Classifier, bool, error) {
	tried := make([]config.Topic, 0, len(topics)+1)
	inConfig := false
	for _, x := range topics {
		if x.ID == t.ID {
			x, inConfig = t, true
		}
		tried = append(tried, x)
	}
	if !inConfig {
		tried = append(tried, t)
	}
	all, err := classifier.New(tried)
	if err != nil {
		return nil, inConfig, err
	}
	// The scan costs per term: compile only t and the topics it names.
	need := all.Needs(all.TopicIndex(t.ID))
	sub, err := classifier.New(slices.DeleteFunc(tried, func(x config.Topic) bool { return !slices.Contains(need, x.ID) }))
	if err != nil {
		return all, inConfig, nil
	}
	return sub, inConfig, nil
}

// queryCaret shows query with a caret under byte offset pos.
func queryCaret(query string, pos int) string {
	query = strings.ReplaceAll(query, "\n", " ")
	pos = min(max(pos, 0), len(query))
	return "  " + query + "\n  " + strings.Repeat(" ", utf8.RuneCountInString(query[:pos])) + "^"
}

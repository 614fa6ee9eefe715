package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"newswatch/bus"
	"newswatch/classifier"
	"newswatch/feedback"
	"newswatch/news"
)

var feedbackHelp = `

list or export subscribers' relevant / not relevant labels on alerts, or show the learned stage they train

  list    one line per label: when, topic, label, subscriber, title
          (-json: the whole records as JSON Lines)
  export  JSON Lines in the input shape of 'newswatch classify' (id, title,
          summary, content, categories, url, source) plus "topic" and
          "label" (relevant | not_relevant); one line per topic and
          article, the latest label winning when subscribers disagree
` + learnedUsage + `
Flags:
`

func cmdFeedback(ctx context.Context, env *cliEnv, args []string) int {
	fs, cfgPath := newFlags(env, "feedback")
	topic := fs.String("topic", "", "only this topic's labels (`ID` from the config)")
	asJSON := fs.Bool("json", false, "list: print the records as JSON Lines")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: newswatch feedback list|export|model "+flagList(fs)+feedbackHelp)
		fs.PrintDefaults()
	}
	if len(args) == 0 {
		fmt.Fprint(env.stderr, "newswatch feedback: missing subcommand: list, export or model\n\n")
		fs.Usage()
		return exitUsage
	}
	action := args[0]
	switch action {
	case "list", "export", "model":
	case "-h", "-help", "--help", "help":
		fs.SetOutput(env.stdout)
		fs.Usage()
		return exitOK
	default:
		fmt.Fprintf(env.stderr, "newswatch feedback: unknown subcommand %q (list, export or model; flags go after it)\n", action)
		return exitUsage
	}
	if code, done := parseFlags(fs, args[1:]); done {
		return code
	}
	if fs.NArg() > 0 {
		unexpectedArg(env.stderr, "feedback "+action, fs.Arg(0), func(a string) string { return "-topic " + a })
		return exitUsage
	}
	cfg, ok := loadConfig(env, *cfgPath)
	if !ok {
		return exitFailure
	}
	// While a daemon holds data_dir, its API serves the same records.
	b, api, ok := openInspect(ctx, env, cfg, "feedback")
	if !ok {
		return exitFailure
	}
	var recs []feedback.Record
	var err error
	if b != nil {
		defer b.Close()
		recs, err = loadFeedback(ctx, env, b)
	} else {
		recs, err = api.feedback(ctx, env, *topic)
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch feedback: %v\n", err)
		return exitFailure
	}
	if action == "model" {
		if err := learnedModel(env.stdout, cfg, recs, *topic); err != nil {
			fmt.Fprintf(env.stderr, "newswatch feedback: %v\n", err)
			return exitUsage
		}
		return exitOK
	}
	if action == "export" {
		enc := json.NewEncoder(env.stdout)
		for _, r := range feedback.Labels(recs, *topic) {
			if err := enc.Encode(feedback.Export(r)); err != nil {
				fmt.Fprintf(env.stderr, "newswatch feedback export: writing the output: %v\n", err)
				return exitFailure
			}
		}
		return exitOK
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		for _, r := range recs {
			if *topic == "" || r.Topic == *topic {
				if err := enc.Encode(r); err != nil {
					fmt.Fprintf(env.stderr, "newswatch feedback list: writing the output: %v\n", err)
					return exitFailure
				}
			}
		}
		return exitOK
	}
	writeFeedbackTable(env.stdout, recs, *topic)
	return exitOK
}

// loadFeedback reads every label.
func loadFeedback(ctx context.Context, env *cliEnv, b *bus.Bus) ([]feedback.Record, error) {
	if b.FeedbackKV() == nil {
		return nil, fmt.Errorf("no feedback bucket %s on this bus (the daemon predates feedback)", b.Names.FeedbackBucket)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	recs, bad, err := feedback.NewStore(b.FeedbackKV()).List(ctx)
	if bad > 0 {
		fmt.Fprintf(env.stderr, "newswatch: %d feedback records could not be read and are left out\n", bad)
	}
	return recs, err
}

func writeFeedbackTable(w io.Writer, recs []feedback.Record, topic string) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tTOPIC\tLABEL\tSUBSCRIBER\tARTICLE\tTITLE")
	n := 0
	for _, r := range recs {
		if topic != "" && r.Topic != topic {
			continue
		}
		n++
		title := "(article no longer in the stream)"
		if r.Article != nil {
			title = oneLine(orDash(r.Article.Title), 80)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.At.UTC().Format("2006-01-02 15:04"), r.Topic, r.Label, r.Subscriber, r.ArticleID, title)
	}
	tw.Flush()
	if n == 0 {
		fmt.Fprintln(w, "no feedback yet")
	}
}

// feedbackEval is a query's verdict on the labelled articles of a topic.
type feedbackEval struct {
	Labelled, Unusable int // unusable: the article's text is unknown
	TP, FP, FN, TN     int
	FalsePos, Misses   []feedbackCase
}

type feedbackCase struct {
	Article news.Article
	Clause  string // the clause that decided the verdict
}

// evalFeedback classifies every labelled article of topic with c (which
// holds that topic) and compares with the labels. archive fills in the
// text of records kept without it.
func evalFeedback(c *classifier.Classifier, topic string, recs []feedback.Record, archive map[string]news.Article) feedbackEval {
	var e feedbackEval
	for _, r := range feedback.Labels(recs, topic) {
		e.Labelled++
		var a news.Article
		switch {
		case r.Article != nil:
			a = r.Article.News()
		case archive[r.ArticleID].ID != "":
			a = archive[r.ArticleID]
		default:
			e.Unusable++
			continue
		}
		matched, clause, _ := c.Decided(&a, topic)
		relevant := r.Label == feedback.Relevant
		switch {
		case matched && relevant:
			e.TP++
		case matched:
			e.FP++
			e.FalsePos = append(e.FalsePos, feedbackCase{a, clause})
		case relevant:
			e.FN++
			e.Misses = append(e.Misses, feedbackCase{a, clause})
		default:
			e.TN++
		}
	}
	return e
}

func ratio(a, b int) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

func (e feedbackEval) write(w io.Writer, topic string) {
	if e.Labelled == 0 {
		fmt.Fprintf(w, "\nfeedback: no labels on topic %s yet (newswatch feedback list)\n", topic)
		return
	}
	fmt.Fprintf(w, "\nfeedback on topic %s: %d labelled articles", topic, e.Labelled)
	if e.Unusable > 0 {
		fmt.Fprintf(w, " (%d left out: their text is no longer stored)", e.Unusable)
	}
	fmt.Fprintf(w, "\n  precision %s (%d of %d matches labelled relevant), recall %s (%d of %d relevant matched)\n",
		ratio(e.TP, e.TP+e.FP), e.TP, e.TP+e.FP, ratio(e.TP, e.TP+e.FN), e.TP, e.TP+e.FN)
	fmt.Fprintf(w, "  relevant matched %d, not relevant matched %d (false positives), relevant missed %d, not relevant left out %d\n", e.TP, e.FP, e.FN, e.TN)
	list := func(head string, cs []feedbackCase, verb string) {
		if len(cs) == 0 {
			return
		}
		fmt.Fprintf(w, "%s:\n", head)
		for _, c := range cs {
			fmt.Fprintf(w, "  %s  %s\n", c.Article.Source, oneLine(orDash(c.Article.Title), 100))
			if c.Article.URL != "" {
				fmt.Fprintf(w, "      %s\n", c.Article.URL)
			}
			fmt.Fprintf(w, "      %s %s\n", verb, strings.TrimSpace(c.Clause))
		}
	}
	list("false positives (matched, labelled not relevant)", e.FalsePos, "matched by:")
	list("misses (labelled relevant, not matched)", e.Misses, "failed:")
}

// feedbackFor loads labels for backtest; a bus without the bucket has none.
func feedbackFor(ctx context.Context, env *cliEnv, b *bus.Bus) []feedback.Record {
	if b.FeedbackKV() == nil {
		return nil
	}
	recs, err := loadFeedback(ctx, env, b)
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch backtest: feedback: %v\n", err)
		return nil
	}
	return recs
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/notifier"
)

type deadEntry struct {
	Seq uint64 `json:"seq"`
	notifier.DeadLetter
}

// deadLetters returns the dead letters of one subscriber (all when "").
func deadLetters(ctx context.Context, b *bus.Bus, subscriber string) ([]deadEntry, error) {
	subject := b.Names.DeadSubject(">")
	if subscriber != "" {
		subject = b.Names.DeadSubject(subscriber)
	}
	var out []deadEntry
	err := b.Walk(ctx, b.Names.DeadStream, subject, 0, func(m *bus.StoredMsg) bool {
		e := deadEntry{Seq: m.Seq}
		if json.Unmarshal(m.Data, &e.DeadLetter) == nil {
			out = append(out, e)
		}
		return true
	})
	return out, err
}

// deadLetterFlags is the flag set of every deadletters subcommand.
func deadLetterFlags(env *cliEnv) (fs *flag.FlagSet, cfgPath, sub *string, seq *uint64, all, asJSON, verbose *bool) {
	fs, cfgPath = newFlags(env, "deadletters")
	sub = fs.String("subscriber", "", "only this subscriber's dead letters (`ID` from the config)")
	seq = fs.Uint64("seq", 0, "only the dead letter with this sequence number `N`")
	all = fs.Bool("all", false, "drop: allow dropping every subscriber's dead letters")
	asJSON = fs.Bool("json", false, "list: print JSON Lines, each dead letter whole (the alert and every attempt)")
	verbose = fs.Bool("v", false, "list: also print each dead letter's whole reason and every attempt's error")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), deadLettersHelp)
		fs.PrintDefaults()
	}
	return
}

func cmdDeadLetters(ctx context.Context, env *cliEnv, args []string) int {
	fs, cfgPath, sub, seq, all, asJSON, verbose := deadLetterFlags(env)
	if len(args) == 0 {
		fmt.Fprint(env.stderr, "newswatch deadletters: missing subcommand: list, replay or drop\n\n")
		fs.Usage()
		return exitUsage
	}
	action := args[0]
	switch action {
	case "list", "replay", "drop":
	case "-h", "-help", "--help", "help":
		fs.SetOutput(env.stdout)
		fs.Usage()
		return exitOK
	default:
		if strings.HasPrefix(action, "-") {
			fmt.Fprintf(env.stderr, "newswatch deadletters: the subcommand (list, replay or drop) comes before the flags, e.g. newswatch deadletters list %s\n", strings.Join(args, " "))
		} else {
			fmt.Fprintf(env.stderr, "newswatch deadletters: unknown subcommand %q: use list, replay or drop\n", action)
		}
		return exitUsage
	}
	if code, done := parseFlags(fs, args[1:]); done {
		return code
	}
	if fs.NArg() > 0 {
		// Refused, not ignored: "deadletters replay desk" must not replay
		// every subscriber's dead letters.
		unexpectedArg(env.stderr, "deadletters "+action, fs.Arg(0), func(a string) string {
			if _, err := strconv.ParseUint(a, 10, 64); err == nil {
				return "-seq " + a
			}
			return "-subscriber " + a
		})
		return exitUsage
	}
	cfg, ok := loadConfig(env, *cfgPath)
	if !ok {
		return exitFailure
	}
	if action == "drop" && *sub == "" && *seq == 0 && !*all {
		fmt.Fprintln(env.stderr, "newswatch deadletters drop: give -subscriber ID, -seq N or -all")
		return exitUsage
	}
	switch action {
	case "list":
		return listDeadLetters(ctx, env, cfg, *sub, *seq, *asJSON, *verbose)
	case "replay":
		return replayDeadLetters(ctx, env, cfg, *sub, *seq)
	}
	b, ok := openBus(ctx, env, cfg)
	if !ok {
		return exitFailure
	}
	defer b.Close()
	entries, err := deadLetters(ctx, b, *sub)
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch deadletters: %v\n", err)
		return exitFailure
	}
	entries = withSeq(entries, *seq)
	if _, err := b.StreamState(ctx, b.Names.DeadStream); err != nil {
		fmt.Fprintf(env.stderr, "newswatch deadletters: %v\n", err)
		return exitFailure
	}
	for _, e := range entries {
		if err := b.DeleteMsg(ctx, b.Names.DeadStream, e.Seq); err != nil {
			fmt.Fprintf(env.stderr, "drop %d: %v\n", e.Seq, err)
			return exitFailure
		}
	}
	fmt.Fprintf(env.stdout, "dropped %d dead letter%s\n", len(entries), plural(len(entries)))
	return exitOK
}

// withSeq keeps the entry with sequence seq only (all when 0).
func withSeq(entries []deadEntry, seq uint64) []deadEntry {
	if seq == 0 {
		return entries
	}
	var keep []deadEntry
	for _, e := range entries {
		if e.Seq == seq {
			keep = append(keep, e)
		}
	}
	return keep
}

// listDeadLetters prints the dead letters, read from the bus or, while
// the daemon holds data_dir, from its API: the same either way.
func listDeadLetters(ctx context.Context, env *cliEnv, cfg *config.Config, sub string, seq uint64, asJSON, verbose bool) int {
	b, api, ok := openInspect(ctx, env, cfg, "deadletters")
	if !ok {
		return exitFailure
	}
	var entries []deadEntry
	var err error
	if api != nil {
		entries, err = api.deadLetters(ctx, sub)
	} else {
		entries, err = deadLetters(ctx, b, sub)
		b.Close()
		entries = scrubbed(entries, cfg.Secrets())
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch deadletters: %v\n", err)
		return exitFailure
	}
	entries = withSeq(entries, seq)
	if asJSON {
		enc := json.NewEncoder(env.stdout)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				fmt.Fprintf(env.stderr, "newswatch deadletters list: writing the output: %v\n", err)
				return exitFailure
			}
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tSUBSCRIBER\tDEAD AT\tTRIES\tALERT\tTITLE\tPROBLEM")
	for _, e := range entries {
		title := e.Alert.Article.Title
		if e.Alert.Event != nil {
			title = e.Alert.Event.Summary
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", e.Seq, e.Subscriber, e.DeadAt.Format(time.RFC3339), len(e.Attempts),
			e.Alert.ID, oneLine(title, 50), deliveryProblem(e.Reason))
	}
	tw.Flush()
	if verbose {
		for _, e := range entries {
			fmt.Fprintf(env.stdout, "\nseq %d (%s):\n  %s\n", e.Seq, e.Subscriber, e.Reason)
			for i, a := range e.Attempts {
				fmt.Fprintf(env.stdout, "  try %d at %s: %s\n", i+1, a.At.Format(time.RFC3339), a.Error)
			}
		}
	}
	fmt.Fprintf(env.stdout, "%d dead letter%s\n", len(entries), plural(len(entries)))
	if !verbose && len(entries) > 0 {
		fmt.Fprintln(env.stdout, "(-v prints each whole reason and every attempt)")
	}
	return exitOK
}

var statusCode = regexp.MustCompile(`\bstatus (\d{3})\b`)

// deliveryProblem says why a delivery gave up in a few plain words; the
// whole reason is there with -v or -json.
func deliveryProblem(reason string) string {
	r := strings.ToLower(reason)
	code := 0
	if m := statusCode.FindStringSubmatch(reason); m != nil {
		code, _ = strconv.Atoi(m[1])
	}
	var what string
	switch {
	case strings.HasPrefix(r, "gone:"):
		what = "the receiver is gone (HTTP 410): the subscriber is disabled"
	case code >= 500:
		what = fmt.Sprintf("the receiver has a server error (HTTP %d)", code)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		what = fmt.Sprintf("the receiver refuses us (HTTP %d): check the secret or credentials", code)
	case code >= 400:
		what = fmt.Sprintf("the receiver refused the alert (HTTP %d %s)", code, http.StatusText(code))
	case code >= 300:
		what = fmt.Sprintf("the receiver redirects (HTTP %d): update the subscriber's url", code)
	case strings.Contains(r, "connection refused"):
		what = "nothing listens at the receiver's address (connection refused)"
	case strings.Contains(r, "no such host"):
		what = "the receiver's host name does not resolve (DNS)"
	case strings.Contains(r, "timeout") || strings.Contains(r, "deadline exceeded"):
		what = "the receiver did not answer in time"
	case strings.Contains(r, "certificate") || strings.Contains(r, "x509") || strings.Contains(r, "tls"):
		what = "TLS failed (certificate or handshake)"
	case strings.Contains(r, "could not be decoded") || strings.Contains(r, "decode"):
		what = "the alert could not be decoded"
	case strings.Contains(r, "smtp") || strings.Contains(r, "mail"):
		what = "the mail server refused or failed"
	default:
		what = "the delivery failed"
	}
	if strings.HasPrefix(r, "gave up after ") {
		n, _, _ := strings.Cut(strings.TrimPrefix(r, "gave up after "), " ")
		what += "; gave up after " + n + " tries"
	}
	return what
}

// replayOutcome is what replaying one dead letter did. POST
// /-/deadletters/replay answers one per dead letter (see replayReport).
type replayOutcome struct {
	Seq        uint64 `json:"seq"`
	Subscriber string `json:"subscriber"`
	Alert      string `json:"alert,omitempty"`
	// Outcome is "replayed" (delivered and removed) or "not_removed"
	// (delivered, but removing it failed); or, the dead letter kept,
	// "undecodable", "unknown_subscriber", "no_sink" or "failed".
	Outcome string `json:"outcome"`
	// FollowUp: delivered as a later report of a story the subscriber
	// already got.
	FollowUp bool   `json:"follow_up,omitempty"`
	Error    string `json:"error,omitempty"`
}

// note is the line the command prints about o; "" for a dead letter
// replayed as asked.
func (o replayOutcome) note() string {
	switch o.Outcome {
	case "undecodable":
		return fmt.Sprintf("seq %d: the alert could not be decoded (%s); nothing to replay, drop it", o.Seq, o.Error)
	case "unknown_subscriber":
		return fmt.Sprintf("seq %d: subscriber %q is no longer in the config; kept", o.Seq, o.Subscriber)
	case "no_sink":
		return fmt.Sprintf("seq %d: %s", o.Seq, o.Error)
	case "failed":
		return fmt.Sprintf("seq %d (%s → %s): %s; kept", o.Seq, o.Alert, o.Subscriber, o.Error)
	case "not_removed":
		return fmt.Sprintf("seq %d delivered, but removing it failed: %s", o.Seq, o.Error)
	}
	return ""
}

// replayReport is the answer of POST /-/deadletters/replay: how many
// dead letters were delivered, how many were kept, and each one's
// outcome in stream order.
type replayReport struct {
	Replayed int             `json:"replayed"`
	Failed   int             `json:"failed"`
	Entries  []replayOutcome `json:"entries"`
}

// replayEntries delivers each dead letter again through subs (see
// notifier.Subscribers.Deliver: the running daemon's subscribers, with
// their stories and metrics, or a command's own), and removes each one
// only once it is delivered.
func replayEntries(ctx context.Context, b *bus.Bus, subs *notifier.Subscribers, cfg *config.Config, entries []deadEntry) replayReport {
	byID := map[string]config.Subscriber{}
	for _, sub := range cfg.Subscribers {
		byID[sub.ID] = sub
	}
	rep := replayReport{Entries: make([]replayOutcome, 0, len(entries))}
	for _, e := range entries {
		o := replayOutcome{Seq: e.Seq, Subscriber: e.Subscriber, Alert: e.Alert.ID}
		sub, found := byID[e.Subscriber]
		switch {
		case e.Alert.Topic == "" && e.Alert.Event == nil:
			o.Outcome, o.Error = "undecodable", e.Reason
		case !found:
			o.Outcome = "unknown_subscriber"
		default:
			dctx, cancel := context.WithTimeout(ctx, sub.Timeout+30*time.Second)
			res, err := subs.Deliver(dctx, sub, cfg.SMTP, &e.Alert)
			cancel()
			switch {
			case err != nil && !res.Tried:
				o.Outcome, o.Error = "no_sink", err.Error()
			case err != nil:
				o.Outcome, o.Error = "failed", err.Error()
			default:
				o.Outcome, o.FollowUp = "replayed", res.FollowUp
				if err := b.DeleteMsg(ctx, b.Names.DeadStream, e.Seq); err != nil {
					o.Outcome, o.Error = "not_removed", err.Error()
				}
			}
		}
		if o.Outcome == "replayed" || o.Outcome == "not_removed" {
			rep.Replayed++
		} else {
			rep.Failed++
		}
		rep.Entries = append(rep.Entries, o)
	}
	return rep
}

// replayDeadLetters delivers the dead letters again: the daemon does it
// when it holds data_dir (through its API, so its stories and metrics
// count them), else this process, without story state.
func replayDeadLetters(ctx context.Context, env *cliEnv, cfg *config.Config, sub string, seq uint64) int {
	b, api, ok := openInspect(ctx, env, cfg, "deadletters")
	if !ok {
		return exitFailure
	}
	var rep replayReport
	if api != nil {
		var err error
		if rep, err = api.replayDeadLetters(ctx, sub, seq); err != nil {
			fmt.Fprintf(env.stderr, "newswatch deadletters: %v\n", err)
			return exitFailure
		}
	} else {
		defer b.Close()
		if _, err := b.StreamState(ctx, b.Names.DeadStream); err != nil {
			fmt.Fprintf(env.stderr, "newswatch deadletters: %v\n", err)
			return exitFailure
		}
		entries, err := deadLetters(ctx, b, sub)
		if err != nil {
			fmt.Fprintf(env.stderr, "newswatch deadletters: %v\n", err)
			return exitFailure
		}
		subs := notifier.NewSubscribers(nil, nil, nil)
		defer subs.Close()
		rep = replayEntries(ctx, b, subs, cfg, withSeq(entries, seq))
	}
	for _, o := range rep.Entries {
		if n := o.note(); n != "" {
			fmt.Fprintln(env.stderr, n)
		}
	}
	fmt.Fprintf(env.stdout, "replayed %d, failed %d\n", rep.Replayed, rep.Failed)
	if rep.Failed > 0 {
		return exitFailure
	}
	return exitOK
}

// replayRoutes serves POST /-/deadletters/replay (query or JSON body:
// subscriber, seq; both optional), so that `newswatch deadletters replay`
// has a daemon that holds data_dir deliver them, through its running
// subscribers (subs): follow-ups threaded, metrics and status counted.
// A replay started is finished even when its client goes away: stopped
// between a delivery and its removal, it would leave a delivered dead
// letter for the next replay to send again. Each dead letter not
// replayed is logged, since the client may not be there to read why.
func replayRoutes(b *bus.Bus, subs *notifier.Subscribers, cfg func() *config.Config, log *slog.Logger) map[string]http.Handler {
	var mu sync.Mutex // one replay at a time: two would deliver the same dead letter twice
	return map[string]http.Handler{
		"POST /-/deadletters/replay": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fail := func(code int, err error) {
				w.WriteHeader(code)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			}
			q, err := replayQuery(r)
			if err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
			ctx := context.WithoutCancel(r.Context())
			mu.Lock()
			defer mu.Unlock()
			entries, err := deadLetters(ctx, b, q.Subscriber)
			if err != nil {
				log.Error("replay dead letters: list them", "err", err)
				fail(http.StatusInternalServerError, err)
				return
			}
			rep := replayEntries(ctx, b, subs, cfg(), withSeq(entries, q.Seq))
			for _, o := range rep.Entries {
				if o.Outcome != "replayed" {
					log.Warn("replay dead letter", "seq", o.Seq, "subscriber", o.Subscriber, "alert", o.Alert, "outcome", o.Outcome, "err", o.Error)
				}
			}
			log.Info("replayed dead letters", "replayed", rep.Replayed, "failed", rep.Failed)
			_ = json.NewEncoder(w).Encode(rep)
		}),
	}
}

// replayFilter is which dead letters a replay asks for: all when zero.
type replayFilter struct {
	Subscriber string `json:"subscriber"`
	Seq        uint64 `json:"seq"`
}

// replayQuery reads the filter from the query, then from a JSON body.
func replayQuery(r *http.Request) (replayFilter, error) {
	var f replayFilter
	q := r.URL.Query()
	f.Subscriber = q.Get("subscriber")
	if s := q.Get("seq"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return f, fmt.Errorf("seq %q: not a sequence number", s)
		}
		f.Seq = n
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		var body replayFilter
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			return f, fmt.Errorf("body: %w", err)
		}
		if body.Subscriber != "" {
			f.Subscriber = body.Subscriber
		}
		if body.Seq != 0 {
			f.Seq = body.Seq
		}
	}
	if strings.ContainsAny(f.Subscriber, ".*> \t\r\n") {
		return f, fmt.Errorf("subscriber %q: not a subscriber id", f.Subscriber)
	}
	return f, nil
}

const deadLettersHelp = `Usage: newswatch deadletters list   [-config FILE] [-subscriber ID] [-seq N] [-json] [-v]
       newswatch deadletters replay [-config FILE] [-subscriber ID] [-seq N]
       newswatch deadletters drop   [-config FILE] (-subscriber ID | -seq N | -all)

Deliveries that gave up (no tries left, a final 4xx, or 410 Gone) are kept
in the dead-letter stream with every attempt's error.

  list     show them: why each gave up in plain words (-v: the whole
           reason and every attempt; -json: JSON Lines, each one whole).
           Works while the daemon runs, through its HTTP API
  replay   deliver them again to their subscriber, removing each one that
           succeeds; one that fails again is kept. While the daemon runs
           it replays them (through its HTTP API), so a report of a story
           the subscriber already got goes out as a follow-up and its
           metrics count it; without a running daemon this command
           replays them itself, knowing no story: each goes out as new
  drop     delete them (needs -subscriber, -seq or -all)

Flags:
`

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
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
	cfg, ok := loadConfig(env, *cfgPath)
	if !ok {
		return exitFailure
	}
	if action == "drop" && *sub == "" && *seq == 0 && !*all {
		fmt.Fprintln(env.stderr, "newswatch deadletters drop: give -subscriber ID, -seq N or -all")
		return exitUsage
	}
	if action == "list" {
		return listDeadLetters(ctx, env, cfg, *sub, *seq, *asJSON, *verbose)
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
	if action == "drop" {
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
	return replay(ctx, env, cfg, b, entries)
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
			_ = enc.Encode(e)
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

// replay delivers each dead letter again, straight to its subscriber's
// sink; a dead letter is removed only once its delivery succeeded.
func replay(ctx context.Context, env *cliEnv, cfg *config.Config, b *bus.Bus, entries []deadEntry) int {
	if _, err := b.StreamState(ctx, b.Names.DeadStream); err != nil {
		fmt.Fprintf(env.stderr, "newswatch deadletters: %v\n", err)
		return exitFailure
	}
	subs := map[string]config.Subscriber{}
	for _, sub := range cfg.Subscribers {
		subs[sub.ID] = sub
	}
	sinks := notifier.NewSubscribers(nil, nil, nil)
	defer sinks.Close()
	ok, failed := 0, 0
	for _, e := range entries {
		if e.Alert.Topic == "" && e.Alert.Event == nil {
			fmt.Fprintf(env.stderr, "seq %d: the alert could not be decoded (%s); nothing to replay, drop it\n", e.Seq, e.Reason)
			failed++
			continue
		}
		sub, found := subs[e.Subscriber]
		if !found {
			fmt.Fprintf(env.stderr, "seq %d: subscriber %q is no longer in the config; kept\n", e.Seq, e.Subscriber)
			failed++
			continue
		}
		sk, err := sinks.Sink(sub, cfg.SMTP)
		if err != nil {
			fmt.Fprintf(env.stderr, "seq %d: %v\n", e.Seq, err)
			failed++
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, sub.Timeout+30*time.Second)
		_, err = sk.Notify(dctx, &e.Alert)
		cancel()
		if err != nil {
			fmt.Fprintf(env.stderr, "seq %d (%s → %s): %v; kept\n", e.Seq, e.Alert.ID, sub.ID, err)
			failed++
			continue
		}
		if err := b.DeleteMsg(ctx, b.Names.DeadStream, e.Seq); err != nil {
			fmt.Fprintf(env.stderr, "seq %d delivered, but removing it failed: %v\n", e.Seq, err)
		}
		ok++
	}
	fmt.Fprintf(env.stdout, "replayed %d, failed %d\n", ok, failed)
	if failed > 0 {
		return exitFailure
	}
	return exitOK
}

const deadLettersHelp = `Usage: newswatch deadletters list   [-config FILE] [-subscriber ID] [-seq N] [-json] [-v]
       newswatch deadletters replay [-config FILE] [-subscriber ID] [-seq N]
       newswatch deadletters drop   [-config FILE] (-subscriber ID | -seq N | -all)

Deliveries that gave up (no tries left, a final 4xx, or 410 Gone) are kept
in the dead-letter stream with every attempt's error.

  list     show them: why each gave up in plain words (-v: the whole
           reason and every attempt; -json: JSON Lines, each one whole).
           Works while the daemon runs, through its HTTP API
  replay   deliver them again to their subscriber, removing each one that succeeds
  drop     delete them (needs -subscriber, -seq or -all)

Flags:
`

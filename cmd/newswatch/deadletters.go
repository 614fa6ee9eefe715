package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/notifier"
	"newswatch/pipeline"
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
	err := eachMessage(ctx, b, b.Names.DeadStream, subject, func(m jetstream.Msg) bool {
		var e deadEntry
		if json.Unmarshal(m.Data(), &e.DeadLetter) == nil {
			if md, err := m.Metadata(); err == nil {
				e.Seq = md.Sequence.Stream
			}
			out = append(out, e)
		}
		return true
	})
	return out, err
}

func cmdDeadLetters(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay" && args[0] != "drop") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprint(env.stdout, deadLettersHelp)
			return exitOK
		}
		fmt.Fprint(env.stderr, deadLettersHelp)
		return exitUsage
	}
	action := args[0]
	fs, cfgPath := newFlags(env, "deadletters")
	fs.Usage = func() { fmt.Fprint(env.stderr, deadLettersHelp); fs.PrintDefaults() }
	sub := fs.String("subscriber", "", "only this subscriber's dead letters")
	seq := fs.Uint64("seq", 0, "only the dead letter with this sequence number")
	all := fs.Bool("all", false, "drop: allow dropping every subscriber's dead letters")
	asJSON := fs.Bool("json", false, "list: print JSON Lines")
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
	if *seq != 0 {
		var keep []deadEntry
		for _, e := range entries {
			if e.Seq == *seq {
				keep = append(keep, e)
			}
		}
		entries = keep
	}
	switch action {
	case "list":
		if *asJSON {
			enc := json.NewEncoder(env.stdout)
			for _, e := range entries {
				_ = enc.Encode(e)
			}
			return exitOK
		}
		tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tSUBSCRIBER\tDEAD AT\tTRIES\tALERT\tTITLE\tREASON")
		for _, e := range entries {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", e.Seq, e.Subscriber, e.DeadAt.Format(time.RFC3339), len(e.Attempts),
				e.Alert.ID, oneLine(e.Alert.Article.Title, 50), oneLine(e.Reason, 70))
		}
		tw.Flush()
		fmt.Fprintf(env.stdout, "%d dead letter%s\n", len(entries), plural(len(entries)))
		return exitOK
	case "drop":
		s, err := b.JS.Stream(ctx, b.Names.DeadStream)
		if err != nil {
			fmt.Fprintf(env.stderr, "newswatch deadletters: %v\n", err)
			return exitFailure
		}
		for _, e := range entries {
			if err := s.DeleteMsg(ctx, e.Seq); err != nil {
				fmt.Fprintf(env.stderr, "drop %d: %v\n", e.Seq, err)
				return exitFailure
			}
		}
		fmt.Fprintf(env.stdout, "dropped %d dead letter%s\n", len(entries), plural(len(entries)))
		return exitOK
	}
	return replay(ctx, env, cfg, b, entries)
}

// replay delivers each dead letter again, straight to its subscriber's
// sink; a dead letter is removed only once its delivery succeeded.
func replay(ctx context.Context, env *cliEnv, cfg *config.Config, b *bus.Bus, entries []deadEntry) int {
	s, err := b.JS.Stream(ctx, b.Names.DeadStream)
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch deadletters: %v\n", err)
		return exitFailure
	}
	subs := map[string]config.Subscriber{}
	for _, sub := range cfg.Subscribers {
		subs[sub.ID] = sub
	}
	sinks := map[string]notifier.Sink{}
	defer func() {
		for _, sk := range sinks {
			closeSinkQuietly(sk)
		}
	}()
	ok, failed := 0, 0
	for _, e := range entries {
		if e.Alert.Topic == "" {
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
		sk, have := sinks[sub.ID]
		if !have {
			sk, err = pipeline.NewSink(sub, cfg.SMTP)
			if err != nil {
				fmt.Fprintf(env.stderr, "seq %d: %v\n", e.Seq, err)
				failed++
				continue
			}
			sinks[sub.ID] = sk
		}
		dctx, cancel := context.WithTimeout(ctx, sub.Timeout+30*time.Second)
		_, err := sk.Notify(dctx, &e.Alert)
		cancel()
		if err != nil {
			fmt.Fprintf(env.stderr, "seq %d (%s → %s): %v; kept\n", e.Seq, e.Alert.ID, sub.ID, err)
			failed++
			continue
		}
		if err := s.DeleteMsg(ctx, e.Seq); err != nil {
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

func closeSinkQuietly(s notifier.Sink) {
	if c, ok := s.(interface{ Close() error }); ok {
		_ = c.Close()
	}
}

const deadLettersHelp = `Usage: newswatch deadletters list|replay|drop [-config FILE] [-subscriber ID] [-seq N] [-json] [-all]

Deliveries that gave up (no tries left, a final 4xx, or 410 Gone) are kept
in the dead-letter stream with every attempt's error.

  list     show them (with -json: JSON Lines)
  replay   deliver them again to their subscriber, removing each one that succeeds
  drop     delete them (needs -subscriber, -seq or -all)

`

package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"newswatch/config"
	"newswatch/news"
	"newswatch/notifier"
)

// cmdTestDelivery sends one sample alert through a subscriber's real sink
// (the same webhook signing or SMTP session the daemon uses), so an
// operator can check a new subscriber end to end before any real alert.
func cmdTestDelivery(ctx context.Context, env *cliEnv, args []string) int {
	flags, cfgPath := newFlags(env, "test-delivery")
	subID := flags.String("subscriber", "", "`ID` of the subscriber to send the sample alert to (required)")
	topic := flags.String("topic", "", "topic `ID` of the sample alert (default: the subscriber's first topic)")
	timeout := flags.Duration("timeout", 30*time.Second, "how long to wait for the delivery")
	if code, done := parseFlags(flags, args); done {
		return code
	}
	if *subID == "" {
		fmt.Fprintln(env.stderr, "newswatch test-delivery: -subscriber is required")
		flags.Usage()
		return exitUsage
	}
	cfg, ok := loadConfig(env, *cfgPath)
	if !ok {
		return exitFailure
	}
	var sub *config.Subscriber
	ids := make([]string, 0, len(cfg.Subscribers))
	for i := range cfg.Subscribers {
		ids = append(ids, cfg.Subscribers[i].ID)
		if cfg.Subscribers[i].ID == *subID {
			sub = &cfg.Subscribers[i]
		}
	}
	if sub == nil {
		known := fmt.Sprintf("none is configured: add one under subscribers: in %s; the starter config has a commented example, desk", *cfgPath)
		if len(ids) > 0 {
			known = "known: " + strings.Join(ids, ", ")
		}
		fmt.Fprintf(env.stderr, "newswatch test-delivery: no subscriber %q (%s)\n", *subID, known)
		return exitFailure
	}
	alert, err := sampleAlert(cfg, *sub, *topic, time.Now().UTC())
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch test-delivery: %v\n", err)
		return exitUsage
	}
	// The sample goes the way a replayed dead letter does, without a
	// daemon: no story state, so never as a follow-up.
	subs := notifier.NewSubscribers(nil, nil, nil)
	defer subs.Close()
	nctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res, err := subs.Deliver(nctx, *sub, cfg.SMTP, &alert)
	if err != nil && !res.Tried {
		fmt.Fprintf(env.stderr, "newswatch test-delivery: %v\n", err)
		return exitFailure
	}
	if err != nil {
		kind := "final: the daemon would dead-letter it at once"
		switch {
		case errors.Is(err, notifier.ErrGone):
			kind = "410 Gone: the daemon would disable this subscriber, " + notifier.EnableHint(sub.ID)
		case res.Retry:
			kind = "temporary: the daemon would retry it"
		}
		fmt.Fprintf(env.stderr, "newswatch test-delivery: delivery to %s failed (%s)\n  %v\n", sub.ID, kind, err)
		return exitFailure
	}
	fmt.Fprintf(env.stdout, "delivered sample alert %s (topic %s) to %s %s\n", alert.ID, alert.Topic, sub.Type, sub.ID)
	return exitOK
}

// sampleAlert is a recognisable alert of topic (default: the subscriber's
// first topic, or the config's first) for sub. Its id is new on every
// call, so receivers that drop repeats do not drop a second test.
func sampleAlert(cfg *config.Config, sub config.Subscriber, topic string, now time.Time) (news.Alert, error) {
	if topic == "" {
		switch {
		case len(sub.Topics) > 0:
			topic = sub.Topics[0]
		case len(cfg.Topics) > 0:
			topic = cfg.Topics[0].ID
		default:
			topic = "test"
		}
	}
	name := topic
	found := topic == "test" && len(cfg.Topics) == 0
	for _, t := range cfg.Topics {
		if t.ID == topic {
			name, found = t.Name, true
		}
	}
	if !found {
		return news.Alert{}, fmt.Errorf("-topic: no topic %q in the config", topic)
	}
	articleID := "test-delivery-" + strconv.FormatInt(now.UnixNano(), 36)
	title := "newswatch test delivery for " + sub.ID
	summary := "This is a sample alert sent by `newswatch test-delivery` to check that " + sub.ID +
		" receives " + name + " alerts. It is not about a real article."
	return news.Alert{
		V:         news.Version,
		ID:        news.AlertID(topic, articleID),
		Topic:     topic,
		TopicName: name,
		Score:     1,
		Matches: []news.Match{
			{Term: "test", Field: "title", Count: 1, Snippet: "newswatch «test» delivery for " + sub.ID},
		},
		Article: news.Article{
			V:         news.Version,
			ID:        articleID,
			Source:    "newswatch-test",
			URL:       "https://example.org/newswatch/test-delivery",
			Title:     title,
			Summary:   summary,
			Content:   summary,
			Published: now,
			Fetched:   now,
		},
		Created: now,
	}, nil
}

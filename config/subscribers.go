package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Subscriber receives alerts of its topics. The keys of one type of sink
// are in that type's struct, inlined so that config.yaml keeps them flat
// beside the keys every subscriber has.
type Subscriber struct {
	ID     string   `yaml:"id"`
	Type   string   `yaml:"type"` // a name of sinkKinds
	Topics []string `yaml:"topics"`
	// Timeout bounds one delivery (a webhook request; a digest send is
	// given a minute more).
	Timeout time.Duration `yaml:"timeout"`

	WebhookSink `yaml:",inline"`
	EmailSink   `yaml:",inline"`

	Retry Retry `yaml:"retry"`

	// Events are the operational events the subscriber is sent besides
	// its alerts (see EventKinds); empty: none. A subscriber with events
	// and no topics gets the events only.
	Events []string `yaml:"events"`
}

// sinkKind is one type of subscriber as config sees it: how its keys
// are checked, which of its values are secrets, and whether it needs the
// mail server. Its sink is notifier's (notifier.Kind, keyed by the same
// name; a test there keeps the two tables in step).
type sinkKind struct {
	name string
	// validate checks the kind's keys of subscribers[i].
	validate func(c *Config, p *problems, i int, s Subscriber)
	// secrets lists the values of the kind's keys that must never be
	// shown. It is asked of every subscriber, whatever its type: a
	// secret written under a mistyped subscriber is still a secret.
	secrets func(s Subscriber) []string
	// needsSMTP makes smtp.host and smtp.from required.
	needsSMTP bool
}

// sinkKinds are the subscriber types, in the order `check` names them.
// Nothing else in the module looks at a subscriber's type name (a test
// in this package sees to it); adding a type is one entry here and one
// in notifier's kinds.
var sinkKinds = []sinkKind{webhookKind, emailKind}

// SinkKinds are the names of the subscriber types, in config order.
func SinkKinds() []string {
	out := make([]string, len(sinkKinds))
	for i, k := range sinkKinds {
		out[i] = k.name
	}
	return out
}

// sinkKindOf is the kind of a subscriber type; false when unknown.
func sinkKindOf(name string) (sinkKind, bool) {
	i := slices.IndexFunc(sinkKinds, func(k sinkKind) bool { return k.name == name })
	if i < 0 {
		return sinkKind{}, false
	}
	return sinkKinds[i], true
}

// orList joins names as "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// EventKinds are the operational events a subscriber may ask for.
// source.failing brings source.recovered with it.
var EventKinds = []string{"source.failing", "store.error", "data.lost", "consumer.error", "deadletter", "heartbeat"}

// Events sets when operational events are raised.
type Events struct {
	// SourceFailingAfter is how many failed fetches in a row make a
	// source failing (default 3; 0: never by count).
	SourceFailingAfter *int `yaml:"source_failing_after"`
	// SourceStaleAfter makes a source whose last fetch failed failing
	// when it has had no success for this long (0: off).
	SourceStaleAfter time.Duration `yaml:"source_stale_after"`
	// Heartbeat is the interval of heartbeat events (default 5m), sent
	// while some subscriber asks for them.
	Heartbeat time.Duration `yaml:"heartbeat"`
}

// FailingAfter is SourceFailingAfter with its default applied.
func (e Events) FailingAfter() int {
	if e.SourceFailingAfter == nil {
		return DefaultSourceFailingAfter
	}
	return *e.SourceFailingAfter
}

// DefaultSourceFailingAfter is events.source_failing_after when unset.
const DefaultSourceFailingAfter = 3

// WantsEvent reports whether the subscriber asked for events of kind
// (source.recovered comes with source.failing).
func (s Subscriber) WantsEvent(kind string) bool {
	if kind == "source.recovered" {
		kind = "source.failing"
	}
	return slices.Contains(s.Events, kind)
}

// Retry is a subscriber's delivery retry schedule: Attempts tries in all,
// backing off exponentially from Initial, capped at Max.
type Retry struct {
	Attempts int           `yaml:"attempts"`
	Initial  time.Duration `yaml:"initial"`
	Max      time.Duration `yaml:"max"`
}

// Delay is the back-off before try attempt+1: Initial, tripled each time,
// capped at Max, with ±20% jitter (jitter in [0,1)). With the default 10
// tries from 30s capped at 6h, the tries span about 21 hours.
func (r Retry) Delay(attempt int, jitter float64) time.Duration {
	d := float64(r.Initial)
	for i := 1; i < attempt && d < float64(r.Max); i++ {
		d *= 3
	}
	d = min(d, float64(r.Max))
	d *= 0.8 + 0.4*jitter
	return time.Duration(d)
}

// Span is the longest time from the first try to the last.
func (r Retry) Span() time.Duration {
	var total time.Duration
	for a := 1; a < r.Attempts; a++ {
		total += r.Delay(a, 1)
	}
	return total
}

// validateSubscribers checks the keys every subscriber has, and its
// kind's keys with the kind's validate.
func (c *Config) validateSubscribers() Problems {
	p := &problems{c: c}
	topics := map[string]bool{}
	for _, t := range c.Topics {
		topics[t.ID] = true
	}
	seen := map[string]bool{}
	for i, s := range c.Subscribers {
		p.id(s.ID, seen, "subscribers", "subscriber", i)
		for j, t := range s.Topics {
			if !topics[t] {
				p.add(fmt.Sprintf("unknown topic %q%s", t, topicHint(t, c.Topics)), "subscribers", i, "topics", j)
			}
		}
		if k, ok := sinkKindOf(s.Type); ok {
			k.validate(c, p, i, s)
		} else {
			hint := ""
			switch strings.ToLower(s.Type) {
			case "slack", "discord", "teams":
				hint = fmt.Sprintf(": for %s, write type: webhook and format: %s", s.Type, strings.ToLower(s.Type))
			}
			p.add(fmt.Sprintf("unknown type %q (%s)%s", s.Type, orList(SinkKinds()), hint), "subscribers", i, "type")
		}
		for j, e := range s.Events {
			if !slices.Contains(EventKinds, e) {
				p.add(fmt.Sprintf("unknown event %q (%s)", e, strings.Join(EventKinds, ", ")), "subscribers", i, "events", j)
			}
		}
		if span := s.Retry.Span(); s.Retry.Initial > 0 && s.Retry.Attempts <= MaxAttempts && span > c.NATS.ArticleMaxAge {
			p.add(fmt.Sprintf("the retry schedule spans up to %s, longer than nats.article_max_age (%s): alerts would expire before their last try", span.Round(time.Minute), c.NATS.ArticleMaxAge), "subscribers", i, "retry")
		}
	}
	return p.ps
}

// topicHint says which topic id was meant, or which ones the config has.
func topicHint(id string, topics []Topic) string {
	if len(topics) == 0 {
		return " (the config has no topics)"
	}
	ids := make([]string, len(topics))
	for i, t := range topics {
		ids[i] = t.ID
	}
	if s := Nearest(id, ids); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return " (the config has " + strings.Join(ids, ", ") + ")"
}

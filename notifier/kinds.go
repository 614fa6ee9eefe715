package notifier

import (
	"fmt"
	"net/url"
	"slices"

	"newswatch/config"
)

// Kind is one type of sink: how a subscriber of that type is built and
// where its deliveries go (as shown to an operator). Its keys, their
// checks and which of them are secrets are config's (config.SinkKinds,
// one entry per type beside its struct, e.g. config.WebhookSink), so
// that a config is checked and logs are scrubbed without the notifier.
// Each kind lives in its own file beside its sink; adding a type is one
// entry in kinds and one in config's table (TestKindsMatchConfig).
type Kind struct {
	// New builds the subscriber's sink; smtp is the mail server in force.
	New func(sub config.Subscriber, smtp config.SMTP) (Sink, error)
	// Target is where the deliveries go, without credentials.
	Target func(sub config.Subscriber) string
}

// kinds are the sink types by config `type`; read-only.
var kinds = map[string]Kind{
	"webhook": webhookKind,
	"email":   emailKind,
}

// Kinds lists the sink types, sorted.
func Kinds() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// KindOf is the kind of sub; false when its type is unknown.
func KindOf(sub config.Subscriber) (Kind, bool) {
	k, ok := kinds[sub.Type]
	return k, ok
}

// SinkFor builds the delivery sink of a subscriber.
func SinkFor(sub config.Subscriber, smtp config.SMTP) (Sink, error) {
	k, ok := KindOf(sub)
	if !ok {
		return nil, fmt.Errorf("subscriber %s: unknown type %q", sub.ID, sub.Type)
	}
	return k.New(sub, smtp)
}

// Target is where sub's deliveries go, for display; empty for an
// unknown type.
func Target(sub config.Subscriber) string {
	if k, ok := KindOf(sub); ok {
		return k.Target(sub)
	}
	return ""
}

// origin is a URL's scheme and host only.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}

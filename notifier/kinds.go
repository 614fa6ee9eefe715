package notifier

import (
	"fmt"
	"net/url"
	"slices"

	"newswatch/config"
)

// Kind is one type of sink: how a subscriber of that type is built,
// where its deliveries go (as shown to an operator) and which of its
// values are secrets. Each kind lives in its own file beside its sink;
// adding a type means adding it to kinds.
type Kind struct {
	// New builds the subscriber's sink; smtp is the mail server in force.
	New func(sub config.Subscriber, smtp config.SMTP) (Sink, error)
	// Target is where the deliveries go, without credentials.
	Target func(sub config.Subscriber) string
	// Secrets are the kind-specific values never to be shown (the
	// caller adds the ones every subscriber may carry).
	Secrets func(sub config.Subscriber) []string
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

// Secrets are the values of sub that its kind knows to be secret; none
// for an unknown type.
func Secrets(sub config.Subscriber) []string {
	if k, ok := KindOf(sub); ok {
		return k.Secrets(sub)
	}
	return nil
}

// tokenLike reports whether a URL path segment looks like a credential:
// long, with letters and digits.
func tokenLike(seg string) bool {
	if len(seg) < 16 {
		return false
	}
	letters, digits := false, false
	for i := 0; i < len(seg); i++ {
		switch c := seg[i]; {
		case c >= '0' && c <= '9':
			digits = true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letters = true
		}
	}
	return letters && digits
}

// origin is a URL's scheme and host only.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}

package notifier

import "newswatch/news"

// LinkFunc returns the signed feedback links of alert a for subscriber
// sub, or nil when there are none (http.public_url unset).
type LinkFunc func(a *news.Alert, sub string) *news.FeedbackLinks

// SetFeedback makes sink s add feedback links to what it delivers, if it
// is a sink that can carry them (webhook, email).
func SetFeedback(s Sink, f LinkFunc) {
	if l, ok := s.(linker); ok {
		l.setLinks(f)
	}
}

// linker is a sink that can carry feedback links.
type linker interface{ setLinks(LinkFunc) }

// withLinks is a with its subscriber's feedback links; a itself is left
// as it is (the dispatcher may deliver it again).
func withLinks(f LinkFunc, a *news.Alert, sub string) *news.Alert {
	if f == nil || a == nil {
		return a
	}
	l := f(a, sub)
	if l == nil {
		return a
	}
	c := *a
	c.Feedback = l
	return &c
}

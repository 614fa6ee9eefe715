package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// maxAttention bounds the failing sources the page leads with; the
	// sources section below pages through all of them.
	maxAttention = 10
	// backlogAttention is the backlog at which a subscriber that
	// otherwise delivers is shown as falling behind: a few alerts waiting
	// between deliveries are normal.
	backlogAttention = 20
	// urlShown is how many characters of a URL the page shows: one line
	// of a 390 px phone screen.
	urlShown = 44
)

// attention is what the page leads with: what is wrong, briefly, each
// entry pointing to its section further down.
type attention struct {
	Sources     []sourceLine // failing, in config order, at most maxAttention lines
	MoreSources int          // failing beyond those lines
	Subscribers []troubled
}

// troubled is a subscriber that does not deliver as it should, and why.
type troubled struct {
	Subscriber
	Why string
}

// sourceLine is one line of "Needs attention": a failing source, or the
// sources failing the same way (RollUp), so that fourteen sources without
// DNS are one line, not fourteen.
type sourceLine struct {
	Problem string
	Count   int      // sources failing this way
	Sources []Source // their own rows, at most maxAttention
}

// sourceAt is a source with the time the page is made, for its row.
type sourceAt struct {
	Source
	Now time.Time
}

// More is how many of the line's sources have no row of their own.
func (l sourceLine) More() int { return l.Count - len(l.Sources) }

// failingSources are the first maxAttention lines of failing sources
// (sources sharing a problem make one line) and how many failing sources
// those lines leave out.
func failingSources(all []Source) ([]sourceLine, int) {
	var out []sourceLine
	more := 0
	for _, g := range RollUp(all) {
		if len(out) == maxAttention {
			more += len(g.Sources)
			continue
		}
		out = append(out, sourceLine{Problem: g.Problem, Count: len(g.Sources), Sources: g.Sources[:min(len(g.Sources), maxAttention)]})
	}
	return out, more
}

// troubledSubscribers are the subscribers without a consumer to pull
// from, disabled, whose last delivery failed, or whose backlog grows.
func troubledSubscribers(subs []Subscriber) []troubled {
	var out []troubled
	for _, s := range subs {
		var why []string
		if s.ConsumerError != "" {
			why = append(why, "no consumer to pull from, nothing is delivered; its alerts stay queued: "+s.ConsumerError)
		}
		switch {
		case s.Disabled:
			why = append(why, "disabled; its alerts stay queued until it is enabled: change its config and reload, or run newswatch subscribers enable "+s.ID)
		case s.LastResult == "retry":
			why = append(why, "deliveries fail, retrying")
		case s.LastResult == "dead":
			why = append(why, "its last delivery was dead-lettered")
		case s.LastResult != "" && s.LastResult != "ok":
			why = append(why, "last delivery: "+s.LastResult)
		}
		if s.Backlog >= backlogAttention {
			why = append(why, fmt.Sprintf("%d alerts waiting", s.Backlog))
		}
		if len(why) > 0 {
			out = append(out, troubled{Subscriber: s, Why: strings.Join(why, "; ")})
		}
	}
	return out
}

// cutURL shows a URL on one line: a long one is cut in the middle, where
// it says least (the scheme and host start it, the feed's file name ends
// it), with the whole of it on hover (title) and on a tap (details).
func cutURL(u string) template.HTML {
	esc := template.HTMLEscapeString
	short, cut := midcut(u, urlShown)
	if !cut {
		return template.HTML(`<span class="url">` + esc(u) + `</span>`)
	}
	return template.HTML(`<details class="url"><summary title="` + esc(u) + `">` + esc(short) +
		`</summary><span class="full">` + esc(u) + `</span></details>`)
}

// midcut shortens s to at most n characters by replacing its middle with
// an ellipsis; it keeps more of the start than of the end.
func midcut(s string, n int) (string, bool) {
	if utf8.RuneCountInString(s) <= n || n < 3 {
		return s, false
	}
	r := []rune(s)
	head := (n - 1) * 3 / 5
	tail := n - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:]), true
}

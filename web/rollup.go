package web

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// vagueProblem is what Problem says of an error it cannot put in words:
// two sources saying it may fail for unrelated reasons.
const vagueProblem = "the fetch failed"

var (
	// inARow is the count Problem adds, which differs between sources
	// failing for the same reason since different times.
	inARow = regexp.MustCompile(`; \d+ failures in a row$`)
	// urlIn is a URL quoted in a problem: each source has its own.
	urlIn = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)
)

// ProblemKey is what sources failing the same way share: the problem in
// words without the source's own failure count and URLs. It is "" for a
// source that does not fail, and for the vague "the fetch failed".
func ProblemKey(s Source) string {
	if s.Status != "error" {
		return ""
	}
	k := strings.TrimSpace(urlIn.ReplaceAllString(inARow.ReplaceAllString(s.Problem, ""), "…"))
	if k == vagueProblem {
		return ""
	}
	return k
}

// SameProblem is the problem every one of srcs fails with when there are
// two or more and they all fail the same way; "" otherwise. The cause is
// then most likely the machine (offline, no DNS, a proxy), and no
// source's own row shows it.
func SameProblem(srcs []Source) string {
	if len(srcs) < 2 {
		return ""
	}
	first := ProblemKey(srcs[0])
	for _, s := range srcs[1:] {
		if first == "" || ProblemKey(s) != first {
			return ""
		}
	}
	return first
}

// ProblemGroup is failing sources that share a problem (ProblemKey).
type ProblemGroup struct {
	Problem string
	Sources []Source
}

// RollUp groups the failing sources of srcs by their problem, in the
// order each problem first appears; a source whose problem is vague is a
// group of its own.
func RollUp(srcs []Source) []ProblemGroup {
	var out []ProblemGroup
	at := map[string]int{}
	for _, s := range srcs {
		if s.Status != "error" {
			continue
		}
		k := ProblemKey(s)
		if i, ok := at[k]; ok && k != "" {
			out[i].Sources = append(out[i].Sources, s)
			continue
		}
		if k == "" {
			k = s.Problem
		} else {
			at[k] = len(out)
		}
		out = append(out, ProblemGroup{Problem: k, Sources: []Source{s}})
	}
	return out
}

// Kind and key of the warning that every source fails.
const (
	KindSourcesFailing = "sources.failing"
	keySources         = "sources"
)

// sourcesFault is a warning when every configured source fails: nothing
// new comes in. It does not fail /readyz: a replica without network is
// still the one to keep, and another would fail the same way. Since is
// the last success of any source (zero: none ever succeeded).
func sourcesFault(srcs []Source) (Fault, bool) {
	if len(srcs) == 0 {
		return Fault{}, false
	}
	var last time.Time
	for _, s := range srcs {
		if s.Status != "error" {
			return Fault{}, false
		}
		if s.LastSuccess.After(last) {
			last = s.LastSuccess
		}
	}
	var detail string
	switch same := SameProblem(srcs); {
	case len(srcs) == 1:
		detail = "the only source fails (" + ProblemKey(srcs[0]) + "): nothing new is fetched"
		if ProblemKey(srcs[0]) == "" {
			detail = "the only source fails: nothing new is fetched"
		}
	case same != "":
		detail = fmt.Sprintf("all %d sources fail the same way (%s): nothing new is fetched; check this machine's network, DNS or proxy first", len(srcs), same)
	default:
		detail = fmt.Sprintf("all %d sources fail: nothing new is fetched", len(srcs))
	}
	return Fault{Key: keySources, Kind: KindSourcesFailing, Detail: detail, Since: last.UTC()}, true
}

package web

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSourcesFault(t *testing.T) {
	const dns = "the host name does not resolve (DNS)"
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	failing := func(id, problem string, last time.Time) Source {
		return Source{ID: id, Status: "error", Problem: problem, LastSuccess: last}
	}
	for _, tc := range []struct {
		name   string
		srcs   []Source
		detail string // "": no fault
		since  time.Time
	}{
		{"none configured", nil, "", time.Time{}},
		{"one ok", []Source{failing("a", dns, t0), {ID: "b", Status: "ok"}}, "", time.Time{}},
		{"one pending", []Source{failing("a", dns, t0), {ID: "b", Status: "pending"}}, "", time.Time{}},
		{"the only source", []Source{failing("a", dns+"; 5 failures in a row", time.Time{})},
			"the only source fails (the host name does not resolve (DNS)): nothing new is fetched", time.Time{}},
		{"the only source, vaguely", []Source{failing("a", "the fetch failed", time.Time{})},
			"the only source fails: nothing new is fetched", time.Time{}},
		{"all the same, since the last success of any", []Source{failing("a", dns, t0), failing("b", dns+"; 2 failures in a row", t0.Add(time.Hour))},
			"all 2 sources fail the same way (the host name does not resolve (DNS)): nothing new is fetched; check this machine's network, DNS or proxy first", t0.Add(time.Hour)},
		{"all, vaguely", []Source{failing("a", "the fetch failed", t0), failing("b", "the fetch failed", t0)},
			"all 2 sources fail: nothing new is fetched", t0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := sourcesFault(tc.srcs)
			if ok != (tc.detail != "") || f.Detail != tc.detail || !f.Since.Equal(tc.since) {
				t.Errorf("sourcesFault = %+v, %v; want detail %q since %s", f, ok, tc.detail, tc.since)
			}
			if ok && (f.Blocking || f.Kind != KindSourcesFailing || f.Key != "sources") {
				t.Errorf("fault %+v: want a non-blocking %s under key sources", f, KindSourcesFailing)
			}
		})
	}
}

func TestProblemKey(t *testing.T) {
	for _, tc := range []struct {
		src  Source
		want string
	}{
		{Source{Status: "error", Problem: "the site has a server error (HTTP 503); 7 failures in a row"}, "the site has a server error (HTTP 503)"},
		{Source{Status: "error", Problem: "the URL https://a.example.org/x.xml is odd"}, "the URL … is odd"},
		{Source{Status: "error", Problem: "the fetch failed; 2 failures in a row"}, ""},
		{Source{Status: "ok", Problem: "stale words"}, ""},
	} {
		if got := ProblemKey(tc.src); got != tc.want {
			t.Errorf("ProblemKey(%+v) = %q, want %q", tc.src, got, tc.want)
		}
	}
}

func TestRollUp(t *testing.T) {
	const dns = "the host name does not resolve (DNS)"
	src := func(id, status, problem string) Source { return Source{ID: id, Status: status, Problem: problem} }
	ids := func(gs []ProblemGroup) []string {
		var out []string
		for _, g := range gs {
			var s []string
			for _, x := range g.Sources {
				s = append(s, x.ID)
			}
			out = append(out, g.Problem+"="+strings.Join(s, ","))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		srcs []Source
		want []string
	}{
		{"none failing", []Source{src("a", "ok", ""), src("b", "pending", "")}, nil},
		{"same problem, counts differ", []Source{src("a", "error", dns+"; 3 failures in a row"), src("b", "ok", ""), src("c", "error", dns)},
			[]string{dns + "=a,c"}},
		{"order of first appearance", []Source{src("a", "error", "the feed is gone (HTTP 404): check the URL"), src("b", "error", dns), src("c", "error", "the feed is gone (HTTP 404): check the URL")},
			[]string{"the feed is gone (HTTP 404): check the URL=a,c", dns + "=b"}},
		{"vague problems stay apart", []Source{src("a", "error", "the fetch failed"), src("b", "error", "the fetch failed; 2 failures in a row")},
			[]string{"the fetch failed=a", "the fetch failed; 2 failures in a row=b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(RollUp(tc.srcs)); !slices.Equal(got, tc.want) {
				t.Errorf("RollUp = %q, want %q", got, tc.want)
			}
		})
	}
}

package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"newswatch/feedback"
	"newswatch/pipeline"
)

// Page sizes: every list the page or the API serves is bounded.
const (
	defaultPerPage = 50
	maxPerPage     = 500
	pageAlerts     = 20
	pageDead       = 10
	maxLimit       = 200
	gatherTimeout  = 10 * time.Second
)

//go:embed templates/status.html
var templateFS embed.FS

var pageTmpl = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"ago":       ago,
	"until":     until,
	"stamp":     stamp,
	"highlight": highlight,
	"join":      strings.Join,
	"cutURL":    cutURL,
	"contains":  strings.Contains,
	"more":      func(shown, n int) int { return n - shown },
	"at":        func(now time.Time, s Source) sourceAt { return sourceAt{Source: s, Now: now} },
	"score":     func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
}).ParseFS(templateFS, "templates/status.html"))

// status serves the page and the API from a Backend.
type status struct {
	b      Backend
	log    *slog.Logger
	now    func() time.Time
	faults func() []Fault // nil: none
}

func (s *status) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// sourcePage is one page of sources after filtering.
type sourcePage struct {
	Total    int            `json:"total"` // matching the filter
	All      int            `json:"all"`   // configured
	Counts   map[string]int `json:"counts"`
	Page     int            `json:"page"`
	Pages    int            `json:"pages"`
	PerPage  int            `json:"per_page"`
	Status   string         `json:"status,omitempty"`
	Query    string         `json:"q,omitempty"`
	Sources  []Source       `json:"sources"`
	PrevURL  string         `json:"-"`
	NextURL  string         `json:"-"`
	Statuses []string       `json:"-"`
}

// filterSources pages through the sources matching ?status= and ?q=.
func filterSources(all []Source, v url.Values) (sourcePage, error) {
	p := sourcePage{All: len(all), Counts: map[string]int{"ok": 0, "error": 0, "pending": 0}, PerPage: defaultPerPage,
		Status: v.Get("status"), Query: strings.TrimSpace(v.Get("q")), Statuses: []string{"error", "pending", "ok"}}
	var err error
	if p.Page, err = intParam(v, "page", 1, 1, 1<<30); err != nil {
		return p, err
	}
	if p.PerPage, err = intParam(v, "per_page", defaultPerPage, 1, maxPerPage); err != nil {
		return p, err
	}
	var match []Source
	for _, src := range all {
		p.Counts[src.Status]++
		if p.Status != "" && src.Status != p.Status {
			continue
		}
		if p.Query != "" && !strings.Contains(src.ID, strings.ToLower(p.Query)) {
			continue
		}
		match = append(match, src)
	}
	p.Total = len(match)
	p.Pages = max(1, (p.Total+p.PerPage-1)/p.PerPage)
	lo := min((p.Page-1)*p.PerPage, p.Total)
	hi := min(lo+p.PerPage, p.Total)
	p.Sources = match[lo:hi]
	if p.Sources == nil {
		p.Sources = []Source{}
	}
	return p, nil
}

func intParam(v url.Values, name string, def, lo, hi int) (int, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s must be a number from %d to %d", name, lo, hi)
	}
	return n, nil
}

func queryOf(v url.Values, topicKey, beforeKey string, def int) (Query, error) {
	q := Query{Topic: v.Get(topicKey), Subscriber: v.Get("subscriber"), Full: v.Get("full") == "1"}
	var err error
	if q.Limit, err = intParam(v, "limit", def, 1, maxLimit); err != nil {
		return q, err
	}
	if b := v.Get(beforeKey); b != "" {
		if q.Before, err = strconv.ParseUint(b, 10, 64); err != nil {
			return q, fmt.Errorf("%s must be a stream sequence", beforeKey)
		}
	}
	return q, nil
}

// withParams is the page URL with some query parameters changed.
func withParams(v url.Values, kv ...string) string {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			c.Del(kv[i])
		} else {
			c.Set(kv[i], kv[i+1])
		}
	}
	if len(c) == 0 {
		return "/"
	}
	return "/?" + c.Encode()
}

// pageData is everything the template shows.
type pageData struct {
	Now         time.Time
	Attention   attention
	Sources     sourcePage
	SourcesErr  string
	Topics      []Topic
	TopicsErr   string
	Subscribers []Subscriber
	SubsErr     string
	Alerts      []Alert
	AlertsErr   string
	AlertTopic  string
	OlderAlerts string
	AllAlerts   string
	Dead        []DeadLetter
	DeadErr     string
	OlderDead   string
	Problems    []Fault // store faults, data lost, every source failing
}

func (s *status) page(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	ctx, cancel := context.WithTimeout(r.Context(), gatherTimeout)
	defer cancel()
	now := s.clock()
	d := pageData{Now: now, AlertTopic: v.Get("topic")}
	var sourcesDown *Fault // every source failing
	aq, aerr := queryOf(v, "topic", "before", pageAlerts)
	dq, derr := queryOf(v, "", "dead_before", pageDead)
	dq.Subscriber = ""
	if aerr != nil || derr != nil {
		http.Error(w, fmt.Sprint(firstErr(aerr, derr)), http.StatusBadRequest)
		return
	}
	// Each section is read on its own: one failing shows its error and
	// leaves the others intact.
	var wg sync.WaitGroup
	wg.Go(func() {
		all, err := s.b.Sources(ctx)
		if err == nil {
			if f, ok := sourcesFault(all); ok {
				sourcesDown = &f
			}
			d.Attention.Sources, d.Attention.MoreSources = failingSources(all)
			d.Sources, err = filterSources(all, v)
		}
		if err != nil {
			d.SourcesErr = err.Error()
			return
		}
		if d.Sources.Page > 1 {
			d.Sources.PrevURL = withParams(v, "page", strconv.Itoa(d.Sources.Page-1)) + "#sources"
		}
		if d.Sources.Page < d.Sources.Pages {
			d.Sources.NextURL = withParams(v, "page", strconv.Itoa(d.Sources.Page+1)) + "#sources"
		}
	})
	wg.Go(func() {
		var err error
		if d.Topics, err = s.b.Topics(ctx, now.Add(-24*time.Hour)); err != nil {
			d.TopicsErr = err.Error()
		}
	})
	wg.Go(func() {
		var err error
		if d.Subscribers, err = s.b.Subscribers(ctx); err != nil {
			d.SubsErr = err.Error()
		}
	})
	wg.Go(func() {
		var err error
		if d.Alerts, err = s.b.Alerts(ctx, aq); err != nil {
			d.AlertsErr = err.Error()
			return
		}
		if n := len(d.Alerts); n == aq.Limit && d.Alerts[n-1].Seq > 1 {
			d.OlderAlerts = withParams(v, "before", strconv.FormatUint(d.Alerts[n-1].Seq, 10)) + "#alerts"
		}
		if aq.Topic != "" || aq.Before != 0 {
			d.AllAlerts = withParams(v, "topic", "", "before", "") + "#alerts"
		}
	})
	wg.Go(func() {
		var err error
		if d.Dead, err = s.b.DeadLetters(ctx, dq); err != nil {
			d.DeadErr = err.Error()
			return
		}
		if n := len(d.Dead); n == dq.Limit && d.Dead[n-1].Seq > 1 {
			d.OlderDead = withParams(v, "dead_before", strconv.FormatUint(d.Dead[n-1].Seq, 10)) + "#dead"
		}
	})
	wg.Wait()
	s.feedbackDecorate(ctx, d.Topics, d.Alerts)
	d.Attention.Subscribers = troubledSubscribers(d.Subscribers)
	if s.faults != nil {
		d.Problems = s.faults()
	}
	if sourcesDown != nil {
		d.Problems = append(d.Problems, *sourcesDown)
	}

	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err := pageTmpl.Execute(w, d); err != nil {
		s.log.Error("render status page", "err", err)
	}
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *status) fail(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func (s *status) apiSources(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), gatherTimeout)
	defer cancel()
	all, err := s.b.Sources(ctx)
	if err != nil {
		s.fail(w, http.StatusInternalServerError, err)
		return
	}
	p, err := filterSources(all, r.URL.Query())
	if err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *status) apiTopics(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), gatherTimeout)
	defer cancel()
	since := s.clock().Add(-24 * time.Hour).UTC()
	ts, err := s.b.Topics(ctx, since)
	if err != nil {
		s.fail(w, http.StatusInternalServerError, err)
		return
	}
	s.feedbackDecorate(ctx, ts, nil)
	writeJSON(w, http.StatusOK, map[string]any{"since": since, "topics": ts})
}

func (s *status) apiSubscribers(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), gatherTimeout)
	defer cancel()
	subs, err := s.b.Subscribers(ctx)
	if err != nil {
		s.fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscribers": subs})
}

func (s *status) apiAlerts(w http.ResponseWriter, r *http.Request) {
	q, err := queryOf(r.URL.Query(), "topic", "before", pageAlerts)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), gatherTimeout)
	defer cancel()
	as, err := s.b.Alerts(ctx, q)
	if err != nil {
		s.fail(w, http.StatusInternalServerError, err)
		return
	}
	s.feedbackDecorate(ctx, nil, as)
	out := map[string]any{"alerts": as}
	if n := len(as); n == q.Limit && as[n-1].Seq > 1 {
		out["next_before"] = as[n-1].Seq
	}
	writeJSON(w, http.StatusOK, out)
}

// apiFeedback serves the stored labels (of topic, when given) oldest
// first, as the feedback bucket holds them: small records, all at once.
func (s *status) apiFeedback(w http.ResponseWriter, r *http.Request) {
	fl, ok := s.b.(FeedbackLister)
	if !ok {
		s.fail(w, http.StatusNotFound, errors.New("this daemon keeps no feedback"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), gatherTimeout)
	defer cancel()
	recs, bad, err := fl.FeedbackRecords(ctx)
	if err != nil {
		// The CLI (feedback list, export, model) reads through here: a
		// bucket that cannot be read is the daemon's fault to report too.
		s.log.Warn("GET /api/feedback: cannot read the labels", "err", err)
		s.fail(w, http.StatusInternalServerError, err)
		return
	}
	out := []feedback.Record{}
	topic := r.URL.Query().Get("topic")
	for _, rec := range recs {
		if topic == "" || rec.Topic == topic {
			out = append(out, rec)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"feedback": out, "unreadable": bad})
}

func (s *status) apiDeadLetters(w http.ResponseWriter, r *http.Request) {
	q, err := queryOf(r.URL.Query(), "", "before", pageDead)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), gatherTimeout)
	defer cancel()
	ds, err := s.b.DeadLetters(ctx, q)
	if err != nil {
		s.fail(w, http.StatusInternalServerError, err)
		return
	}
	out := map[string]any{"dead_letters": ds}
	if n := len(ds); n == q.Limit && ds[n-1].Seq > 1 {
		out["next_before"] = ds[n-1].Seq
	}
	writeJSON(w, http.StatusOK, out)
}

// highlight renders a snippet whose matched terms are marked « like
// this » with the terms in <mark>; everything else is escaped.
func highlight(s string) template.HTML {
	var b strings.Builder
	for {
		i := strings.Index(s, "«")
		if i < 0 {
			break
		}
		j := strings.Index(s[i:], "»")
		if j < 0 {
			break
		}
		b.WriteString(template.HTMLEscapeString(s[:i]))
		b.WriteString("<mark>")
		b.WriteString(template.HTMLEscapeString(s[i+len("«") : i+j]))
		b.WriteString("</mark>")
		s = s[i+j+len("»"):]
	}
	b.WriteString(template.HTMLEscapeString(s))
	return template.HTML(b.String())
}

// ago says how long before now t was, in words.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + words(-d)
	}
	if d < 5*time.Second {
		return "just now"
	}
	return words(d) + " ago"
}

// until says how long after now t is, in words.
func until(now, t time.Time) string {
	if t.IsZero() {
		return "not yet scheduled"
	}
	d := t.Sub(now)
	if d < time.Second {
		return "due now"
	}
	return "in " + words(d)
}

func words(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// htmlNotFeed is the problem of a feed URL that answers an HTML page;
// htmlNowNotFeed that of one that gave a feed before (SourceOf).
const (
	htmlNotFeed    = "the URL is an HTML page, not a feed: use the site's feed URL (the whole error names it when the page advertises one) or type: page"
	htmlNowNotFeed = "the feed, which was read fine before, now answers an HTML page (a login, consent or bot-check page?): open the URL in a browser"
)

// Problem says a fetch error in words an operator can act on.
func Problem(err string, httpStatus, failures int) string {
	return ProblemOf("", err, httpStatus, failures)
}

// ProblemOf is Problem for an error of a known kind (pipeline.ErrorKind*);
// without one (a state written before kinds were kept) the text decides.
func ProblemOf(kind, err string, httpStatus, failures int) string {
	if err == "" {
		return ""
	}
	e := strings.ToLower(err)
	var what string
	switch {
	case strings.Contains(e, "waiting for a turn at"):
		// The fetcher's own queue for the host, not the site, ran out of
		// time: the site was never asked.
		what = "other fetches to the same host held its turns (fetch.per_host) until the time ran out; the site was not asked"
	case kind == pipeline.ErrorKindTimeout:
		what = "the site did not answer in time"
	case kind == pipeline.ErrorKindTooLarge:
		what = "the response is larger than fetch.max_body_bytes"
	case kind == pipeline.ErrorKindPrivateNetwork:
		what = "the address is private and fetch.allow_private_networks is off"
	case kind == pipeline.ErrorKindParse && strings.Contains(e, "got an html page"):
		// The commonest first mistake: a site's home page as a feed URL.
		what = htmlNotFeed
	case kind == pipeline.ErrorKindParse:
		what = "the response is not a feed newswatch can read"
	case httpStatus == http.StatusNotFound || httpStatus == http.StatusGone:
		what = "the feed is gone (HTTP " + strconv.Itoa(httpStatus) + "): check the URL"
	case httpStatus == http.StatusUnauthorized || httpStatus == http.StatusForbidden:
		what = "the site refuses us (HTTP " + strconv.Itoa(httpStatus) + "): it may block crawlers or need credentials"
	case httpStatus == http.StatusTooManyRequests:
		what = "rate limited by the site (HTTP 429): fetching less often helps"
	case httpStatus >= 500:
		what = "the site has a server error (HTTP " + strconv.Itoa(httpStatus) + ")"
	case httpStatus >= 400:
		what = "the site answered HTTP " + strconv.Itoa(httpStatus) + " " + http.StatusText(httpStatus)
	case strings.Contains(e, "no such host"):
		what = "the host name does not resolve (DNS)"
	case strings.Contains(e, "connection refused"):
		what = "nothing listens at that address (connection refused)"
	case strings.Contains(e, "timeout") || strings.Contains(e, "deadline exceeded") || strings.Contains(e, "timed out"):
		what = "the site did not answer in time"
	case strings.Contains(e, "too many redirects"):
		what = "the site redirects in a loop or too many times: check the URL"
	case strings.Contains(e, "certificate") || strings.Contains(e, "x509") || strings.Contains(e, "tls"):
		what = "TLS failed (certificate or handshake)"
	case strings.Contains(e, "too large") || strings.Contains(e, "body exceeds") || strings.Contains(e, "limit"):
		what = "the response is larger than fetch.max_body_bytes"
	case strings.Contains(e, "private") || strings.Contains(e, "loopback"):
		what = "the address is private and fetch.allow_private_networks is off"
	case strings.Contains(e, "parse") || strings.Contains(e, "feed") || strings.Contains(e, "xml"):
		what = "the response is not a feed newswatch can read"
	default:
		what = "the fetch failed"
	}
	if failures > 1 {
		what += fmt.Sprintf("; %d failures in a row", failures)
	}
	return what
}

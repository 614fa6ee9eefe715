package web

import (
	"bytes"
	"encoding/json"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/feedback"
	"newswatch/internal/logtest"
)

// The status page shows relevant / not relevant buttons on the latest
// alerts and the labels per topic; the buttons post to the feedback path,
// which answers without http.auth (its signature is the credential).
func TestStatusPageFeedback(t *testing.T) {
	d, _, _ := liveDaemon(t)
	auth := func() config.HTTPAuth { return config.HTTPAuth{BearerToken: "status-token-1234"} }
	serve := func() http.Handler {
		return New(d.m, nil, discard(), WithStatus(NewPipelineBackend(d.b, d.p)), WithAuth(auth),
			WithOpen(feedback.Path, d.p.FeedbackHandler())).Handler()
	}
	h := serve()
	rec := get(t, h, "/", "Authorization", "Bearer status-token-1234")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / = %d", rec.Code)
	}
	page := rec.Body.String()
	forms := regexp.MustCompile(`<form method="post" action="(/feedback/\?[^"]+)"><button type="submit" class="fb-relevant">`).FindAllStringSubmatch(page, -1)
	if len(forms) != 3 {
		t.Fatalf("found %d relevant buttons, want one per alert (3)", len(forms))
	}
	if !strings.Contains(page, `<span class="fb-rel" title="relevant">0 relevant</span>`) {
		t.Error("topics table lacks the feedback counts")
	}
	action := html.UnescapeString(forms[0][1])

	// Without credentials the page is closed, the button's target open.
	if rec := get(t, h, "/"); rec.Code != http.StatusUnauthorized {
		t.Errorf("GET / without auth = %d", rec.Code)
	}
	req := httptest.NewRequest(http.MethodPost, action, nil)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != http.StatusOK || !strings.Contains(rr.Body.String(), "Recorded") {
		t.Fatalf("POST %s = %d %s", action, rr.Code, rr.Body)
	}

	// The same backend shows the label at once: its counts follow the
	// bucket's revision.
	rec = get(t, h, "/api/topics", "Authorization", "Bearer status-token-1234")
	var body struct {
		Topics []Topic `json:"topics"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, tp := range body.Topics {
		if tp.Feedback == nil {
			t.Fatalf("topic %s has no feedback counts", tp.ID)
		}
		total += tp.Feedback.Relevant
		if tp.Feedback.NotRelevant != 0 {
			t.Errorf("topic %s: %d not relevant", tp.ID, tp.Feedback.NotRelevant)
		}
	}
	if total != 1 {
		t.Errorf("relevant labels over all topics = %d, want 1: %s", total, rec.Body)
	}
}

// A topic with a learned stage shows, in the API and on the page, whether
// the stage acts and why; a topic without one shows nothing of it.
func TestTopicsShowTheLearnedStage(t *testing.T) {
	d := openDaemon(t, `
topics:
  - id: plain
    query: fentanyl
  - id: tuned
    query: fentanyl
    learned:
      enabled: true
      min_labels: 3
`)
	topics := func() map[string]Topic {
		rec := get(t, New(d.m, nil, discard(), WithStatus(NewPipelineBackend(d.b, d.p))).Handler(), "/api/topics")
		var body struct {
			Topics []Topic `json:"topics"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: %s", err, rec.Body)
		}
		out := map[string]Topic{}
		for _, tp := range body.Topics {
			out[tp.ID] = tp
		}
		return out
	}
	got := topics()
	if got["plain"].Learned != nil {
		t.Errorf("plain topic: learned %+v, want none", got["plain"].Learned)
	}
	if l := got["tuned"].Learned; l == nil || l.Acting || l.Reason != "not trained yet" {
		t.Errorf("tuned topic before training: learned %+v", l)
	}

	// A pass trains the stages: no labels yet, so it does not act, and
	// says why.
	if _, err := d.p.Once(t.Context(), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	l := topics()["tuned"].Learned
	if l == nil || l.Acting || !strings.Contains(l.Reason, "too few labels") {
		t.Fatalf("tuned topic after training: learned %+v, want not acting for too few labels", l)
	}
	page := get(t, New(d.m, nil, discard(), WithStatus(NewPipelineBackend(d.b, d.p))).Handler(), "/").Body.String()
	if !strings.Contains(page, `<small class="learned" title="`+html.EscapeString(l.Reason)+`">learned stage: not acting</small>`) {
		t.Error("the topics table does not show the learned stage with its reason")
	}
	if n := strings.Count(page, `class="learned"`); n != 1 {
		t.Errorf("%d learned-stage notes on the page, want 1 (the plain topic has none)", n)
	}
}

// A GET /api/feedback that cannot read the bucket answers 500 and says so
// in the daemon's log, not only to the client that asked.
func TestFeedbackAPIFailureIsLogged(t *testing.T) {
	d := openDaemon(t, "topics:\n  - id: tuned\n    query: fentanyl\n")
	var logs bytes.Buffer
	h := New(d.m, nil, slog.New(slog.NewTextHandler(&logs, nil)), WithStatus(NewPipelineBackend(d.b, d.p))).Handler()
	d.b.Close() // the bucket can no longer be read
	rec := get(t, h, "/api/feedback")
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("GET /api/feedback on a closed bus: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "/api/feedback") {
		t.Errorf("the failure is not in the log: %q", logs.String())
	}
}

// Feedback counts that cannot be read leave the topics without them, and
// the log says why: the page alone would only lack a column.
func TestFeedbackCountsFailureIsLogged(t *testing.T) {
	d := openDaemon(t, "topics:\n  - id: tuned\n    query: fentanyl\n")
	var logs logtest.Buffer
	h := New(d.m, nil, slog.New(slog.NewTextHandler(&logs, nil)), WithStatus(NewPipelineBackend(d.b, d.p))).Handler()
	d.b.Close() // the bucket can no longer be read
	get(t, h, "/api/topics")
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "feedback counts not read") {
		t.Errorf("the failure is not in the log: %q", logs.String())
	}
}

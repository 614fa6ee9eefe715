package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/news"
	"newswatch/pipeline"
)

// TestDisabledSubscriberStatus: after a 410 Gone the API says the
// subscriber is disabled and not running, with the reason, and the status
// page says how to enable it.
func TestDisabledSubscriberStatus(t *testing.T) {
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer gone.Close()
	d := openDaemon(t, fmt.Sprintf(`
log: {level: error}
http: {listen: ""}
topics:
  - id: fentanyl
    query: fentanyl
subscribers:
  - id: desk
    type: webhook
    url: %s/hooks
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
`, gone.URL))
	d.run(t, pipeline.Roles{Classifier: true, Notifier: true})
	waitFor(t, "the subscriber to start", 10*time.Second, func() bool { return len(d.p.Dispatcher().Status()) == 1 })
	art := news.Article{V: news.Version, ID: "a1", Source: "wire", URL: "https://news.example.org/1",
		Title: "Fentanyl seized at the border", Fetched: time.Now().UTC()}
	if _, err := d.p.Publish(context.Background(), config.Source{ID: "wire"}, []news.Article{art}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscriber to be disabled", 15*time.Second, func() bool { return d.p.Dispatcher().Disabled("desk") })

	h := New(d.m, nil, discard(), WithStatus(NewPipelineBackend(d.b, d.p))).Handler()
	var body struct {
		Subscribers []map[string]any `json:"subscribers"`
	}
	if err := json.Unmarshal(get(t, h, "/api/subscribers").Body.Bytes(), &body); err != nil || len(body.Subscribers) != 1 {
		t.Fatalf("api: %v %v", body, err)
	}
	s := body.Subscribers[0]
	if s["running"] != false || s["disabled"] != true || !strings.Contains(fmt.Sprint(s["disabled_reason"]), "410") {
		t.Errorf("api subscriber = %v, want running false, disabled true, disabled_reason naming the 410", s)
	}
	if s["backlog"] != float64(1) {
		t.Errorf("backlog = %v, want 1: the alert that got the 410 stays queued", s["backlog"])
	}
	page := get(t, h, "/").Body.String()
	if !strings.Contains(page, "newswatch subscribers enable desk") || strings.Contains(page, "not delivered by this process") {
		t.Errorf("status page does not say the subscriber is disabled and how to enable it")
	}
}

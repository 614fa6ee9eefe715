package feedback

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/news"
)

func openBus(t *testing.T, dir string) *bus.Bus {
	t.Helper()
	cfg := &config.Config{DataDir: dir}
	cfg.ApplyDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testAlert(topic, article string) *news.Alert {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	return &news.Alert{V: 1, ID: news.AlertID(topic, article), Topic: topic, Score: 2, Created: at,
		Article: news.Article{V: 1, ID: article, Source: "wire", URL: "https://example.org/" + article,
			Title: "Fentanyl precursor shipment seized", Summary: "Customs officers seized a shipment.", Content: "Long text.",
			Categories: []string{"drugs"}, Fetched: at}}
}

// server serves the handler of a bus, as the daemon does.
func server(t *testing.T, b *bus.Bus, s *Signer) *httptest.Server {
	t.Helper()
	h := &Handler{Signer: func() *Signer { return s }, Store: NewStore(b.FeedbackKV()),
		Find: func(ctx context.Context, id string, created time.Time) (*news.Alert, error) {
			return FindAlert(ctx, b, id, created)
		}}
	mux := http.NewServeMux()
	mux.Handle(Path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func publish(t *testing.T, b *bus.Bus, a *news.Alert) {
	t.Helper()
	data, _ := json.Marshal(a)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := b.JS.Publish(ctx, b.Names.AlertSubject(a.Topic), data, jetstream.WithMsgID(a.ID)); err != nil {
		t.Fatal(err)
	}
}

// post submits the confirmation form of link as a browser would after
// a GET: the same fields in the body.
func post(t *testing.T, srv *httptest.Server, link string) (int, string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(srv.URL+Path, u.Query())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func get(t *testing.T, srv *httptest.Server, link string) (int, string) {
	t.Helper()
	u, _ := url.Parse(link)
	resp, err := http.Get(srv.URL + Path + "?" + u.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func count(t *testing.T, b *bus.Bus) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rs, bad, err := NewStore(b.FeedbackKV()).List(ctx)
	if err != nil || bad != 0 {
		t.Fatalf("list: %d bad, %v", bad, err)
	}
	return rs
}

func TestLinksOnlyWithPublicURL(t *testing.T) {
	a := testAlert("fentanyl", "a1")
	if l := NewSigner([]byte("k"), "").Links(a, "ops"); l != nil {
		t.Errorf("links without a public URL: %+v", l)
	}
	l := NewSigner([]byte("k"), "https://nw.example.org/").Links(a, "ops")
	if l == nil || !strings.HasPrefix(l.Relevant, "https://nw.example.org/feedback/?") || !strings.Contains(l.NotRelevant, "l=not_relevant") {
		t.Errorf("links = %+v", l)
	}
}

func TestForgedAndReplayedLinksRejected(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := NewSigner([]byte("0123456789abcdef0123"), "https://nw.example.org")
	srv := server(t, b, s)
	a1, a2 := testAlert("fentanyl", "a1"), testAlert("fentanyl", "a2")
	publish(t, b, a1)
	publish(t, b, a2)
	good := s.Links(a1, "ops").NotRelevant
	tamper := func(k, v string) string {
		u, _ := url.Parse(good)
		q := u.Query()
		q.Set(k, v)
		u.RawQuery = q.Encode()
		return u.String()
	}
	for _, tc := range []struct{ name, link string }{
		{"replayed for another alert", tamper("a", a2.ID)},
		{"replayed for another subscriber", tamper("s", "other")},
		{"label flipped", tamper("l", Relevant)},
		{"signature of another alert", tamper("sig", s.Sign(a2.ID, "ops", NotRelevant))},
		{"signed with another key", NewSigner([]byte("another key of 16+ bytes"), "https://x").Links(a1, "ops").NotRelevant},
		{"no signature", tamper("sig", "")},
		{"unknown label", tamper("l", "spam")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := post(t, srv, tc.link); code != http.StatusForbidden || !strings.Contains(body, "not valid") {
				t.Errorf("POST: %d %s", code, body)
			}
			if code, _ := get(t, srv, tc.link); code != http.StatusForbidden {
				t.Errorf("GET: %d", code)
			}
		})
	}
	if rs := count(t, b); len(rs) != 0 {
		t.Errorf("forged links recorded %+v", rs)
	}
	// The genuine link works: only its own alert is labelled.
	if code, body := post(t, srv, good); code != http.StatusOK || !strings.Contains(body, "Recorded") {
		t.Fatalf("genuine POST: %d %s", code, body)
	}
	rs := count(t, b)
	if len(rs) != 1 || rs[0].AlertID != a1.ID || rs[0].Label != NotRelevant || rs[0].Subscriber != "ops" {
		t.Errorf("records = %+v", rs)
	}
}

func TestGetConfirmsAndPostRecordsOnce(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := NewSigner([]byte("0123456789abcdef0123"), "https://nw.example.org")
	srv := server(t, b, s)
	a := testAlert("fentanyl", "a1")
	publish(t, b, testAlert("fentanyl", "other"))
	publish(t, b, a)
	link := s.Links(a, "ops").Relevant

	// A mail scanner fetching the link records nothing.
	for range 3 {
		code, body := get(t, srv, link)
		if code != http.StatusOK || !strings.Contains(body, `method="post"`) || !strings.Contains(body, "Yes, relevant") {
			t.Fatalf("GET: %d %s", code, body)
		}
	}
	if rs := count(t, b); len(rs) != 0 {
		t.Fatalf("GET recorded %+v", rs)
	}
	// The button's POST records; doing it again changes nothing.
	if code, _ := post(t, srv, link); code != http.StatusOK {
		t.Fatalf("POST: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e1, err := b.Feedback.Get(ctx, Key(a.ID, "ops"))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := post(t, srv, link); code != http.StatusOK {
		t.Fatalf("second POST: %d", code)
	}
	e2, err := b.Feedback.Get(ctx, Key(a.ID, "ops"))
	if err != nil {
		t.Fatal(err)
	}
	if e1.Revision() != e2.Revision() {
		t.Errorf("a repeated POST wrote again: revision %d -> %d", e1.Revision(), e2.Revision())
	}
	rs := count(t, b)
	if len(rs) != 1 {
		t.Fatalf("records = %+v", rs)
	}
	// The article was found in the alert stream and kept with the label.
	if r := rs[0]; r.Article == nil || r.Article.Title != a.Article.Title || r.Article.Content != a.Article.Content || r.Topic != "fentanyl" || r.ArticleID != "a1" {
		t.Errorf("record = %+v", r)
	}
	// A GET now says what is recorded.
	if _, body := get(t, srv, link); !strings.Contains(body, "Already recorded: relevant") {
		t.Errorf("GET after POST: %s", body)
	}
}

func TestFeedbackSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := openBus(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The generated key is made once and kept.
	k1, err := LoadKey(ctx, b.StoreKV(), "")
	if err != nil || len(k1) != 32 {
		t.Fatalf("key: %x %v", k1, err)
	}
	a := testAlert("us-china", "x9")
	if _, err := NewStore(b.FeedbackKV()).Put(ctx, Record{AlertID: a.ID, Topic: a.Topic, ArticleID: "x9", Subscriber: "ops",
		Label: Relevant, At: time.Now(), Article: ArticleOf(&a.Article)}); err != nil {
		t.Fatal(err)
	}
	b.Close()

	b = openBus(t, dir)
	defer b.Close()
	k2, err := LoadKey(ctx, b.StoreKV(), "")
	if err != nil || string(k1) != string(k2) {
		t.Errorf("key changed across restart: %x -> %x (%v)", k1, k2, err)
	}
	if k, _ := LoadKey(ctx, b.StoreKV(), "configured secret 123"); string(k) != "configured secret 123" {
		t.Errorf("feedback.secret not used: %q", k)
	}
	rs := count(t, b)
	if len(rs) != 1 || rs[0].AlertID != a.ID || rs[0].Label != Relevant || rs[0].Article == nil {
		t.Errorf("after restart: %+v", rs)
	}
}

func TestLabelsAndExport(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	art := &Article{ID: "a1", Title: "T", Content: "C", URL: "https://e.org/1", Source: "s"}
	rs := []Record{
		{AlertID: "f:a1", Topic: "f", ArticleID: "a1", Subscriber: "x", Label: Relevant, At: t0, Article: art},
		{AlertID: "f:a1", Topic: "f", ArticleID: "a1", Subscriber: "y", Label: NotRelevant, At: t0.Add(time.Hour)},
		{AlertID: "g:a1", Topic: "g", ArticleID: "a1", Subscriber: "x", Label: Relevant, At: t0},
	}
	ls := Labels(rs, "f")
	if len(ls) != 1 || ls[0].Label != NotRelevant || ls[0].Article != art {
		t.Fatalf("labels of f = %+v", ls)
	}
	line := Export(ls[0])
	if line.ID != "a1" || line.Title != "T" || line.Content != "C" || line.Topic != "f" || line.Label != NotRelevant {
		t.Errorf("export = %+v", line)
	}
	if c := CountByTopic(rs); c["f"] != (Counts{1, 1}) || c["g"] != (Counts{1, 0}) {
		t.Errorf("counts = %+v", c)
	}
}

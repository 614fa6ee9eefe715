package pipeline

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"newswatch/config"
	"newswatch/news"
)

const fixtures = "../../shared/fixtures"

// signedHooks records webhook requests per URL path, after verifying
// their Standard Webhooks signature by hand.
type signedHooks struct {
	t      *testing.T
	secret []byte
	mu     sync.Mutex
	got    map[string][][]byte // path → bodies
	srv    *httptest.Server
}

func newSignedHooks(t *testing.T, secret []byte) *signedHooks {
	h := &signedHooks{t: t, secret: secret, got: map[string][][]byte{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
		mac := hmac.New(sha256.New, h.secret)
		mac.Write([]byte(id + "." + ts + "."))
		mac.Write(body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if !strings.Contains(" "+r.Header.Get("webhook-signature")+" ", " "+want+" ") {
			t.Errorf("%s: signature does not verify", r.URL.Path)
		}
		h.mu.Lock()
		h.got[r.URL.Path] = append(h.got[r.URL.Path], body)
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *signedHooks) bodies(path string) [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.got[path]...)
}

// TestOneDeliveryPerArticle sends the seed article, which matches both
// default topics, through the classifier and the dispatcher: a subscriber
// of both topics (or of every topic) gets it once, naming both; a
// subscriber of one topic gets it once, naming that one.
func TestOneDeliveryPerArticle(t *testing.T) {
	seed, err := os.ReadFile(filepath.Join(fixtures, "seed-article.txt"))
	if err != nil {
		t.Fatalf("fixtures not found (%v); the repo is expected next to shared/", err)
	}
	defaults, err := config.Load("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	schemaDoc, err := os.ReadFile("../docs/alert.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaDoc))
	if err != nil {
		t.Fatal(err)
	}
	sc := jsonschema.NewCompiler()
	if err := sc.AddResource("alert.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := sc.Compile("alert.schema.json")
	if err != nil {
		t.Fatal(err)
	}

	secret := []byte("a raw signing secret")
	hooks := newSignedHooks(t, secret)
	sub := func(id string, topics ...string) config.Subscriber {
		return config.Subscriber{ID: id, Type: "webhook", WebhookSink: config.WebhookSink{URL: hooks.srv.URL + "/" + id, Secret: string(secret)}, Topics: topics}
	}
	cfg := testConfig(t, func(c *config.Config) {
		c.Topics = defaults.Topics
		c.Subscribers = []config.Subscriber{
			sub("both", "fentanyl", "us-china"),
			sub("both-reversed", "us-china", "fentanyl"),
			sub("every"),
			sub("china", "us-china"),
			sub("fent", "fentanyl"),
		}
	})
	b := openBus(t, cfg)
	p, err := New(cfg, b, discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, Roles{Classifier: true, Notifier: true}) }()
	defer func() { cancel(); <-done }()

	// The dispatcher's consumers exist once Run has started them.
	deadline := time.Now().Add(10 * time.Second)
	for len(p.Dispatcher().Status()) < len(cfg.Subscribers) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	art := news.Article{V: news.Version, ID: "seed0001", Source: "wire", URL: "https://news.example.org/seed",
		Title: "US and China fentanyl cooperation stalls", Content: string(seed), Fetched: time.Now().UTC()}
	if n, err := p.Publish(ctx, config.Source{ID: "wire"}, []news.Article{art}); err != nil || n != 1 {
		t.Fatalf("publish: %d new, %v", n, err)
	}

	// Wait until every subscriber's queue is empty: each alert of the
	// article was delivered or folded.
	deadline = time.Now().Add(15 * time.Second)
	for {
		idle := true
		for _, s := range cfg.Subscribers {
			n, err := p.Dispatcher().Backlog(ctx, s.ID)
			st := p.Dispatcher().Status()
			handled := int64(0)
			for _, x := range st {
				if x.ID == s.ID {
					handled = x.Delivered + x.Folded
				}
			}
			if err != nil || n != 0 || handled < int64(len(s.Topics)) || handled == 0 {
				idle = false
			}
		}
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queues not drained: %+v", p.Dispatcher().Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a second delivery, if any, would come now

	for _, tc := range []struct {
		sub    string
		topics []string
	}{
		{"both", []string{"fentanyl", "us-china"}},
		{"both-reversed", []string{"fentanyl", "us-china"}},              // the config's topic order, not the subscriber's
		{"every", []string{"fentanyl", "us-china", "us-china-fentanyl"}}, // the three default topics
		{"china", []string{"us-china"}},
		{"fent", []string{"fentanyl"}},
	} {
		got := hooks.bodies("/" + tc.sub)
		if len(got) != 1 {
			t.Errorf("%s: %d deliveries of the article, want 1", tc.sub, len(got))
			continue
		}
		var p struct {
			Topic  string `json:"topic"`
			Score  float64
			Topics []news.AlertTopic `json:"topics"`
		}
		if err := json.Unmarshal(got[0], &p); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range p.Topics {
			ids = append(ids, x.ID)
			if len(x.Matches) == 0 || x.Score <= 0 || x.Name == "" {
				t.Errorf("%s: topic %s without its matches, score or name: %+v", tc.sub, x.ID, x)
			}
		}
		if fmt.Sprint(ids) != fmt.Sprint(tc.topics) || p.Topic != tc.topics[0] {
			t.Errorf("%s: topic %q, topics %v; want %q, %v", tc.sub, p.Topic, ids, tc.topics[0], tc.topics)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(got[0]))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(inst); err != nil {
			t.Errorf("%s: payload does not match the schema: %v", tc.sub, err)
		}
	}
	for _, st := range p.Dispatcher().Status() {
		if want := map[string]int64{"both": 1, "both-reversed": 1, "every": 2}[st.ID]; st.Folded != want {
			t.Errorf("%s: folded %d, want %d", st.ID, st.Folded, want)
		}
	}
}

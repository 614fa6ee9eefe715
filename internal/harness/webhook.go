package harness

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"newswatch/internal/whsec"
	"newswatch/news"
)

// Delivery is one webhook request the receiver accepted.
type Delivery struct {
	WebhookID string
	AlertID   string
	Topic     string
	ArticleID string
	At        time.Time
	// SignatureOK reports whether webhook-signature verified against the
	// receiver's secret over "id.timestamp.body".
	SignatureOK bool
}

// Webhook is a webhook endpoint on a fixed loopback address. Down makes it
// refuse connections (as a crashed receiver would); Up brings it back on
// the same address.
type Webhook struct {
	addr string
	key  []byte

	mu     sync.Mutex
	srv    *http.Server
	got    []Delivery
	calls  int
	status func(n int) int // status of the n-th call (1-based); nil: 200
	// intercept, if set, sees each call before it is recorded and
	// answered; returning false drops the delivery unrecorded.
	intercept func(n int, d Delivery) (keep bool)
	arrived   chan struct{}
}

// StartWebhook listens on a loopback port. secret is the subscriber's
// signing secret (whsec_<base64> or raw).
func StartWebhook(secret string) (*Webhook, error) {
	key, err := whsec.Decode(secret)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook: listen: %w", err)
	}
	w := &Webhook{addr: ln.Addr().String(), key: key, arrived: make(chan struct{}, 1)}
	w.serve(ln)
	return w, nil
}

func (w *Webhook) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(w.handle), ReadHeaderTimeout: 10 * time.Second}
	w.mu.Lock()
	w.srv = srv
	w.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// URL is where subscribers post.
func (w *Webhook) URL() string { return "http://" + w.addr + "/hook" }

// SetStatus makes the receiver answer status(n) to its n-th call; nil
// answers 200 to all.
func (w *Webhook) SetStatus(status func(n int) int) {
	w.mu.Lock()
	w.status = status
	w.mu.Unlock()
}

// SetIntercept calls f with each request (its number, 1-based, and what
// it carried) before the receiver records and answers it; f returning
// false drops the delivery unrecorded. A test uses it to crash the sender
// at the exact moment a delivery is in flight.
func (w *Webhook) SetIntercept(f func(n int, d Delivery) (keep bool)) {
	w.mu.Lock()
	w.intercept = f
	w.mu.Unlock()
}

// Down closes the listener and every connection: deliveries fail with
// "connection refused" until Up.
func (w *Webhook) Down() {
	w.mu.Lock()
	srv := w.srv
	w.srv = nil
	w.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Up listens again on the same address.
func (w *Webhook) Up() error {
	var ln net.Listener
	var err error
	// The port was ours a moment ago; retry briefly in case the kernel
	// has not released it yet.
	for range 50 {
		if ln, err = net.Listen("tcp", w.addr); err == nil {
			w.serve(ln)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("webhook: listen again on %s: %w", w.addr, err)
}

// Close stops the receiver for good.
func (w *Webhook) Close() { w.Down() }

// Deliveries returns every accepted delivery, in arrival order.
func (w *Webhook) Deliveries() []Delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Delivery(nil), w.got...)
}

// Calls is the number of requests received, accepted or not.
func (w *Webhook) Calls() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls
}

// Arrived is signalled (without blocking, coalescing) on each accepted
// delivery.
func (w *Webhook) Arrived() <-chan struct{} { return w.arrived }

func (w *Webhook) handle(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		rw.WriteHeader(http.StatusBadRequest)
		return
	}
	d := Delivery{WebhookID: r.Header.Get("webhook-id"), At: time.Now()}
	var a news.Alert
	if err := json.Unmarshal(body, &a); err == nil {
		d.AlertID, d.Topic, d.ArticleID = a.ID, a.Topic, a.Article.ID
	}
	d.SignatureOK = w.verify(r.Header, body) == nil

	w.mu.Lock()
	w.calls++
	n, intercept := w.calls, w.intercept
	w.mu.Unlock()
	keep := true
	if intercept != nil {
		keep = intercept(n, d)
	}
	w.mu.Lock()
	code := http.StatusOK
	if w.status != nil {
		code = w.status(n)
	}
	if code < 300 && keep {
		w.got = append(w.got, d)
	}
	w.mu.Unlock()
	if code < 300 && keep {
		select {
		case w.arrived <- struct{}{}:
		default:
		}
	}
	rw.WriteHeader(code)
}

// verify checks a Standard Webhooks signature: HMAC-SHA256 over
// "id.timestamp.body", any of the space-separated "v1,<base64>" entries.
func (w *Webhook) verify(h http.Header, body []byte) error {
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" || ts == "" {
		return errors.New("missing webhook-id or webhook-timestamp")
	}
	mac := hmac.New(sha256.New, w.key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no signature verifies")
}

// Package websub subscribes to feeds at their WebSub hubs and turns the
// hubs' signed content pushes into articles.
package websub

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"newswatch/config"
	"newswatch/fetcher/charset"
	"newswatch/fetcher/feed"
	"newswatch/fetcher/httpc"
	"newswatch/fetcher/internal/textutil"
	"newswatch/news"
)

// WebSub manages subscriptions: a feed that names a hub (<link rel="hub">, or an
// HTTP Link header) can push its updates instead of waiting to be polled.
// WebSub subscribes at the hub with a callback URL under the daemon's HTTP
// listener, answers the hub's verification of intent, and turns each
// signed content push into articles for the pipeline, exactly as a fetch
// would. Polling goes on regardless; the pipeline may poll a source whose
// subscription is Active less often, and must poll at its normal interval
// when the subscription lapses or the hub goes silent.
type WebSub struct {
	client   *httpc.Client
	callback *url.URL
	key      []byte
	deliver  func(ctx context.Context, src config.Source, arts []news.Article) error
	log      *slog.Logger
	lease    time.Duration
	now      func() time.Time

	mu   sync.Mutex
	subs map[string]*subscription // by source id
}

type subscription struct {
	src       config.Source
	hub       string
	topic     string
	secret    string
	requested time.Time
	verified  bool
	denied    string // reason the hub gave
	expires   time.Time
	lastPush  time.Time
}

// SubscriptionStatus is what the pipeline needs to decide how often to
// poll a source that has a WebSub subscription.
type SubscriptionStatus struct {
	Hub, Topic string
	Active     bool      // verified and not expired
	Expires    time.Time // lease end
	LastPush   time.Time // last valid content push
	Denied     string    // the hub's reason, when it refused
}

// DefaultLease is the lease asked of hubs; they may grant another.
const DefaultLease = 7 * 24 * time.Hour

// New returns a WebSub whose callbacks live under callbackURL (e.g.
// https://newswatch.example.org/websub/; the source id is appended). key
// derives each subscription's secret, so it must be secret and should be
// stable across restarts (pushes signed with a secret derived from an old
// key are ignored until the next renewal). deliver receives the articles
// of each verified push; an error from it makes the hub retry.
func New(client *httpc.Client, callbackURL string, key []byte, logger *slog.Logger,
	deliver func(ctx context.Context, src config.Source, arts []news.Article) error) (*WebSub, error) {
	u, err := url.Parse(callbackURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("websub: callback URL %q is not an http(s) URL", callbackURL)
	}
	if len(key) < 16 {
		return nil, errors.New("websub: key must be at least 16 bytes")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return &WebSub{
		client: client, callback: u, key: key, deliver: deliver, log: logger,
		lease: DefaultLease, now: time.Now, subs: map[string]*subscription{},
	}, nil
}

// Subscribe asks hub to push topic (the feed's self URL) for src. The
// subscription becomes Active when the hub verifies it, which it does by
// calling back, usually within seconds. The hub URL comes from feed
// content, so it is fetched under the private-network guard.
func (w *WebSub) Subscribe(ctx context.Context, src config.Source, hub, topic string) error {
	if topic == "" {
		topic = src.URL
	}
	w.mu.Lock()
	s := &subscription{src: src, hub: hub, topic: topic, secret: w.secret(src.ID, topic), requested: w.now()}
	if old := w.subs[src.ID]; old != nil && old.hub == hub && old.topic == topic {
		// A renewal: the old lease holds until the hub verifies the new.
		s.verified, s.expires, s.lastPush = old.verified, old.expires, old.lastPush
	}
	w.subs[src.ID] = s
	w.mu.Unlock()
	return w.request(ctx, "subscribe", s)
}

// Unsubscribe cancels src's subscription.
func (w *WebSub) Unsubscribe(ctx context.Context, sourceID string) error {
	w.mu.Lock()
	s := w.subs[sourceID]
	w.mu.Unlock()
	if s == nil {
		return nil
	}
	return w.request(ctx, "unsubscribe", s)
}

func (w *WebSub) request(ctx context.Context, mode string, s *subscription) error {
	form := url.Values{
		"hub.mode":     {mode},
		"hub.topic":    {s.topic},
		"hub.callback": {w.callbackFor(s.src.ID)},
	}
	if mode == "subscribe" {
		form.Set("hub.secret", s.secret)
		form.Set("hub.lease_seconds", strconv.Itoa(int(w.lease/time.Second)))
	}
	status, msg, err := w.client.PostForm(ctx, s.hub, form)
	if err != nil {
		return fmt.Errorf("websub %s %s: %w", mode, s.hub, err)
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("websub %s %s: hub answered %d: %s", mode, s.hub, status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// Status reports src's subscription; ok is false when there is none.
func (w *WebSub) Status(sourceID string) (st SubscriptionStatus, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.subs[sourceID]
	if s == nil {
		return st, false
	}
	return SubscriptionStatus{
		Hub: s.hub, Topic: s.topic, Expires: s.expires, LastPush: s.lastPush, Denied: s.denied,
		Active: s.verified && w.now().Before(s.expires),
	}, true
}

// Renew re-subscribes every subscription whose lease ends within a tenth
// of its length (at least an hour), and every request the hub has not
// verified within an hour. Call it periodically (e.g. hourly).
func (w *WebSub) Renew(ctx context.Context) error {
	now := w.now()
	w.mu.Lock()
	var due []*subscription
	for _, s := range w.subs {
		margin := max(w.lease/10, time.Hour)
		switch {
		case s.denied != "":
		case s.verified && s.expires.Sub(now) < margin:
			due = append(due, s)
		case !s.verified && now.Sub(s.requested) > time.Hour:
			due = append(due, s)
		}
	}
	w.mu.Unlock()
	var errs []error
	for _, s := range due {
		if err := w.Subscribe(ctx, s.src, s.hub, s.topic); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ServeHTTP answers the hub at <callback>/<source id>: GET for the
// verification of intent (and denials), POST for content distribution.
func (w *WebSub) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	id, err := url.PathUnescape(strings.TrimPrefix(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:], "/"))
	if err != nil {
		http.NotFound(rw, r)
		return
	}
	w.mu.Lock()
	s := w.subs[id]
	w.mu.Unlock()
	if s == nil {
		http.NotFound(rw, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		w.verify(rw, r, s)
	case http.MethodPost:
		w.receive(rw, r, s)
	default:
		rw.Header().Set("Allow", "GET, POST")
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (w *WebSub) verify(rw http.ResponseWriter, r *http.Request, s *subscription) {
	q := r.URL.Query()
	if q.Get("hub.topic") != s.topic {
		http.NotFound(rw, r)
		return
	}
	switch q.Get("hub.mode") {
	case "subscribe":
		lease := w.lease
		if secs, err := strconv.Atoi(q.Get("hub.lease_seconds")); err == nil && secs > 0 {
			lease = time.Duration(secs) * time.Second
		}
		w.mu.Lock()
		s.verified, s.denied, s.expires = true, "", w.now().Add(lease)
		w.mu.Unlock()
		w.log.Info("websub subscription verified", "source", s.src.ID, "hub", s.hub, "lease", lease)
	case "unsubscribe":
		w.mu.Lock()
		if w.subs[s.src.ID] == s {
			delete(w.subs, s.src.ID)
		}
		w.mu.Unlock()
	case "denied":
		w.mu.Lock()
		s.verified, s.denied = false, textutil.FirstNonEmpty(q.Get("hub.reason"), "denied")
		w.mu.Unlock()
		w.log.Warn("websub subscription denied", "source", s.src.ID, "hub", s.hub, "reason", s.denied)
		rw.WriteHeader(http.StatusOK)
		return
	default:
		http.NotFound(rw, r)
		return
	}
	rw.Header().Set("Content-Type", "text/plain")
	io.WriteString(rw, q.Get("hub.challenge"))
}

// receive handles a content push. A push without a valid signature is
// acknowledged and dropped, as the spec asks (so a forger learns nothing);
// a valid one is parsed like a fetched feed and delivered.
func (w *WebSub) receive(rw http.ResponseWriter, r *http.Request, s *subscription) {
	body, err := io.ReadAll(io.LimitReader(r.Body, w.client.MaxBody()+1))
	if err != nil {
		http.Error(rw, "read error", http.StatusBadRequest)
		return
	}
	if int64(len(body)) > w.client.MaxBody() {
		http.Error(rw, "too large", http.StatusRequestEntityTooLarge)
		return
	}
	if !validSignature(r.Header.Get("X-Hub-Signature"), s.secret, body) {
		w.log.Warn("websub push with a bad signature dropped", "source", s.src.ID)
		rw.WriteHeader(http.StatusAccepted)
		return
	}
	d := charset.DecodeXML(body, r.Header.Get("Content-Type"))
	base, _ := url.Parse(s.topic)
	arts, err := feed.Parse(d.Body, base, s.src.ID, w.now().UTC())
	if err != nil {
		if stack, ok := feed.PanicStack(err); ok {
			w.log.Error("parser failed on a websub push; please report this bug with the stack", "source", s.src.ID, "error", err, "stack", stack)
		} else {
			w.log.Warn("websub push not parsed", "source", s.src.ID, "error", err)
		}
		rw.WriteHeader(http.StatusAccepted) // a retry would not parse either
		return
	}
	if err := w.deliver(r.Context(), s.src, arts); err != nil {
		w.log.Error("websub push not delivered", "source", s.src.ID, "error", err)
		http.Error(rw, "try again", http.StatusServiceUnavailable)
		return
	}
	w.mu.Lock()
	s.lastPush = w.now()
	w.mu.Unlock()
	rw.WriteHeader(http.StatusNoContent)
}

// validSignature checks X-Hub-Signature: "<method>=<hex HMAC of body>".
func validSignature(header, secret string, body []byte) bool {
	method, sig, ok := strings.Cut(strings.TrimSpace(header), "=")
	if !ok {
		return false
	}
	var h func() hash.Hash
	switch strings.ToLower(method) {
	case "sha1":
		h = sha1.New
	case "sha256":
		h = sha256.New
	case "sha384":
		h = sha512.New384
	case "sha512":
		h = sha512.New
	default:
		return false
	}
	want, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(h, []byte(secret))
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), want)
}

// secret derives a subscription's secret from the key, so that it need
// not be stored and survives restarts with the same key.
func (w *WebSub) secret(sourceID, topic string) string {
	mac := hmac.New(sha256.New, w.key)
	mac.Write([]byte("websub\x00" + sourceID + "\x00" + topic))
	return hex.EncodeToString(mac.Sum(nil))
}

func (w *WebSub) callbackFor(sourceID string) string {
	return w.callback.JoinPath(sourceID).String()
}

// linkRe finds <link> and <atom:link> elements in a feed's head.
var linkRe = regexp.MustCompile(`(?is)<(?:atom:)?link\s[^>]*>`)
var attrRe = regexp.MustCompile(`(?is)\b(rel|href)\s*=\s*("[^"]*"|'[^']*')`)

// DiscoverHub finds a feed's WebSub hub and self URL, in its HTTP Link
// header or in <link rel="hub"> / <atom:link rel="hub"> elements.
func DiscoverHub(header http.Header, body []byte, base *url.URL) (hub, self string) {
	for _, v := range header.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			target, params, ok := strings.Cut(part, ";")
			if !ok {
				continue
			}
			target = strings.Trim(strings.TrimSpace(target), "<>")
			rel := strings.ToLower(params)
			switch {
			case strings.Contains(rel, `rel="hub"`) || strings.Contains(rel, "rel=hub"):
				hub = textutil.FirstNonEmpty(hub, textutil.ResolveLink(base, target))
			case strings.Contains(rel, `rel="self"`) || strings.Contains(rel, "rel=self"):
				self = textutil.FirstNonEmpty(self, textutil.ResolveLink(base, target))
			}
		}
	}
	h := textutil.Head(body, 64<<10)
	if !bytes.Contains(h, []byte("hub")) {
		return hub, self
	}
	for _, m := range linkRe.FindAll(h, 50) {
		var rel, href string
		for _, a := range attrRe.FindAllSubmatch(m, -1) {
			v := string(a[2][1 : len(a[2])-1])
			if strings.EqualFold(string(a[1]), "rel") {
				rel = strings.ToLower(v)
			} else {
				href = v
			}
		}
		switch rel {
		case "hub":
			hub = textutil.FirstNonEmpty(hub, textutil.ResolveLink(base, href))
		case "self":
			self = textutil.FirstNonEmpty(self, textutil.ResolveLink(base, href))
		}
	}
	return hub, self
}

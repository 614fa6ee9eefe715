package notifier

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"newswatch/config"
	"newswatch/internal/retryafter"
	"newswatch/internal/whsec"
	"newswatch/news"
)

// userAgent identifies newswatch to webhook receivers.
const userAgent = "newswatch-webhook/1"

// Caps on what is read back from a receiver: enough for an error message
// and to let the connection be reused, never enough to hurt.
const (
	errBodyBytes   = 512
	drainBodyBytes = 64 << 10
)

// Webhook posts alerts as JSON to one subscriber's URL, signed per
// Standard Webhooks (https://www.standardwebhooks.com). It is safe for
// concurrent use.
type Webhook struct {
	sub     string // subscriber id
	url     string
	host    string // for errors: the URL itself may embed a token
	render  render
	format  string
	headers http.Header
	keys    [][]byte
	timeout time.Duration
	client  *http.Client
	now     func() time.Time // injectable for tests
	links   LinkFunc         // feedback links; nil: none
}

// NewWebhook returns the sink for a webhook subscriber. A nil client gets
// a default that does not follow redirects (a receiver that moved must be
// re-configured, not silently followed) and times out after sub.Timeout.
// sub.Timeout also bounds each request made with a caller's client.
func NewWebhook(sub config.Subscriber, client *http.Client) (*Webhook, error) {
	u, err := url.Parse(sub.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook %s: url is not an http(s) URL", sub.ID)
	}
	render := renderer(sub.Format)
	if render == nil {
		return nil, fmt.Errorf("webhook %s: unknown format %q (slack, discord, teams or empty)", sub.ID, sub.Format)
	}
	w := &Webhook{
		sub:     sub.ID,
		url:     sub.URL,
		host:    u.Scheme + "://" + u.Host,
		render:  render,
		format:  sub.Format,
		headers: http.Header{},
		timeout: sub.Timeout,
		client:  client,
		now:     time.Now,
	}
	if w.timeout <= 0 {
		w.timeout = 10 * time.Second
	}
	for i, s := range append([]string{sub.Secret}, sub.Secrets...) {
		if s == "" {
			continue
		}
		k, err := whsec.Decode(s)
		if err != nil {
			// The index, never the secret: errors end up in logs.
			return nil, fmt.Errorf("webhook %s: secret %d: %w", sub.ID, i, err)
		}
		w.keys = append(w.keys, k)
	}
	if len(w.keys) == 0 && sub.Format == "" {
		return nil, fmt.Errorf("webhook %s: a secret is needed to sign requests", sub.ID)
	}
	for k, v := range sub.Headers {
		ck := http.CanonicalHeaderKey(k)
		if strings.HasPrefix(ck, "Webhook-") || ck == "Content-Type" || ck == "Content-Length" || ck == "Host" {
			return nil, fmt.Errorf("webhook %s: header %q is set by newswatch and cannot be overridden", sub.ID, k)
		}
		if strings.ContainsAny(k+v, "\r\n\x00") || k == "" || strings.ContainsAny(k, " :") {
			return nil, fmt.Errorf("webhook %s: header %q is malformed", sub.ID, k)
		}
		w.headers.Set(ck, v)
	}
	if w.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// A burst of alerts to one receiver should reuse connections, not
		// open and close one per alert.
		t.MaxIdleConnsPerHost = 16
		w.client = &http.Client{
			Transport: t,
			Timeout:   w.timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	return w, nil
}

// sign returns the webhook-signature header value: one "v1,<base64>"
// per key, space-separated, over "id.timestamp.body".
func sign(keys [][]byte, id, ts string, body []byte) string {
	sigs := make([]string, 0, len(keys))
	for _, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}

// WebhookID is the webhook-id sent with alert a to subscriber sub: the
// same for every attempt and every redelivery, so receivers can use it as
// an idempotency key.
func WebhookID(sub, alertID string) string { return "msg_" + deliveryKey(sub, alertID) }

// Notify posts a. It implements Sink.
func (w *Webhook) Notify(ctx context.Context, a *news.Alert) (bool, error) {
	return w.post(ctx, a, nil)
}

// NotifyFollowUp posts a as a later report of story st: type
// "alert.followup" with a "story" object (chat presets: a title starting
// "Also reported by"). It implements FollowUpSink.
func (w *Webhook) NotifyFollowUp(ctx context.Context, a *news.Alert, st Story) (bool, error) {
	return w.post(ctx, a, &st)
}

func (w *Webhook) post(ctx context.Context, a *news.Alert, st *Story) (bool, error) {
	var body []byte
	var err error
	if a.Event != nil {
		body, err = renderEvent(w.format, a.Event)
	} else {
		a = withLinks(w.links, a, w.sub)
		body, err = w.render(a, st)
	}
	if err != nil {
		return false, fmt.Errorf("webhook %s: render alert %s: %w", w.sub, a.ID, err)
	}
	id := WebhookID(w.sub, a.ID)
	ts := strconv.FormatInt(w.now().Unix(), 10)

	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("webhook %s: %w", w.sub, err)
	}
	for k, v := range w.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	req.Header.Set("Webhook-Id", id)
	req.Header.Set("Webhook-Timestamp", ts)
	if len(w.keys) > 0 {
		req.Header.Set("Webhook-Signature", sign(w.keys, id, ts, body))
	}

	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error repeats the full URL, which for chat presets is
		// itself the credential: report the host only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, fmt.Errorf("webhook %s: post %s: %w", w.sub, w.host, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyBytes))
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainBodyBytes))

	retry, err := classify(resp, snippet, w.now())
	if err != nil {
		return retry, fmt.Errorf("webhook %s: post %s: %w", w.sub, w.host, err)
	}
	return false, nil
}

// classify maps a receiver's answer to (retry, err) following the Standard
// Webhooks etiquette: 2xx is success; 410 asks us to stop; 429 and 503 may
// name a delay; 408 and 5xx are worth another try; redirects are not
// followed and, like other 4xx, are final.
func classify(resp *http.Response, body []byte, now time.Time) (bool, error) {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return false, nil
	}
	err := fmt.Errorf("status %d %s%s", code, http.StatusText(code), bodyHint(body))
	switch {
	case code == http.StatusGone:
		return false, fmt.Errorf("%w: %v", ErrGone, err)
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		if d, ok := retryafter.Parse(resp.Header.Get("Retry-After"), now, maxRetryAfter); ok {
			return true, &RetryAfterError{After: d, Err: err}
		}
		return true, err
	case code == http.StatusRequestTimeout || code >= 500:
		return true, err
	case code >= 300 && code < 400:
		return false, fmt.Errorf("%v: redirects are not followed, update the subscriber's url", err)
	default:
		return false, err
	}
}

// bodyHint quotes the start of a response body for an error message,
// control characters removed: receivers often say there what is wrong.
func bodyHint(b []byte) string {
	s := headerSafe(strings.ToValidUTF8(string(b), ""), 200)
	if s == "" {
		return ""
	}
	return ": " + strconv.Quote(s)
}

// maxRetryAfter bounds the delay a receiver may ask for (~31 years), so
// that the Duration cannot overflow; the dispatcher caps it further.
const maxRetryAfter = 1e9 * time.Second

// webhookKind registers the webhook sink (see Kind).
var webhookKind = Kind{
	New: func(sub config.Subscriber, _ config.SMTP) (Sink, error) {
		w, err := NewWebhook(sub, nil)
		if err != nil {
			return nil, err
		}
		return w, nil
	},
	Target: func(sub config.Subscriber) string {
		t := origin(sub.URL)
		if sub.Format != "" {
			t += " (" + sub.Format + ")"
		}
		return t
	},
}

func (w *Webhook) setLinks(f LinkFunc) { w.links = f }

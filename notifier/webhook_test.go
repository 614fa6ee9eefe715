package notifier

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/internal/whsec"
	"newswatch/news"
)

// The test vector of the Standard Webhooks reference libraries
// (libraries/go/webhook_test.go, TestWebhookSign, in
// github.com/standard-webhooks/standard-webhooks).
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = "1614265330"
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesReferenceVector(t *testing.T) {
	k, err := whsec.Decode(vecSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := sign([][]byte{k}, vecID, vecTS, []byte(vecBody)); got != vecSig {
		t.Fatalf("sign = %q, want %q", got, vecSig)
	}
	// Rotation: one signature per key, space-separated, in key order.
	got := sign([][]byte{[]byte("raw-old-secret"), k}, vecID, vecTS, []byte(vecBody))
	sigs := strings.Split(got, " ")
	if len(sigs) != 2 || sigs[1] != vecSig || !strings.HasPrefix(sigs[0], "v1,") || sigs[0] == vecSig {
		t.Fatalf("rotated signatures = %q", got)
	}
}

// verifySW is a receiver's check written from the Standard Webhooks
// specification text alone (section "Verifying webhook authenticity"),
// not from sign: HMAC-SHA256 keyed with the base64-decoded whsec_ secret
// (or the raw bytes), over "{msg_id}.{timestamp}.{payload}", any one of
// the space-separated "v1,<base64>" signatures matching in constant time,
// and the timestamp within tolerance.
func verifySW(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-* header")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("bad timestamp %q", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s out of tolerance", ts)
	}
	key := []byte(secret)
	if b, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if key, err = base64.StdEncoding.DecodeString(b); err != nil {
			return err
		}
	}
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, id+"."+ts+".")
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

func TestVerifierAcceptsReferenceVector(t *testing.T) {
	// The verifier itself must agree with the reference libraries, or
	// the delivery tests below prove nothing.
	h := http.Header{}
	h.Set("webhook-id", vecID)
	h.Set("webhook-timestamp", vecTS)
	h.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "+vecSig)
	now := time.Unix(1614265330, 0)
	if err := verifySW(vecSecret, h, []byte(vecBody), now); err != nil {
		t.Fatal(err)
	}
	if err := verifySW(vecSecret, h, []byte(vecBody+" "), now); err == nil {
		t.Fatal("a changed body verified")
	}
	if err := verifySW(vecSecret, h, []byte(vecBody), now.Add(6*time.Minute)); err == nil {
		t.Fatal("a stale timestamp verified")
	}
}

type captured struct {
	header http.Header
	body   []byte
}

// receiver is an httptest server that records requests and answers with
// handle (200 when nil).
func receiver(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, <-chan captured) {
	t.Helper()
	ch := make(chan captured, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case ch <- captured{r.Header.Clone(), b}:
		default:
		}
		if handle != nil {
			handle(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func testWebhookSub(url string) config.Subscriber {
	return config.Subscriber{
		ID: "desk", Type: "webhook", WebhookSink: config.WebhookSink{URL: url,
			Secret:  "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
			Secrets: []string{"previous-raw-secret"},
			Headers: map[string]string{"Authorization": "Bearer t0k", "x-team": "desk"}},
		Timeout: 10 * time.Second,
	}
}

func TestWebhookDeliversSignedAlert(t *testing.T) {
	srv, got := receiver(t, nil)
	sub := testWebhookSub(srv.URL + "/hook")
	w, err := NewWebhook(sub, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now().Truncate(time.Second)
	w.now = func() time.Time { return clock }
	a := sampleAlert()

	var ids []string
	for i := 0; i < 2; i++ {
		retry, err := w.Notify(context.Background(), a)
		if err != nil || retry {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
		c := <-got
		if ct := c.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if c.header.Get("Authorization") != "Bearer t0k" || c.header.Get("X-Team") != "desk" {
			t.Errorf("custom headers missing: %v", c.header)
		}
		if ts := c.header.Get("webhook-timestamp"); ts != strconv.FormatInt(clock.Unix(), 10) {
			t.Errorf("webhook-timestamp = %q", ts)
		}
		// Both the current and the previous secret verify: rotation.
		for _, s := range []string{sub.Secret, sub.Secrets[0]} {
			if err := verifySW(s, c.header, c.body, clock); err != nil {
				t.Errorf("verify with secret %d chars: %v", len(s), err)
			}
		}
		if err := verifySW("whsec_"+base64.StdEncoding.EncodeToString([]byte("some other secret")), c.header, c.body, clock); err == nil {
			t.Error("a wrong secret verified")
		}
		var back news.Alert
		if err := json.Unmarshal(c.body, &back); err != nil {
			t.Fatal(err)
		}
		// An alert without topics is sent naming its own topic in them.
		want := *a
		want.Topics = a.AllTopics()
		want.Type = EventAlert // the body's "type" is the webhook type
		if !reflect.DeepEqual(back, want) {
			t.Errorf("payload does not round-trip:\n got %+v\nwant %+v", back, want)
		}
		var env struct{ Type string }
		json.Unmarshal(c.body, &env)
		if env.Type != EventAlert {
			t.Errorf("type = %q", env.Type)
		}
		ids = append(ids, c.header.Get("webhook-id"))
	}
	if ids[0] != ids[1] || ids[0] != WebhookID("desk", a.ID) || !strings.HasPrefix(ids[0], "msg_") || strings.Contains(ids[0], ".") {
		t.Errorf("webhook-id not stable or malformed: %q", ids)
	}
	if WebhookID("desk", a.ID) == WebhookID("other", a.ID) || WebhookID("desk", a.ID) == WebhookID("desk", "fentanyl:other") {
		t.Error("webhook-id does not depend on both subscriber and alert")
	}
}

func TestWebhookStatusClassification(t *testing.T) {
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name       string
		status     int
		retryAfter string
		wantRetry  bool
		wantErr    bool
		wantGone   bool
		wantAfter  time.Duration // -1: no RetryAfterError
	}{
		{"200", 200, "", false, false, false, -1},
		{"204", 204, "", false, false, false, -1},
		{"500", 500, "", true, true, false, -1},
		{"502", 502, "", true, true, false, -1},
		{"503 no header", 503, "", true, true, false, -1},
		{"503 seconds", 503, "7", true, true, false, 7 * time.Second},
		{"429 seconds", 429, "120", true, true, false, 120 * time.Second},
		{"429 date", 429, httpDate, true, true, false, 90 * time.Second},
		{"429 garbage", 429, "soon", true, true, false, -1},
		{"408", 408, "", true, true, false, -1},
		{"400", 400, "", false, true, false, -1},
		{"401", 401, "", false, true, false, -1},
		{"404", 404, "", false, true, false, -1},
		{"410", 410, "", false, true, true, -1},
		{"500 with Retry-After ignored", 500, "30", true, true, false, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, "receiver says\r\nno")
			})
			w, err := NewWebhook(testWebhookSub(srv.URL), nil)
			if err != nil {
				t.Fatal(err)
			}
			retry, err := w.Notify(context.Background(), sampleAlert())
			if retry != tc.wantRetry || (err != nil) != tc.wantErr {
				t.Fatalf("Notify = %v, %v; want retry %v, error %v", retry, err, tc.wantRetry, tc.wantErr)
			}
			if errors.Is(err, ErrGone) != tc.wantGone {
				t.Errorf("errors.Is(err, ErrGone) = %v", !tc.wantGone)
			}
			var ra *RetryAfterError
			switch {
			case tc.wantAfter < 0 && errors.As(err, &ra):
				t.Errorf("unexpected RetryAfterError %v", ra)
			case tc.wantAfter >= 0:
				if !errors.As(err, &ra) {
					t.Fatalf("no RetryAfterError in %v", err)
				}
				if d := ra.After - tc.wantAfter; d < -2*time.Second || d > 2*time.Second {
					t.Errorf("After = %s, want %s", ra.After, tc.wantAfter)
				}
			}
			if err != nil && (!strings.Contains(err.Error(), strconv.Itoa(tc.status)) || !strings.Contains(err.Error(), "receiver says no")) {
				t.Errorf("error lacks status or body hint: %v", err)
			}
		})
	}
}

func TestWebhookDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Add(1) }))
	defer target.Close()
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	w, _ := NewWebhook(testWebhookSub(srv.URL), nil)
	retry, err := w.Notify(context.Background(), sampleAlert())
	if err == nil || retry || followed.Load() != 0 {
		t.Fatalf("Notify = %v, %v; followed %d", retry, err, followed.Load())
	}
}

func TestWebhookTimeoutRetries(t *testing.T) {
	release := make(chan struct{})
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	sub := testWebhookSub(srv.URL)
	sub.Timeout = 100 * time.Millisecond
	w, _ := NewWebhook(sub, nil)
	start := time.Now()
	retry, err := w.Notify(context.Background(), sampleAlert())
	if err == nil || !retry {
		t.Fatalf("Notify = %v, %v; want a retryable error", retry, err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("timeout took %s", el)
	}

	// A caller's client without a timeout is still bounded by sub.Timeout.
	w, _ = NewWebhook(sub, &http.Client{})
	start = time.Now()
	if retry, err := w.Notify(context.Background(), sampleAlert()); err == nil || !retry || time.Since(start) > 2*time.Second {
		t.Fatalf("custom client: Notify = %v, %v after %s", retry, err, time.Since(start))
	}
}

func TestWebhookConnectionErrorRetriesWithoutLeakingURL(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	w, err := NewWebhook(testWebhookSub("http://"+addr+"/services/T000/B000/s3cr3tT0ken"), nil)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := w.Notify(context.Background(), sampleAlert())
	if err == nil || !retry {
		t.Fatalf("Notify = %v, %v; want a retryable error", retry, err)
	}
	if strings.Contains(err.Error(), "s3cr3tT0ken") {
		t.Fatalf("error leaks the URL path: %v", err)
	}
}

func TestNewWebhookRejects(t *testing.T) {
	good := testWebhookSub("https://example.org/hook")
	cases := map[string]func(s *config.Subscriber){
		"ftp url":         func(s *config.Subscriber) { s.URL = "ftp://example.org/x" },
		"no host":         func(s *config.Subscriber) { s.URL = "https:///x" },
		"unknown format":  func(s *config.Subscriber) { s.Format = "irc" },
		"no secret":       func(s *config.Subscriber) { s.Secret, s.Secrets = "", nil },
		"bad whsec":       func(s *config.Subscriber) { s.Secret = "whsec_!!not-base64-SECRETVALUE" },
		"empty whsec":     func(s *config.Subscriber) { s.Secret = "whsec_" },
		"override id":     func(s *config.Subscriber) { s.Headers = map[string]string{"webhook-id": "x"} },
		"override ctype":  func(s *config.Subscriber) { s.Headers = map[string]string{"content-type": "text/plain"} },
		"crlf in header":  func(s *config.Subscriber) { s.Headers = map[string]string{"X-A": "1\r\nX-B: 2"} },
		"space in header": func(s *config.Subscriber) { s.Headers = map[string]string{"X A": "1"} },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			s := good
			s.Headers = nil
			mod(&s)
			_, err := NewWebhook(s, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
	if _, err := NewWebhook(good, nil); err != nil {
		t.Fatalf("good config rejected: %v", err)
	}
	// Chat presets may go unsigned: their URL is the credential.
	s := good
	s.Secret, s.Secrets, s.Format = "", nil, "slack"
	if _, err := NewWebhook(s, nil); err != nil {
		t.Fatalf("unsigned slack preset rejected: %v", err)
	}
}

func TestHeaderSafe(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 100, "plain"},
		{"a\r\nBcc: x@evil", 100, "a Bcc: x@evil"},
		{"  lots \t of\u2028space\x00\x1b[31m ", 100, "lots of space [31m"},
		{"abcdefghij", 5, "abcd…"},
		{"日本語のタイトル", 4, "日本語…"},
	}
	for _, tc := range cases {
		if got := headerSafe(tc.in, tc.max); got != tc.want {
			t.Errorf("headerSafe(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

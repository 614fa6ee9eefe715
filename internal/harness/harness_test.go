package harness

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCount(t *testing.T) {
	want := map[string]bool{"a": true, "b": true, "c": true}
	got := []Delivered{
		{AlertID: "a", DeliveryID: "ida", Verified: true},
		{AlertID: "b", DeliveryID: "idb", Verified: true},
		{AlertID: "a", DeliveryID: "ida", Verified: true},   // repeat, same id
		{AlertID: "b", DeliveryID: "other", Verified: true}, // repeat, new id
		{AlertID: "x", DeliveryID: "idx", Verified: false},  // not expected, unsigned
	}
	tl := Count(want, got)
	if tl.Expected != 3 || tl.Received != 5 || tl.Duplicates != 2 || tl.BadSignature != 1 {
		t.Errorf("tally = %+v", tl)
	}
	if strings.Join(tl.Lost, ",") != "c" || strings.Join(tl.Unexpected, ",") != "x" || strings.Join(tl.IDMismatch, ",") != "b" {
		t.Errorf("lost %v, unexpected %v, mismatch %v", tl.Lost, tl.Unexpected, tl.IDMismatch)
	}
	if tl.OK() {
		t.Error("OK() with losses and mismatches")
	}
	if ok := Count(want, got[:2]); ok.OK() {
		t.Error("OK() with c lost")
	}
	full := append(got[:2:2], Delivered{AlertID: "c", DeliveryID: "idc", Verified: true})
	if tl := Count(want, full); !tl.OK() || tl.Duplicates != 0 {
		t.Errorf("complete delivery not OK: %s", tl)
	}
}

func TestFeedServerConditionalGET(t *testing.T) {
	fs, err := StartFeedServer()
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	fs.Keep = 2
	for _, g := range []string{"one", "two", "three"} {
		fs.Add("wire", Item{GUID: g, Title: "title " + g, Body: "<b>" + g + "</b>"})
	}
	res, err := http.Get(fs.URL("wire"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(body), ">one<") || !strings.Contains(string(body), ">three<") ||
		strings.Index(string(body), ">three<") > strings.Index(string(body), ">two<") {
		t.Errorf("feed does not list the newest two items, newest first:\n%s", body)
	}
	req, _ := http.NewRequest(http.MethodGet, fs.URL("wire"), nil)
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET answered %d, want 304", res2.StatusCode)
	}
	if fs.Requests() != 2 {
		t.Errorf("requests = %d, want 2", fs.Requests())
	}
}

func TestWebhookVerifiesAndGoesDown(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	w, err := StartWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	post := func(sig bool) error {
		body := []byte(`{"id":"fentanyl:abc","topic":"fentanyl","article":{"id":"abc"}}`)
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, w.URL(), bytes.NewReader(body))
		req.Header.Set("webhook-id", "msg_1")
		req.Header.Set("webhook-timestamp", "1700000000")
		mac := hmac.New(sha256.New, []byte("0123456789abcdef"))
		mac.Write([]byte("msg_1.1700000000."))
		mac.Write(body)
		s := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if !sig {
			s = "v1,bm9wZQ=="
		}
		req.Header.Set("webhook-signature", "v1,b3RoZXI= "+s)
		c := &http.Client{Timeout: 2 * time.Second}
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		return nil
	}
	if err := post(true); err != nil {
		t.Fatal(err)
	}
	if err := post(false); err != nil {
		t.Fatal(err)
	}
	ds := w.Deliveries()
	if len(ds) != 2 || !ds[0].SignatureOK || ds[1].SignatureOK || ds[0].AlertID != "fentanyl:abc" || ds[0].WebhookID != "msg_1" {
		t.Fatalf("deliveries = %+v", ds)
	}
	w.Down()
	if err := post(true); err == nil {
		t.Error("delivered while down")
	}
	if err := w.Up(); err != nil {
		t.Fatal(err)
	}
	if err := post(true); err != nil {
		t.Errorf("not delivered after Up: %v", err)
	}
	if n := len(w.Deliveries()); n != 3 {
		t.Errorf("%d deliveries, want 3", n)
	}
}

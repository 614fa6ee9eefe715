package notifier

import (
	"context"
	"strings"
	"testing"

	"newswatch/news"
)

func digestAlerts() []*news.Alert {
	a1 := sampleAlert()
	a2 := sampleAlert()
	a2.ID, a2.Score = "fentanyl:aaaa", 2
	a2.Article.Title = `Seizure at the port <script>alert(1)</script>`
	a3 := sampleAlert()
	a3.ID, a3.Topic, a3.TopicName, a3.Score = "us-china:bbbb", "us-china", "US–China relations", 9
	a3.Article.Title = "Tariff talks resume in Geneva"
	a3.Article.URL = "javascript:alert(2)"
	return []*news.Alert{a1, a2, a3, a1} // a1 twice: a redelivery
}

func TestRenderDigest(t *testing.T) {
	d, err := RenderDigest(digestAlerts())
	if err != nil {
		t.Fatal(err)
	}
	if want := "[newswatch] Digest: 3 alerts, US–China relations, Fentanyl and synthetic opioids"; d.Subject != want {
		t.Errorf("Subject = %q, want %q", d.Subject, want)
	}
	if strings.Join(d.AlertIDs, " ") != "fentanyl:3f2a9c1e5b7d4a60 fentanyl:aaaa us-china:bbbb" {
		t.Errorf("AlertIDs = %v", d.AlertIDs)
	}
	// Topics by best score; alerts by score within a topic; each once.
	order := []string{"US–China relations (1)", "Tariff talks resume in Geneva", "Fentanyl and synthetic opioids (2)",
		"US and China agree on fentanyl precursor controls", "Seizure at the port"}
	last := -1
	for _, s := range order {
		i := strings.Index(d.Text, s)
		if i < 0 || i < last {
			t.Fatalf("text: %q missing or out of order:\n%s", s, d.Text)
		}
		last = i
	}
	if n := strings.Count(d.Text, "US and China agree on fentanyl precursor controls"); n != 1 {
		t.Errorf("duplicate alert listed %d times", n)
	}
	if strings.Contains(d.HTML, "<script>") || !strings.Contains(d.HTML, "&lt;script&gt;") {
		t.Errorf("HTML does not escape feed content:\n%s", d.HTML)
	}
	if strings.Contains(d.HTML, "javascript:") || !strings.Contains(d.HTML, `href="https://news.example.org/`) {
		t.Errorf("HTML links wrong:\n%s", d.HTML)
	}
	if _, err := RenderDigest(nil); err == nil {
		t.Error("empty digest rendered")
	}
}

func TestDigestMessageIDIsStable(t *testing.T) {
	as := digestAlerts()
	d1, _ := RenderDigest(as)
	d2, _ := RenderDigest([]*news.Alert{as[2], as[1], as[0]})
	d3, _ := RenderDigest(as[:2])
	if DigestMessageID("analyst", d1) != DigestMessageID("analyst", d2) {
		t.Error("same alerts in another order give another Message-ID")
	}
	if DigestMessageID("analyst", d1) == DigestMessageID("analyst", d3) || DigestMessageID("analyst", d1) == DigestMessageID("desk", d1) {
		t.Error("Message-ID does not depend on the alerts and the subscriber")
	}
}

func TestEmailNotifyDigest(t *testing.T) {
	ts := startSMTP(t, modePlain, "", "")
	e := newTestEmail(t, ts, "none", emailSub())
	if retry, err := e.NotifyDigest(context.Background(), digestAlerts()); err != nil || retry {
		t.Fatalf("NotifyDigest = %v, %v", retry, err)
	}
	got := ts.received()
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	pm := parseMail(t, got[0].data)
	if !strings.HasPrefix(pm.subject(t), "[newswatch] Digest: 3 alerts") {
		t.Errorf("Subject = %q", pm.subject(t))
	}
	d, _ := RenderDigest(digestAlerts())
	if pm.header.Get("Message-Id") != "<"+DigestMessageID("analyst", d)+">" {
		t.Errorf("Message-ID = %q", pm.header.Get("Message-Id"))
	}
	if !strings.Contains(pm.parts["text/html"], "Tariff talks resume in Geneva") || !strings.Contains(pm.parts["text/plain"], "Seizure at the port") {
		t.Error("digest parts incomplete")
	}
}

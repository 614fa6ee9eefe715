package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"newswatch/internal/harness"
	"newswatch/internal/smtptest"
	"newswatch/news"
)

func TestInitWritesAStarterConfigThatChecks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "config.yaml")
	code, stdout, stderr := runCLI(t, "init", "-config", path)
	if code != 0 {
		t.Fatalf("init exited %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote "+path) {
		t.Errorf("stdout = %q", stdout)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "# ") {
		t.Error("the starter config has no comments")
	}
	code, stdout, stderr = runCLI(t, "check", "-config", path)
	if code != 0 {
		t.Fatalf("check of the starter config exited %d\n%s%s", code, stdout, stderr)
	}
	// The README's next step, before a subscriber is added, says how.
	code, _, stderr = runCLI(t, "test-delivery", "-config", path, "-subscriber", "desk")
	if code == 0 || !strings.Contains(stderr, "none is configured: add one under subscribers: in "+path+"; the starter config has a commented example, desk") {
		t.Errorf("test-delivery without subscribers: exit %d, stderr %q", code, stderr)
	}

	// A second init refuses to overwrite, and leaves the file alone.
	if err := os.WriteFile(path, []byte("data_dir: ./mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "init", "-config", path)
	if code == 0 || !strings.Contains(stderr, "already exists") {
		t.Errorf("second init exited %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(path); string(got) != "data_dir: ./mine\n" {
		t.Errorf("init overwrote the config: %q", got)
	}

	code, stdout, _ = runCLI(t, "init", "-config", "-")
	if code != 0 || stdout != string(starterConfig) {
		t.Errorf("init -config - exited %d and printed %d bytes", code, len(stdout))
	}
}

// The starter's topics are the repository's default topics.
func TestStarterTopicsMatchConfigYAML(t *testing.T) {
	var doc struct {
		Topics []map[string]any `yaml:"topics"`
	}
	if err := yaml.Unmarshal(starterConfig, &doc); err != nil {
		t.Fatal(err)
	}
	if want := harness.RepoTopics(t, "../../config.yaml"); !reflect.DeepEqual(doc.Topics, want) {
		t.Errorf("cmd/newswatch/starter.yaml topics differ from config.yaml; copy them over.\nstarter: %v\nconfig.yaml: %v", doc.Topics, want)
	}
}

func TestTestDeliveryWebhook(t *testing.T) {
	ok := newReceiver(t, nil)
	failing := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	dir := t.TempDir()
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"topics": []any{
			map[string]any{"id": "fentanyl", "name": "Fentanyl", "query": "fentanyl"},
			map[string]any{"id": "us-china", "query": "china"},
		},
		"subscribers": []any{
			map[string]any{"id": "desk", "type": "webhook", "url": ok.srv.URL, "secret": secret, "topics": []string{"us-china"}},
			map[string]any{"id": "down", "type": "webhook", "url": failing.srv.URL, "secret": secret},
		},
	})

	code, stdout, stderr := runCLI(t, "test-delivery", "-config", path, "-subscriber", "desk")
	if code != 0 {
		t.Fatalf("test-delivery exited %d\n%s%s", code, stdout, stderr)
	}
	hooks := ok.hooks()
	if len(hooks) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(hooks))
	}
	verify(t, hooks[0])
	var a news.Alert
	if err := json.Unmarshal(hooks[0].Body, &a); err != nil {
		t.Fatal(err)
	}
	if a.Topic != "us-china" || a.V != news.Version || !strings.Contains(a.Article.Title, "test delivery") || len(a.Matches) == 0 {
		t.Errorf("sample alert = %+v", a)
	}
	if !strings.Contains(stdout, a.ID) {
		t.Errorf("stdout %q does not name the alert %s", stdout, a.ID)
	}

	// A second test gets a new id, so receivers that drop repeats keep it.
	code, _, _ = runCLI(t, "test-delivery", "-config", path, "-subscriber", "desk", "-topic", "fentanyl")
	if code != 0 || len(ok.hooks()) != 2 {
		t.Fatalf("second test-delivery exited %d, receiver has %d", code, len(ok.hooks()))
	}
	var b news.Alert
	_ = json.Unmarshal(ok.hooks()[1].Body, &b)
	if b.ID == a.ID || b.Topic != "fentanyl" || b.TopicName != "Fentanyl" {
		t.Errorf("second alert %s (%s), first %s", b.ID, b.Topic, a.ID)
	}

	code, _, stderr = runCLI(t, "test-delivery", "-config", path, "-subscriber", "down")
	if code == 0 || !strings.Contains(stderr, "503") || !strings.Contains(stderr, "would retry") {
		t.Errorf("failing receiver: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI(t, "test-delivery", "-config", path, "-subscriber", "nobody")
	if code == 0 || !strings.Contains(stderr, "known: desk, down") {
		t.Errorf("unknown subscriber: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI(t, "test-delivery", "-config", path, "-subscriber", "desk", "-topic", "nope")
	if code == 0 || !strings.Contains(stderr, `no topic "nope"`) {
		t.Errorf("unknown topic: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "test-delivery", "-config", path); code != exitUsage {
		t.Errorf("without -subscriber: exit %d, want %d", code, exitUsage)
	}
}

func TestTestDeliveryEmail(t *testing.T) {
	mail := smtptest.Start(t)
	dir := t.TempDir()
	path := harness.WriteConfig(t, dir, map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"topics":   []any{map[string]any{"id": "fentanyl", "name": "Fentanyl", "query": "fentanyl"}},
		"subscribers": []any{
			map[string]any{"id": "analyst", "type": "email", "to": []string{"analyst@example.org"}},
		},
		"smtp": map[string]any{"host": mail.Host, "port": mail.Port, "tls": "none", "from": "alerts@example.org"},
	})
	code, stdout, stderr := runCLI(t, "test-delivery", "-config", path, "-subscriber", "analyst")
	if code != 0 {
		t.Fatalf("test-delivery exited %d\n%s%s", code, stdout, stderr)
	}
	msgs := mail.Wait(1, 5*time.Second)
	if len(msgs) != 1 || msgs[0].To[0] != "analyst@example.org" || !strings.Contains(string(msgs[0].Data), "test delivery") {
		t.Fatalf("got %d emails: %+v", len(msgs), msgs)
	}
}

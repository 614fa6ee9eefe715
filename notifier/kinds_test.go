package notifier

import (
	"slices"
	"strings"
	"testing"

	"newswatch/config"
)

func TestKinds(t *testing.T) {
	if got := Kinds(); !slices.Equal(got, []string{"email", "webhook"}) {
		t.Fatalf("Kinds() = %v", got)
	}
	smtp := config.SMTP{Host: "127.0.0.1", Port: 2525, From: "nw@example.org"}
	token := "T0123456789abcdefXYZ"
	tests := []struct {
		name       string
		sub        config.Subscriber
		wantErr    string
		wantTarget string
	}{
		{name: "webhook", sub: config.Subscriber{ID: "a", Type: "webhook", WebhookSink: config.WebhookSink{Secret: "s3cret-value", URL: "https://hooks.example.org/news"}},
			wantTarget: "https://hooks.example.org"},
		{name: "webhook format and token", sub: config.Subscriber{ID: "a", Type: "webhook", WebhookSink: config.WebhookSink{Format: "slack", URL: "https://hooks.example.org/services/" + token}},
			wantTarget: "https://hooks.example.org (slack)"},
		{name: "webhook bare host", sub: config.Subscriber{ID: "a", Type: "webhook", WebhookSink: config.WebhookSink{Secret: "s3cret-value", URL: "https://hooks.example.org/"}},
			wantTarget: "https://hooks.example.org"},
		{name: "webhook bad url", sub: config.Subscriber{ID: "a", Type: "webhook", WebhookSink: config.WebhookSink{URL: "ftp://x"}},
			wantErr: "not an http(s) URL", wantTarget: "ftp://x"},
		{name: "email", sub: config.Subscriber{ID: "b", Type: "email", EmailSink: config.EmailSink{To: []string{"a@example.org", "b@example.org"}}},
			wantTarget: "a@example.org, b@example.org"},
		{name: "email no recipients", sub: config.Subscriber{ID: "b", Type: "email"}, wantErr: "no recipients"},
		{name: "unknown", sub: config.Subscriber{ID: "c", Type: "pager"}, wantErr: `unknown type "pager"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink, err := SinkFor(tt.sub, smtp)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SinkFor err = %v, want %q", err, tt.wantErr)
				}
				if sink != nil {
					t.Fatalf("SinkFor returned a sink %#v with an error", sink)
				}
			} else if err != nil || sink == nil {
				t.Fatalf("SinkFor = %v, %v", sink, err)
			}
			if got := Target(tt.sub); got != tt.wantTarget {
				t.Errorf("Target = %q, want %q", got, tt.wantTarget)
			}
		})
	}
}

// TestKindsMatchConfig keeps the two tables of sink types in step: a
// type config accepts must have a sink here, and a sink here must be a
// type config accepts.
func TestKindsMatchConfig(t *testing.T) {
	cfgKinds := slices.Sorted(slices.Values(config.SinkKinds()))
	if got := Kinds(); !slices.Equal(got, cfgKinds) {
		t.Fatalf("notifier kinds %v, config kinds %v: add the type to both tables", got, cfgKinds)
	}
}

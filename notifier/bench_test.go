package notifier

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// reportLatency adds throughput and per-delivery latency percentiles.
func reportLatency(b *testing.B, unit string, lat []time.Duration) {
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), unit)
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkWebhook measures signed deliveries into a local receiver, one
// at a time as a subscriber's consumer sends them.
func BenchmarkWebhook(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	w, err := NewWebhook(testWebhookSub(srv.URL), nil)
	if err != nil {
		b.Fatal(err)
	}
	a := sampleAlert()
	ctx := context.Background()
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if _, err := w.Notify(ctx, a); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, "webhooks/s", lat)
}

// BenchmarkWebhookParallel is the same with concurrent deliveries, as
// several subscribers (or a consumer with more than one pending ack) make.
func BenchmarkWebhookParallel(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	w, err := NewWebhook(testWebhookSub(srv.URL), nil)
	if err != nil {
		b.Fatal(err)
	}
	a := sampleAlert()
	b.SetParallelism(4)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.Notify(context.Background(), a); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "webhooks/s")
}

// BenchmarkEmail measures emails over one reused SMTP connection to a
// go-smtp server in the process.
func BenchmarkEmail(b *testing.B) {
	ts := startSMTP(b, modePlain, "", "")
	e, err := NewEmail(emailSub(), ts.config("none"))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	a := sampleAlert()
	ctx := context.Background()
	lat := make([]time.Duration, 0, 1<<14)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if _, err := e.Notify(ctx, a); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	if c := ts.acceptedConns(); c != 1 {
		b.Fatalf("%d SMTP connections, want 1 reused", c)
	}
	reportLatency(b, "emails/s", lat)
}

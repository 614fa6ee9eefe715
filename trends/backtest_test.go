package trends

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/classifier"
	"newswatch/config"
	"newswatch/news"
)

// TestBacktestSpikes replays a synthetic article archive (a wave in
// seasonal noise, and a topic with noise only) and lists the spikes the
// settings would have sent: the wave once, at its first hour, with one
// follow-up; nothing for the noise.
func TestBacktestSpikes(t *testing.T) {
	topics := []config.Topic{{ID: "wave", Query: "wave"}, {ID: "noise", Query: "noise"}}
	cfg := testConfig(t, topics...)
	b := openBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const days = 20
	end := HourOf(time.Now())
	start := end - (days*24-1)*hourSec
	wave := makeSynth("wave", start, days, true, 1)
	noise := makeSynth("noise", start, days, false, 2)
	var acks []jetstream.PubAckFuture
	for _, o := range append(wave.obs, noise.obs...) {
		a := alertOf(o).Article
		data, _ := json.Marshal(a)
		f, err := b.JS.PublishAsync(b.Names.ArticleSubject(a.Source), data, jetstream.WithMsgID(a.ID))
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, f)
	}
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("publish timed out")
		}
	}
	c, err := classifier.New(cfg.Topics)
	if err != nil {
		t.Fatal(err)
	}
	opts := BacktestOptions{Since: time.Unix(start, 0)}
	got, err := BacktestSpikes(ctx, b, cfg.Topics[0], c, opts)
	if err != nil {
		t.Fatal(err)
	}
	waveHour := time.Unix(start+int64(waveDay*24+waveHour)*hourSec, 0)
	want := []string{news.SpikeID("wave", waveHour, 0), news.SpikeID("wave", waveHour, 1)}
	if len(got) != 2 || got[0].ID != want[0] || got[1].ID != want[1] {
		var ids []string
		for _, a := range got {
			ids = append(ids, a.ID)
		}
		t.Fatalf("spikes %v, want %v", ids, want)
	}
	var out bytes.Buffer
	WriteSpikes(&out, got)
	if lines := strings.Split(out.String(), "\n"); !strings.Contains(lines[0], waveHour.UTC().Format("2006-01-02 15:04 UTC")) ||
		!strings.Contains(lines[0], "spike") || !strings.Contains(out.String(), "growth 1") {
		t.Errorf("listing:\n%s", out.String())
	}
	if got, err := BacktestSpikes(ctx, b, cfg.Topics[1], c, opts); err != nil || len(got) != 0 {
		t.Errorf("noise: %d spikes, %v", len(got), err)
	}
	// From the archive's own start, nothing is known before today: no
	// baseline, no spike.
	if got, err := BacktestSpikes(ctx, b, cfg.Topics[0], c, BacktestOptions{}); err != nil || len(got) != 0 {
		t.Errorf("without history: %d spikes, %v", len(got), err)
	}
}

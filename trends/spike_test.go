package trends

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/internal/logtest"
	"newswatch/news"
)

var defaultParams = Params{Window: 6, MinArticles: 5, MinSources: 3, Threshold: 5}

func TestDetect(t *testing.T) {
	const days = 20
	waveIdx := waveDay*24 + waveHour
	tests := []struct {
		name  string
		hours func() []Hour
		want  []Event // Bucket, At and FollowUp compared
	}{
		{
			name:  "wave fires once at its first hour, with a follow-up when it doubles",
			hours: func() []Hour { return makeSynth("wave", 0, days, true, 1).dense(days) },
			want:  []Event{{Bucket: waveIdx, At: waveIdx}, {Bucket: waveIdx, At: waveIdx + 1, FollowUp: 1}},
		},
		{
			name:  "seasonal noise with a daily round-up is no spike",
			hours: func() []Hour { return makeSynth("noise", 0, days, false, 1).dense(days) },
		},
		{
			name:  "other seeds of noise are no spike either",
			hours: func() []Hour { return makeSynth("noise", 0, days, false, 7).dense(days) },
		},
		{
			name: "one source publishing thirty articles is no spike",
			hours: func() []Hour {
				h := makeSynth("noise", 0, days, false, 1).dense(days)
				h[waveIdx] = Hour{Articles: 30, Sources: map[string]int{"liveblog": 30}}
				return h
			},
		},
		{
			name: "a quiet topic going from 1 to 3 articles is no spike",
			hours: func() []Hour {
				h := make([]Hour, days*24)
				for d := range days {
					h[d*24+10] = Hour{Articles: 1, Sources: map[string]int{"a": 1}}
				}
				h[waveIdx] = Hour{Articles: 3, Sources: map[string]int{"a": 1, "b": 1, "c": 1}}
				return h
			},
		},
		{
			name: "no baseline, no spike: a wave on the second day",
			hours: func() []Hour {
				h := make([]Hour, 48)
				h[30] = Hour{Articles: 40, Sources: map[string]int{"a": 10, "b": 10, "c": 10, "d": 10}}
				return h
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Detect(tt.hours(), defaultParams)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %+v, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Bucket != w.Bucket || g.At != w.At || g.FollowUp != w.FollowUp {
					t.Errorf("event %d = bucket %d at %d follow-up %d, want bucket %d at %d follow-up %d",
						i, g.Bucket, g.At, g.FollowUp, w.Bucket, w.At, w.FollowUp)
				}
				if g.Baseline.Days != BaselineDays || g.Articles < 30 || g.Sources < 20 {
					t.Errorf("event %d: %+v", i, g)
				}
			}
		})
	}
}

func TestMedianMAD(t *testing.T) {
	tests := []struct {
		xs       []float64
		med, mad float64
	}{
		{[]float64{1, 2, 3, 4, 100}, 3, 1},
		{[]float64{5, 5, 5, 5}, 5, 0},
		{[]float64{1, 2, 3, 4}, 2.5, 1},
		{nil, 0, 0},
	}
	for _, tt := range tests {
		if med, mad := medianMAD(tt.xs); med != tt.med || mad != tt.mad {
			t.Errorf("medianMAD(%v) = %v, %v; want %v, %v", tt.xs, med, mad, tt.med, tt.mad)
		}
	}
}

// TestSpikeAlertsThroughTheBus feeds the synthetic archive to the alert
// stream, lets the series count it, then checks for spikes hour by hour
// as if the daemon ran through those days: the wave topic gets one alert
// at the wave's first hour and one follow-up, the noise topic none.
func TestSpikeAlertsThroughTheBus(t *testing.T) {
	spikes := config.Spikes{Enabled: true}
	cfg := testConfig(t,
		config.Topic{ID: "wave", Name: "The wave", Query: "x", Spikes: spikes},
		config.Topic{ID: "noise", Query: "x", Spikes: spikes})
	b := openBus(t, cfg)
	const days = 20
	end := HourOf(time.Now())
	start := end - (days*24-1)*hourSec
	wave := makeSynth("wave", start, days, true, 1)
	noise := makeSynth("noise", start, days, false, 2)
	publishAlerts(t, b, append(wave.obs, noise.obs...))

	s := New(b, cfg, discard())
	at := fakeNow(s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Upkeep(ctx) }()
	waveHourUnix := start + int64(waveDay*24+waveHour)*hourSec
	waitCounted(t, s, b, "wave", waveHourUnix, expected(wave.obs)[waveHourUnix][0])
	var sent []news.Alert
	for h := start + 15*24*hourSec; h <= end; h += hourSec {
		for _, min := range []int64{5, 35} {
			at.Store(h + min*60)
			got, err := s.CheckSpikes(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			sent = append(sent, got...)
		}
	}
	wantIDs := []string{
		news.SpikeID("wave", time.Unix(waveHourUnix, 0), 0),
		news.SpikeID("wave", time.Unix(waveHourUnix, 0), 1),
	}
	if len(sent) != len(wantIDs) {
		for _, a := range sent {
			t.Logf("sent %s: %s", a.ID, a.Article.Title)
		}
		t.Fatalf("sent %d spike alerts, want %d", len(sent), len(wantIDs))
	}
	for i, a := range sent {
		if a.ID != wantIDs[i] {
			t.Errorf("alert %d id %s, want %s", i, a.ID, wantIDs[i])
		}
		sp := a.Spike
		if a.Kind != news.KindSpike || sp == nil || sp.Window != "6h" || sp.FollowUp != i ||
			!sp.Bucket.Equal(time.Unix(waveHourUnix, 0)) || len(sp.TopArticles) != topN || len(sp.TopSources) != topN {
			t.Errorf("alert %d: %+v", i, sp)
		}
	}
	if !sent[0].Spike.End.Equal(time.Unix(waveHourUnix+hourSec, 0)) || sent[0].Spike.Articles < 30 || sent[0].Spike.Sources < 20 {
		t.Errorf("first report: %+v", sent[0].Spike)
	}

	// What the stream holds is what was sent: the spike alerts, once.
	var onStream []string
	c, err := b.JS.OrderedConsumer(ctx, b.Names.AlertStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(5000, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		var a news.Alert
		if json.Unmarshal(m.Data(), &a) == nil && a.Kind == news.KindSpike {
			onStream = append(onStream, a.ID)
		}
	}
	if len(onStream) != 2 || onStream[0] != wantIDs[0] || onStream[1] != wantIDs[1] {
		t.Errorf("spike alerts on the stream: %v", onStream)
	}
	// The series did not count its own spike alerts as articles.
	waitFor(t, 10*time.Second, func() bool { return consumerDone(b) })
	if got, want := s.mem.Get("wave", waveHourUnix).Articles, expected(wave.obs)[waveHourUnix][0]; got != want {
		t.Errorf("wave hour counts %d articles, want %d", got, want)
	}
}

// TestDamagedSpikeStateDoesNotSilenceTopic stores garbage as a topic's
// last spike report: the spike is still reported, the damage is logged
// as an ERROR, and the note is rewritten.
func TestDamagedSpikeStateDoesNotSilenceTopic(t *testing.T) {
	cfg := testConfig(t, config.Topic{ID: "wave", Name: "The wave", Query: "x", Spikes: config.Spikes{Enabled: true}})
	b := openBus(t, cfg)
	const days = 20
	end := HourOf(time.Now())
	start := end - (days*24-1)*hourSec
	synth := makeSynth("wave", start, days, true, 1)
	publishAlerts(t, b, synth.obs)
	ctx := context.Background()
	if _, err := b.StoreKV().Put(ctx, spikeKey("wave"), []byte("{not json")); err != nil {
		t.Fatal(err)
	}

	var logs lockedBuffer
	s := New(b, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	at := fakeNow(s)
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = s.Upkeep(uctx) }()
	waveHourUnix := start + int64(waveDay*24+waveHour)*hourSec
	waitCounted(t, s, b, "wave", waveHourUnix, expected(synth.obs)[waveHourUnix][0])
	want := news.SpikeID("wave", time.Unix(waveHourUnix, 0), 0)
	var sent []string
	for h := waveHourUnix; h <= waveHourUnix+2*hourSec && len(sent) == 0; h += hourSec {
		at.Store(h + 5*60)
		got, err := s.CheckSpikes(ctx)
		if err != nil {
			t.Fatalf("check spikes with a damaged note: %v", err)
		}
		for _, a := range got {
			sent = append(sent, a.ID)
		}
	}
	if len(sent) != 1 || sent[0] != want {
		t.Fatalf("sent %v, want [%s]", sent, want)
	}
	if n := strings.Count(logs.String(), "spike state unreadable"); n != 1 || !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("%d ERRORs about the damaged note, want 1:\n%s", n, logs.String())
	}
	got, err := b.StoreKV().Get(ctx, spikeKey("wave"))
	if err != nil {
		t.Fatal(err)
	}
	var st spikeState
	if err := json.Unmarshal(got.Value, &st); err != nil || st.Bucket != waveHourUnix {
		t.Errorf("note after the report: %q (%v), want bucket %d", got.Value, err, waveHourUnix)
	}
}

type lockedBuffer = logtest.Buffer

// fakeNow makes s's clock the real one until the test sets a unix time in
// the returned value; the service reads it from its own goroutines.
func fakeNow(s *Service) *atomic.Int64 {
	var at atomic.Int64
	s.now = func() time.Time {
		if v := at.Load(); v != 0 {
			return time.Unix(v, 0)
		}
		return time.Now()
	}
	return &at
}

// waitCounted waits until the series holds want articles for topic's
// hour and the trends consumer has nothing left: an idle consumer alone
// can be seen before it took the stream's messages.
func waitCounted(t *testing.T, s *Service, b *bus.Bus, topic string, hour int64, want int) {
	t.Helper()
	waitFor(t, 30*time.Second, func() bool { return s.mem.Get(topic, hour).Articles == want && consumerDone(b) })
}

package trends

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/news"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testConfig(t testing.TB, topics ...config.Topic) *config.Config {
	t.Helper()
	cfg := &config.Config{DataDir: t.TempDir(), Topics: topics}
	cfg.ApplyDefaults()
	return cfg
}

func openBus(t testing.TB, cfg *config.Config) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func waitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const hourSec = int64(time.Hour / time.Second)

// synth is a synthetic archive of one topic: seasonal noise (a few
// articles an hour in the day from four regular sources, fewer at night,
// and a daily 06:00 round-up from eight sources), and optionally a wave.
type synth struct {
	start int64 // unix hour of the first bucket
	obs   []Obs
}

// waveAt is where the wave starts: day 17, 13:00, of a 20-day archive.
const waveDay, waveHour = 17, 13

func makeSynth(topic string, start int64, days int, wave bool, seed uint64) synth {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := synth{start: start}
	n := 0
	add := func(hour int64, source string) {
		n++
		s.obs = append(s.obs, Obs{
			Topic: topic, Hour: hour, ID: fmt.Sprintf("%s-%06d", topic, n), Source: source,
			Title: fmt.Sprintf("%s story %d", topic, n), URL: fmt.Sprintf("https://%s.example/%d", source, n),
			Score: float64(rng.IntN(100)) / 10,
		})
	}
	regular := []string{"daily", "herald", "tribune", "post"}
	for i := range days * 24 {
		hour := start + int64(i)*hourSec
		hod := i % 24
		k := rng.IntN(2) // night: 0 or 1
		if hod >= 8 && hod < 20 {
			k = rng.IntN(3) // day: 0 to 2
		}
		for range k {
			add(hour, regular[rng.IntN(len(regular))])
		}
		if hod == 6 {
			for j := range 8 {
				add(hour, fmt.Sprintf("roundup-%d", j))
			}
		}
		if wave && i/24 == waveDay {
			per := map[int]int{waveHour: 30, waveHour + 1: 50, waveHour + 2: 20, waveHour + 3: 10}[hod]
			for j := range per {
				add(hour, fmt.Sprintf("wire-%d", j%20))
			}
		}
	}
	return s
}

// dense is the synthetic series as Detect reads it.
func (s synth) dense(days int) []Hour {
	m := NewMemory()
	m.Add(s.obs, map[string]bool{})
	topic := s.obs[0].Topic
	return m.Hours(topic, s.start, s.start+int64(days*24-1)*hourSec)
}

// alertOf is the article alert an observation stands for.
func alertOf(o Obs) news.Alert {
	pub := time.Unix(o.Hour+int64(len(o.ID))*37%3000, 0).UTC()
	return news.Alert{
		V: news.Version, ID: news.AlertID(o.Topic, o.ID), Topic: o.Topic, Score: o.Score,
		Article: news.Article{V: news.Version, ID: o.ID, Source: o.Source, Title: o.Title, URL: o.URL,
			Published: pub, Fetched: pub.Add(5 * time.Minute)},
		Created: pub.Add(5 * time.Minute),
	}
}

func publishAlerts(t testing.TB, b *bus.Bus, obs []Obs) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var acks []jetstream.PubAckFuture
	for _, o := range obs {
		a := alertOf(o)
		data, _ := json.Marshal(a)
		f, err := b.JS.PublishAsync(b.Names.AlertSubject(o.Topic), data, jetstream.WithMsgID(a.ID))
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
}

// expected counts the observations per hour the way the series must.
func expected(obs []Obs) map[int64][2]int {
	out := map[int64][2]int{}
	srcs := map[int64]map[string]bool{}
	for _, o := range obs {
		if srcs[o.Hour] == nil {
			srcs[o.Hour] = map[string]bool{}
		}
		srcs[o.Hour][o.Source] = true
		c := out[o.Hour]
		c[0]++
		c[1] = len(srcs[o.Hour])
		out[o.Hour] = c
	}
	return out
}

// consumerDone reports whether the trends consumer has nothing pending,
// alerts stored a moment ago included.
func consumerDone(b *bus.Bus) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, found, err := b.ConsumerBacklog(ctx, b.Names.AlertStream, "trends")
	return err == nil && found && n == 0
}

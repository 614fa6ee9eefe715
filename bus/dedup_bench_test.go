package bus

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkJobIDMemory publishes b.N fetch jobs with their ids and takes
// each at once, as fetch workers do, and reports the heap the server
// still holds for them per job: the duplicate-detection id, kept for the
// stream's whole window (FetchJobWindow) whether the job is done or not.
// What a poll rate costs is this times the rate times the window.
//
//	go test ./bus/ -run '^$' -bench JobIDMemory -benchtime 100000x
func BenchmarkJobIDMemory(b *testing.B) {
	bus := loopBus(b)
	ctx := context.Background()
	if _, err := bus.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "JOBS", Subjects: []string{"jobs.>"},
		Retention: jetstream.WorkQueuePolicy, Duplicates: FetchJobWindow, Storage: jetstream.MemoryStorage}); err != nil {
		b.Fatal(err)
	}
	cons, err := bus.JS.CreateOrUpdateConsumer(ctx, "JOBS", jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		b.Fatal(err)
	}
	before := liveHeap()
	b.ResetTimer()
	for i := 0; i < b.N; i += 1000 {
		for j := i; j < min(i+1000, b.N); j++ {
			id := fmt.Sprintf("feed-%d@%d", j%1000, 1764780000+j)
			if _, err := bus.JS.PublishAsync(fmt.Sprintf("jobs.feed-%d", j%1000), []byte(`{"source":"feed-1","due":"2026-12-03T16:00:00Z"}`), jetstream.WithMsgID(id)); err != nil {
				b.Fatal(err)
			}
		}
		<-bus.JS.PublishAsyncComplete()
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
			_ = m.Ack()
		}
	}
	b.StopTimer()
	time.Sleep(500 * time.Millisecond) // the last acks
	b.ReportMetric(float64(liveHeap()-before)/float64(b.N), "heap-B/job")
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

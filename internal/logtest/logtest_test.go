package logtest

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestBufferTakesConcurrentWrites(t *testing.T) {
	var buf Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				log.Info("line", "writer", i, "n", j)
				_ = buf.String()
			}
		})
	}
	wg.Wait()
	if got := strings.Count(buf.String(), "msg=line"); got != 400 {
		t.Errorf("%d lines, want 400", got)
	}
	if !strings.Contains(buf.String(), fmt.Sprintf("writer=%d n=%d", 7, 49)) {
		t.Error("the last line of writer 7 is missing")
	}
}

package bus

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

// The server's own cap on its store is reached while the disk may have
// room: the fault must name both ways out, freeing disk space and
// keeping less (the store may be what fills the space).
func TestStoreCapFaultSaysWhatToDo(t *testing.T) {
	h := NewHealth()
	l := &serverLog{log: slog.New(slog.NewTextHandler(io.Discard, nil)), health: h}
	l.Warnf("JetStream resource limits exceeded for server")
	l.Errorf("Error storing message: file resource limits exceeded")
	if !l.atCap.Load() {
		t.Fatal("the cap was not recognised")
	}
	fs := h.Faults()
	if len(fs) != 1 || fs[0].Key != storeFaultKey {
		t.Fatalf("faults = %+v; want one %s", fs, storeFaultKey)
	}
	for _, want := range []string{"free disk space", "nats.article_max_age", "resume by themselves"} {
		if !strings.Contains(fs[0].Detail, want) {
			t.Errorf("detail %q does not say %q", fs[0].Detail, want)
		}
	}
}

package bus

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"newswatch/internal/logtest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

type lockedBuffer = logtest.Buffer

// 4,000 bytes overwritten in the alert stream's block file: the server
// drops every alert after the damage at the next start, without a word.
// Open must find it, log it at ERROR and report it to Health.
func TestDamagedStoreIsReportedAtStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := testConfig(t)
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	b, err := Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		data := fmt.Sprintf(`{"n":%d,"pad":"%0200d"}`, i, i)
		if _, err := b.JS.Publish(ctx, b.Names.AlertSubject("t"), []byte(data), jetstream.WithMsgID(fmt.Sprint("t:", i))); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("errors before the damage:\n%s", logs.String())
	}

	blks, _ := filepath.Glob(filepath.Join(cfg.DataDir, "jetstream", "jetstream", "*", "streams", b.Names.AlertStream, "msgs", "*.blk"))
	if len(blks) != 1 {
		t.Fatalf("block files: %v", blks)
	}
	f, err := os.OpenFile(blks[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	if _, err := f.WriteAt(bytes.Repeat([]byte{'X'}, 4000), st.Size()/3); err != nil {
		t.Fatal(err)
	}
	f.Close()

	b, err = Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := b.JS.Stream(ctx, b.Names.AlertStream)
	if err != nil {
		t.Fatal(err)
	}
	left := s.CachedInfo().State.Msgs
	t.Logf("alerts left after the damage: %d of 300", left)
	if left >= 300 {
		t.Fatal("the damage lost nothing: the test proves nothing")
	}
	var lost *Fault
	for _, f := range b.Health.Faults() {
		if f.Kind == KindDataLost && f.Key == KindDataLost+":"+b.Names.AlertStream {
			lost = &f
		}
	}
	if lost == nil {
		t.Fatalf("no data.lost fault; faults: %+v\nlog:\n%s", b.Health.Faults(), logs.String())
	}
	t.Logf("fault: %s", lost.Detail)
	if want := fmt.Sprintf("(%d messages)", 300-left); !strings.Contains(lost.Detail, want) {
		t.Errorf("fault detail %q does not say %s", lost.Detail, want)
	}
	if got := b.Health.Counts().Lost[b.Names.AlertStream]; got != 300-left {
		t.Errorf("lost count = %d, want %d", got, 300-left)
	}
	if !strings.Contains(logs.String(), `level=ERROR msg="data lost from the store"`) || !strings.Contains(logs.String(), b.Names.AlertStream) {
		t.Errorf("no ERROR log naming the stream:\n%s", logs.String())
	}
	if len(b.Health.Blocking()) != 0 {
		t.Errorf("data lost blocks readiness: %+v", b.Health.Blocking())
	}

	// A clean restart after that finds nothing new.
	b.Close()
	b, err = Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if fs := b.Health.Faults(); len(fs) != 0 {
		t.Errorf("faults after a clean restart: %+v", fs)
	}
}

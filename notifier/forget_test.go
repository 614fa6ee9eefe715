package notifier

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuf is a log sink safe for concurrent writers.
type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A record of failed tries the store refuses to forget is logged: left
// in place, a digest's old tries count against the next digest, which
// then gives up early.
func TestForgetAttemptsRefusedIsLogged(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	var logs lockedBuf
	d := NewDispatcher(b, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The store bucket gone: every write to it is refused.
	if err := b.JS.DeleteKeyValue(ctx, b.Names.StoreBucket); err != nil {
		t.Fatal(err)
	}
	if err := b.ForgetNote(ctx, attemptsKey("desk", digestAttempts)); err == nil {
		t.Fatal(errors.New("the store took a write after its bucket was deleted"))
	}
	d.forgetAttempts(ctx, d.log, "desk", digestAttempts)
	if s := logs.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "forget delivery attempts") {
		t.Errorf("a refused forget was not logged at WARN: %q", s)
	}
}

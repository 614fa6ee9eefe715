package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// The embedded server does not answer a publish it could not store (a
// full disk, a read-only store): the stream keeps the write error and
// refuses every later write until it is loaded again, so the pipeline
// would stop for good while the process looks healthy. The watchdog sees
// the server's error, reports it to Health (so /readyz fails and the
// operator is told), and once the disk takes writes again it restarts
// JetStream, which reloads the streams from disk without the error.

// storeFaultKey is the fault the watchdog reports for the store itself;
// stages report theirs under their own keys ("store.write.fetch", "store.write.classify").
const storeFaultKey = "store.jetstream"

// Intervals of the store watchdog.
const (
	storeCheckEvery = 2 * time.Second
	markEvery       = 15 * time.Second
)

// serverLog passes the embedded server's errors to the log and watches
// them for store write failures.
type serverLog struct {
	log    *slog.Logger
	broken atomic.Pointer[string] // the last write error, until recovered
	atCap  atomic.Bool            // broken by the server's cap on its store
	health *Health
}

func (l *serverLog) Noticef(string, ...any) {}
func (l *serverLog) Debugf(string, ...any)  {}
func (l *serverLog) Tracef(string, ...any)  {}
func (l *serverLog) Warnf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Warn("nats-server: " + msg)
	l.watch(msg)
}
func (l *serverLog) Fatalf(format string, v ...any) { l.Errorf(format, v...) }
func (l *serverLog) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error("nats-server: " + msg)
	l.watch(msg)
}

func (l *serverLog) watch(msg string) {
	low := strings.ToLower(msg)
	if strings.Contains(low, "file resource limits exceeded") {
		// The server caps its store at 75% of the disk space free when
		// it started: reached, it refuses every write while the disk
		// may still have room, and says so only in this line.
		l.broken.Store(&msg)
		l.atCap.Store(true)
		l.health.Report(storeFaultKey, KindStoreError, "the store reached its cap (75% of the disk space free when newswatch started): free disk space, or keep less (a shorter nats.article_max_age, if newswatch's own data fills it), "+capResume+": "+msg)
		return
	}
	for _, s := range []string{"write error", "no space left", "out of resources", "permission denied while writing", "disabling jetstream"} {
		if strings.Contains(low, s) {
			l.broken.Store(&msg)
			l.health.Report(storeFaultKey, KindStoreError, "the store cannot write: "+msg)
			return
		}
	}
}

// watchStore runs the store watchdog until stop is closed.
func (b *Bus) watchStore(stop <-chan struct{}, done *sync.WaitGroup) {
	defer done.Done()
	t := time.NewTicker(storeCheckEvery)
	defer t.Stop()
	lastMark := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeCheckEvery*5)
		b.checkStore(ctx)
		if time.Since(lastMark) >= markEvery {
			lastMark = time.Now()
			b.checkStreams(ctx, false)
		}
		cancel()
	}
}

// checkStore reports a store that cannot write and recovers the embedded
// one once the disk takes writes again.
func (b *Bus) checkStore(ctx context.Context) {
	if b.server == nil {
		// An external server: it says whether JetStream is enabled.
		if _, err := b.JS.AccountInfo(ctx); errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			b.Health.Report(storeFaultKey, KindStoreError, "the NATS server has JetStream disabled: "+err.Error())
		} else if err == nil {
			b.Health.Clear(storeFaultKey)
		}
		return
	}
	broken := b.slog.broken.Load()
	enabled := b.server.JetStreamEnabled()
	if broken == nil && enabled {
		return
	}
	if !enabled {
		b.Health.Report(storeFaultKey, KindStoreError, "the embedded server disabled JetStream after a store error")
	}
	if err := probeWrite(b.storeDir); err != nil {
		return // still full (or read-only): the fault stays
	}
	cfg := b.jsConfig
	atCap := b.slog.atCap.Load()
	if atCap {
		limit, ok := b.roomierCap(ctx)
		if !ok {
			return // a restart would meet the same cap: the fault stays
		}
		cfg.MaxStore = limit
	}
	if err := b.restartJetStream(cfg); err != nil {
		b.log.Error("store writable again, but JetStream did not restart", "err", err)
		return
	}
	b.jsConfig.MaxStore = cfg.MaxStore
	if atCap {
		b.slog.atCap.Store(false)
	}
	b.slog.broken.CompareAndSwap(broken, nil)
	b.Health.Clear(storeFaultKey)
	b.log.Info("store recovered: JetStream restarted on the writable store")
}

// roomierCap is the cap on the store the server would set if it started
// now (75% of the free space and of what the store holds), and whether
// it leaves room beyond the cap in force.
func (b *Bus) roomierCap(ctx context.Context) (int64, bool) {
	free, ok := freeBytes(b.storeDir)
	if !ok {
		return 0, false
	}
	info, err := b.JS.AccountInfo(ctx)
	if err != nil {
		return 0, false
	}
	limit := int64((free + info.Store) / 4 * 3)
	return limit, limit >= b.jsConfig.MaxStore+minFree
}

// restartJetStream reloads every stream from disk with cfg, which drops
// the write errors the streams kept.
func (b *Bus) restartJetStream(cfg server.JetStreamConfig) error {
	if b.server.JetStreamEnabled() {
		if err := b.server.ShutdownJetStream(); err != nil {
			return fmt.Errorf("stop jetstream: %w", err)
		}
	}
	if err := b.server.EnableJetStream(&cfg); err != nil {
		return fmt.Errorf("start jetstream: %w", err)
	}
	return nil
}

// minFree is the free space the store needs before JetStream is
// restarted on it: with less, it would fail again at once.
const minFree = 8 << 20

// probeWrite checks that dir has room again and that a file written,
// synced and removed there shows the disk takes writes.
func probeWrite(dir string) error {
	if free, ok := freeBytes(dir); ok && free < minFree {
		return fmt.Errorf("%s: %d bytes free", dir, free)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(make([]byte, 256<<10)); err != nil {
		return err
	}
	return f.Sync()
}

// storeDirOf is where the embedded server keeps its files.
func storeDirOf(dataDir string) string { return filepath.Join(dataDir, "jetstream") }

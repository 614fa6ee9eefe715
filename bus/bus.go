// Package bus owns newswatch's NATS side: it starts the embedded server (or
// connects to a cluster), and creates the streams, consumers' streams and
// key-value buckets every stage relies on. Subject and stream names derive
// from one prefix, so several installations can share a cluster.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"newswatch/config"
	"newswatch/internal/clock"
)

// Bus is a live connection to NATS with JetStream and newswatch's streams.
type Bus struct {
	NC *nats.Conn
	JS jetstream.JetStream

	Names Names
	Seen  jetstream.KeyValue // article ids already published
	State jetstream.KeyValue // per-source fetch state
	Store jetstream.KeyValue // small durable notes (delivery attempts)
	// Feedback holds subscribers' relevant / not relevant labels; nil on
	// a bus attached to a daemon that predates it.
	Feedback jetstream.KeyValue

	// Trends holds per topic and hour the matched articles and sources
	// (package trends); nil on a bus from OpenClient of an older daemon.
	Trends jetstream.KeyValue

	// Health holds the faults that keep the pipeline from working while
	// the connection is up (store write errors, data lost); never nil
	// on a Bus from Open.
	Health *Health

	server *server.Server // nil when connected to an external server
	lock   *dirLock       // the data_dir lock of the embedded server
	// exclusive: the embedded server, under the data_dir lock, listens
	// for no other client: no other process can reach the store.
	exclusive bool
	// stateLocal: see StateLocal; set when exclusive.
	stateLocal *LocalKeys
	log        *slog.Logger
	client     bool // opened for inspection: keeps no records, runs no watchdog

	dataDir  string
	storeDir string                 // the embedded server's store
	jsConfig server.JetStreamConfig // to restart JetStream with
	slog     *serverLog             // the embedded server's errors

	lostMu   sync.Mutex
	lostSeen map[string]map[uint64]bool // lost sequences the server reported, per stream

	stopWatch chan struct{}
	watching  sync.WaitGroup
}

// Names are the subjects, streams and buckets for one subject prefix.
type Names struct {
	Prefix string

	FetchStream, ArticleStream, AlertStream, DeadStream string
	SeenBucket, StateBucket, StoreBucket                string
	TrendsBucket                                        string
	FeedbackBucket                                      string
}

// NamesFor derives every name from the subject prefix.
func NamesFor(prefix string) Names {
	up := strings.ToUpper(strings.ReplaceAll(prefix, "-", "_"))
	return Names{
		Prefix:        prefix,
		FetchStream:   up + "_FETCH",
		ArticleStream: up + "_ARTICLES",
		AlertStream:   up + "_ALERTS",
		DeadStream:    up + "_DEAD",
		SeenBucket:    prefix + "-seen",
		StateBucket:   prefix + "-sources",
		StoreBucket:   prefix + "-store",
		TrendsBucket:  prefix + "-trends",
		// FeedbackBucket is kept apart from the store: labels are data
		// to export, not notes.
		FeedbackBucket: prefix + "-feedback",
	}
}

// FetchSubject is where fetch jobs for a source are published.
func (n Names) FetchSubject(source string) string { return n.Prefix + ".fetch." + source }

// ArticleSubject is where a source's new articles are published.
func (n Names) ArticleSubject(source string) string { return n.Prefix + ".articles." + source }

// AlertSubject is where a topic's alerts are published.
func (n Names) AlertSubject(topic string) string { return n.Prefix + ".alerts." + topic }

// SeenKey is the subject of an article id in the seen bucket (a plain
// publish to it is a KV put).
func (n Names) SeenKey(articleID string) string { return "$KV." + n.SeenBucket + "." + articleID }

// DeadSubject is where a subscriber's failed deliveries are kept.
func (n Names) DeadSubject(subscriber string) string { return n.Prefix + ".dead." + subscriber }

// Open connects to the configured NATS (starting the embedded server when
// nats.url is empty) and makes sure every stream and bucket exists.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Bus, error) {
	return openBus(ctx, cfg, log, false)
}

// OpenClient is Open for commands that inspect a bus a daemon may own:
// when the daemon holds data_dir and exposes its embedded server
// (nats.listen), it connects to that server and leaves the streams and
// buckets as the daemon made them.
func OpenClient(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Bus, error) {
	return openBus(ctx, cfg, log, true)
}

func openBus(ctx context.Context, cfg *config.Config, log *slog.Logger, client bool) (*Bus, error) {
	b := &Bus{Names: NamesFor(cfg.NATS.SubjectPrefix), log: log, Health: newHealth(log), client: client,
		dataDir: cfg.DataDir, storeDir: storeDirOf(cfg.DataDir), lostSeen: map[string]map[uint64]bool{}}
	b.slog = &serverLog{log: log, health: b.Health}
	var err error
	attached := false
	if cfg.NATS.URL == "" {
		// A daemon waits for one that is shutting down on the same
		// data_dir (a restart right after SIGTERM); an inspection
		// client attaches to a running one instead.
		wait := lockWait
		if client {
			wait = 0
		}
		b.server, b.lock, err = startEmbedded(ctx, cfg, b.slog, wait)
		switch {
		case client && errors.Is(err, ErrDataDirInUse) && cfg.NATS.Listen != "":
			attached = true
			b.NC, err = nats.Connect("nats://"+cfg.NATS.Listen, nats.Name("newswatch-cli"))
		case err != nil:
			return nil, err
		default:
			b.NC, err = nats.Connect("", nats.InProcessServer(b.server), nats.Name("newswatch"))
			// Alone only under a lock that keeps other processes out.
			b.exclusive = cfg.NATS.Listen == "" && b.lock.held()
			if b.exclusive {
				b.stateLocal = newLocalKeys()
			}
		}
	} else {
		var access []nats.Option
		if access, err = accessOptions(cfg.NATS); err != nil {
			return nil, err
		}
		b.NC, err = nats.Connect(cfg.NATS.URL, append([]nats.Option{
			nats.Name("newswatch"),
			nats.MaxReconnects(-1),
			nats.RetryOnFailedConnect(false),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					log.Warn("nats disconnected", "err", err)
				}
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
		}, access...)...)
	}
	if err != nil {
		b.shutdownServer()
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	// An async publish the server does not answer (a store that cannot
	// write keeps silent) fails after this, so no waiter parks forever.
	b.JS, err = jetstream.New(b.NC, jetstream.WithPublishAsyncTimeout(PublishAsyncTimeout))
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if attached {
		err = b.lookup(ctx)
	} else {
		err = b.ensure(ctx, cfg)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	if b.server != nil {
		b.jsConfig = *b.server.JetStreamConfig()
		b.jsConfig.StoreDir = b.storeDir // EnableJetStream adds "jetstream" again
	}
	if !attached {
		b.checkStreams(ctx, true)
	}
	if !client {
		b.stopWatch = make(chan struct{})
		b.watching.Add(1)
		go b.watchStore(b.stopWatch, &b.watching)
	}
	return b, nil
}

// lookup binds the buckets of a bus someone else set up.
func (b *Bus) lookup(ctx context.Context) error {
	for _, bk := range []struct {
		kv   *jetstream.KeyValue
		name string
	}{{&b.Seen, b.Names.SeenBucket}, {&b.State, b.Names.StateBucket}, {&b.Store, b.Names.StoreBucket}} {
		kv, err := b.JS.KeyValue(ctx, bk.name)
		if err != nil {
			return fmt.Errorf("bucket %s: %w", bk.name, err)
		}
		*bk.kv = kv
	}
	// A daemon older than the trends bucket has none; commands do without.
	if kv, err := b.JS.KeyValue(ctx, b.Names.TrendsBucket); err == nil {
		b.Trends = kv
	}
	if kv, err := b.JS.KeyValue(ctx, b.Names.FeedbackBucket); err == nil {
		b.Feedback = kv
	}
	return nil
}

// lockWait bounds how long Open waits for a process that is shutting
// down to release data_dir: its drain (-shutdown-timeout, 30s by
// default) plus the server's shutdown.
const lockWait = 45 * time.Second

func startEmbedded(ctx context.Context, cfg *config.Config, sl *serverLog, wait time.Duration) (_ *server.Server, _ *dirLock, err error) {
	log := sl.log
	dir := storeDirOf(cfg.DataDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("create data dir: %w", err)
	}
	lock, err := lockDataDir(ctx, cfg.DataDir, wait)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			lock.release()
		}
	}()
	opts := &server.Options{
		ServerName:   "newswatch",
		JetStream:    true,
		StoreDir:     dir,
		SyncInterval: cfg.NATS.SyncInterval,
		NoSigs:       true,
		NoLog:        true,
		DontListen:   true,
	}
	if cfg.NATS.Listen != "" {
		host, port, err := splitHostPort(cfg.NATS.Listen)
		if err != nil {
			return nil, nil, fmt.Errorf("nats.listen: %w", err)
		}
		// A busy port would only show as a 30-second start-up timeout.
		ln, err := net.Listen("tcp", cfg.NATS.Listen)
		if err != nil {
			return nil, nil, fmt.Errorf("nats.listen: %w", err)
		}
		ln.Close()
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			// Not an error: a cluster of one may want it. But anyone who
			// reaches the port can read and write the bus.
			log.Warn("nats.listen is not a loopback address and the embedded server has no authentication", "addr", cfg.NATS.Listen)
		}
		opts.DontListen = false
		opts.Host, opts.Port = host, port
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded nats: %w", err)
	}
	ns.SetLoggerV2(sl, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, nil, errors.New("embedded nats: not ready after 30s")
	}
	return ns, lock, nil
}

// FetchJobWindow is the duplicate window of the fetch-job stream. Its
// ids only keep two replicas' schedulers from queuing the same job
// (source and due time), which they do seconds apart; a repeat after it
// finds the source fetched since its due time and does nothing. The
// server keeps every id for the whole window, about 100 bytes each,
// whether or not its job is done: with the 24 h of nats.dedup_window,
// 1,000 feeds polled every 5 s would hold 17 million ids (~1.8 GB).
const FetchJobWindow = 5 * time.Minute

func (b *Bus) ensure(ctx context.Context, cfg *config.Config) error {
	n := b.Names
	window := cfg.NATS.DedupWindow
	streams := []jetstream.StreamConfig{
		{
			Name:        n.FetchStream,
			Description: "fetch jobs: one per source per due time",
			Subjects:    []string{n.Prefix + ".fetch.>"},
			Retention:   jetstream.WorkQueuePolicy,
			Duplicates:  min(window, FetchJobWindow),
			Discard:     jetstream.DiscardOld,
		},
		{
			Name:        n.ArticleStream,
			Description: "new articles, normalised",
			Subjects:    []string{n.Prefix + ".articles.>"},
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      cfg.NATS.ArticleMaxAge,
			Duplicates:  window,
		},
		{
			Name:        n.AlertStream,
			Description: "alerts: one per topic and article",
			Subjects:    []string{n.Prefix + ".alerts.>", n.EventSubject(">")},
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      cfg.NATS.ArticleMaxAge,
			Duplicates:  window,
			AllowMsgTTL: true, // heartbeat events expire (see Events)
		},
		{
			Name:        n.DeadStream,
			Description: "deliveries that gave up, with every attempt's error",
			Subjects:    []string{n.Prefix + ".dead.>"},
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  window,
		},
	}
	for _, sc := range streams {
		sc.Storage = storageType(cfg.NATS)
		sc.Replicas = max(cfg.NATS.Replicas, 1)
		// No real limit, but any per-subject limit makes the server use
		// 4 MB file blocks instead of 8 MB: each block being written or
		// read holds a cache of its size, and this halves a full
		// refresh's peak memory share of them (docs/benchmarks.md).
		sc.MaxMsgsPerSubject = 1 << 40
		if err := Retry(ctx, b.log, "create stream "+sc.Name, func(ctx context.Context) error {
			return b.ensureStream(ctx, sc)
		}); err != nil {
			return err
		}
	}
	buckets := []struct {
		kv  *jetstream.KeyValue
		cfg jetstream.KeyValueConfig
	}{
		{&b.Seen, jetstream.KeyValueConfig{Bucket: n.SeenBucket, Description: "article ids already published", TTL: cfg.NATS.SeenTTL}},
		{&b.State, jetstream.KeyValueConfig{Bucket: n.StateBucket, Description: "per-source fetch state"}},
		{&b.Store, jetstream.KeyValueConfig{Bucket: n.StoreBucket, Description: "delivery attempts and other small durable notes"}},
		{&b.Trends, jetstream.KeyValueConfig{Bucket: n.TrendsBucket, Description: "per topic and hour: matched articles and sources", TTL: cfg.Trends.Retention}},
		{&b.Feedback, jetstream.KeyValueConfig{Bucket: n.FeedbackBucket, Description: "subscribers' relevant / not relevant labels on alerts"}},
	}
	for _, bk := range buckets {
		bk.cfg.Storage = storageType(cfg.NATS)
		bk.cfg.Replicas = max(cfg.NATS.Replicas, 1)
		if err := Retry(ctx, b.log, "create bucket "+bk.cfg.Bucket, func(ctx context.Context) error {
			kv, err := b.ensureBucket(ctx, bk.cfg)
			*bk.kv = kv
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// Several replicas start at once against a fresh cluster (compose, a
// Deployment with two replicas). When two of them ask for the same R3
// stream at the same moment, the server can leave both requests
// unanswered although it made the stream. So a replica looks the stream
// up first, and creates it only when it is missing, after a random pause
// that takes replicas out of step; one that loses the race finds the
// stream on its next short attempt.
const createJitter = 300 * time.Millisecond

// ensureStream makes sure a stream exists with config sc.
func (b *Bus) ensureStream(ctx context.Context, sc jetstream.StreamConfig) error {
	_, err := b.JS.Stream(ctx, sc.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if err := b.createPause(ctx); err != nil {
			return err
		}
		_, err = b.JS.CreateStream(ctx, sc)
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return err
		}
	} else if err != nil {
		return err
	}
	// It exists: bring its config up to date (a no-op when unchanged).
	_, err = b.JS.UpdateStream(ctx, sc)
	return err
}

// ensureBucket is ensureStream for a key-value bucket.
func (b *Bus) ensureBucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	_, err := b.JS.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		if err := b.createPause(ctx); err != nil {
			return nil, err
		}
		kv, err := b.JS.CreateKeyValue(ctx, cfg)
		if !errors.Is(err, jetstream.ErrBucketExists) {
			return kv, err
		}
	} else if err != nil {
		return nil, err
	}
	return b.JS.UpdateKeyValue(ctx, cfg)
}

// createPause waits a random moment before a create on an external
// server; an embedded one has no peers to race with.
func (b *Bus) createPause(ctx context.Context) error {
	if b.Embedded() {
		return nil
	}
	if !clock.Sleep(ctx, jitter(createJitter)) {
		return ctx.Err()
	}
	return nil
}

// jitter is a random duration in [0, d).
func jitter(d time.Duration) time.Duration { return rand.N(d) }

// PublishAsyncTimeout is the deadline of every async publish's ack.
const PublishAsyncTimeout = 30 * time.Second

// Retry runs a JetStream API call with a timeout of its own, again and
// again until it succeeds or ctx ends. On a cluster that is still forming,
// or when several replicas create the same stream at once, a call can go
// unanswered; without a timeout it would wait forever. The first attempts
// are short (an unanswered call is usually answered when asked again) and
// grow to 10s for a slow cluster; the pauses between them are jittered so
// that replicas do not stay in step.
func Retry(ctx context.Context, log *slog.Logger, what string, call func(context.Context) error) error {
	wait := 250 * time.Millisecond
	timeout := 2 * time.Second
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := call(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		log.Warn("jetstream setup failed, retrying", "op", what, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, err)
		case <-time.After(wait/2 + jitter(wait)):
		}
		wait = min(2*wait, 5*time.Second)
		timeout = min(2*timeout, 10*time.Second)
	}
}

// Ready reports whether the connection is up.
func (b *Bus) Ready() bool { return b.NC != nil && b.NC.IsConnected() }

// Embedded reports whether the bus runs an in-process server.
func (b *Bus) Embedded() bool { return b.server != nil }

// Stopping marks the data_dir as about to be released, so that a process
// started meanwhile on it waits instead of failing with ErrDataDirInUse.
// The daemon calls it as soon as it is asked to stop; Close does too.
func (b *Bus) Stopping() {
	if b.lock != nil {
		b.lock.stopping()
	}
}

// Close drains the connection, then stops the embedded server if any and
// releases data_dir.
func (b *Bus) Close() {
	b.Stopping()
	if b.stopWatch != nil {
		close(b.stopWatch)
		b.watching.Wait()
		b.stopWatch = nil
		// A clean shutdown records where every stream ends.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b.checkStreams(ctx, false)
		cancel()
	}
	if b.server != nil && b.NC != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b.forgetEndedPulls(ctx)
		cancel()
	}
	if b.NC != nil {
		closed := make(chan struct{})
		b.NC.SetClosedHandler(func(*nats.Conn) { close(closed) })
		// Drain is asynchronous; wait for it so that in-flight acks land
		// before the server goes away.
		if b.NC.Drain() == nil {
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
			}
		}
		b.NC.Close()
	}
	b.shutdownServer()
}

// forgetEndedPulls has the embedded server drop the pull requests that
// nobody waits on any more (their pull ended, its inbox is gone). It
// keeps them until they expire otherwise, and its shutdown, finding
// them, pauses 50 ms to tell their askers it stops: a quarter of a
// `once` that had nothing to do. The server drops them when it reports
// on the consumer, so Close lists the consumers of every stream that
// has any.
func (b *Bus) forgetEndedPulls(ctx context.Context) {
	// Not fatal: the shutdown may only take a little longer.
	const failed = "list consumers at close; the server may pause its shutdown for pulls it still holds"
	streams := b.JS.ListStreams(ctx)
	var names []string
	for info := range streams.Info() {
		if info.State.Consumers > 0 {
			names = append(names, info.Config.Name)
		}
	}
	if err := streams.Err(); err != nil {
		b.log.Warn(failed, "err", err)
	}
	for _, name := range names {
		s, err := b.JS.Stream(ctx, name)
		if err != nil {
			b.log.Warn(failed, "stream", name, "err", err)
			continue
		}
		cs := s.ListConsumers(ctx)
		for range cs.Info() {
		}
		if err := cs.Err(); err != nil {
			b.log.Warn(failed, "stream", name, "err", err)
		}
	}
}

func (b *Bus) shutdownServer() {
	if b.server != nil {
		b.server.Shutdown()
		b.server.WaitForShutdown()
	}
	if b.lock != nil {
		b.lock.release()
		b.lock = nil
	}
}

// Heartbeat calls beat every period until stop is called; stop returns
// once no beat runs any more.
func Heartbeat(period time.Duration, beat func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				beat()
			}
		}
	}()
	return func() { close(done); <-finished }
}

// Exclusive reports whether this process alone can reach the store: an
// embedded server under the data_dir lock (held on unix systems; without
// one, never exclusive) that listens for no other client. Work that only guards against other processes can be skipped
// then.
func (b *Bus) Exclusive() bool { return b.exclusive }

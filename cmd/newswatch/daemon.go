package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"newswatch/bus"
	"newswatch/classifier"
	"newswatch/config"
	"newswatch/feedback"
	"newswatch/metrics"
	"newswatch/pipeline"
	"newswatch/web"
)

func cmdRun(ctx context.Context, env *cliEnv, args []string) int {
	fs, cfgPath := newFlags(env, "run")
	rolesFlag := fs.String("roles", "scheduler,fetcher,classifier,notifier", "comma-separated `LIST` of the roles this process runs")
	drain := fs.Duration("shutdown-timeout", 30*time.Second, "how long to wait for in-flight work on shutdown")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	roles, err := pipeline.ParseRoles(*rolesFlag)
	if err != nil {
		fmt.Fprintf(env.stderr, "newswatch run: -roles: %v\n", err)
		return exitUsage
	}
	// Catch SIGHUP before anything else: its default action would kill
	// the process while it starts. A reload asked for meanwhile waits.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, ok := loadConfig(env, *cfgPath)
	if !ok {
		return exitFailure
	}
	// No log line holds a secret of the config in force.
	redact := newRedactor(cfg.Secrets())
	log := slog.New(redact.handler(newLogger(env.stderr, cfg.Log).Handler()))
	m := metrics.New()
	m.ConfigLoaded(true)
	b, p, err := open(ctx, cfg, log, m)
	if err != nil {
		if pipeline.EndedBy(ctx, err) {
			// Stopped by the operator before the bus was up.
			log.Info("stopped", "during", "start-up")
			return exitOK
		}
		log.Error("start", "err", err)
		return exitFailure
	}
	// The bus is closed before "stopped" is logged: closing it stops the
	// embedded server, which takes a second or two.
	closeBus := sync.OnceFunc(b.Close)
	defer closeBus()

	// SIGHUP and POST /-/reload share one reloader; reloads never overlap.
	var reloadMu sync.Mutex
	closing := false // set on shutdown: no reload may start subscribers then
	rejected := &rejectedReload{path: *cfgPath}
	doReload := func(rctx context.Context) error {
		reloadMu.Lock()
		defer reloadMu.Unlock()
		if closing {
			return errors.New("shutting down")
		}
		// Whatever part of a reload took effect, its secrets are redacted.
		defer func() { redact.set(p.Config().Secrets()) }()
		// A reload is not cut short by the request that asked for it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(rctx), 2*time.Minute)
		defer cancel()
		err := reload(rctx, *cfgPath, p, roles, log)
		// Subscribers that did not start are said on their own; the
		// config is in force.
		inForce := err == nil || errors.Is(err, pipeline.ErrSubscribersNotStarted)
		m.ConfigLoaded(inForce)
		if inForce {
			rejected.record(nil)
		} else {
			rejected.record(err)
		}
		return err
	}
	srv, err := startHTTP(cfg, b, p, m, log, doReload, rejected.faults)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			log.Error("http listener", "addr", cfg.HTTP.Listen, "err", err,
				"hint", "another process listens there (another newswatch?): stop it, or give http.listen a free address, e.g. 127.0.0.1:8081")
			return exitFailure
		}
		log.Error("http listener", "addr", cfg.HTTP.Listen, "err", err)
		return exitFailure
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = doReload(ctx)
			}
		}
	}()

	log.Info("newswatch running", "version", version, "sources", len(cfg.Sources), "topics", len(cfg.Topics),
		"subscribers", len(cfg.Subscribers), "nats", natsDesc(cfg), "http", cfg.HTTP.Listen)
	if len(cfg.Subscribers) == 0 {
		// A first run has none: say where its alerts can be seen.
		log.Info("no subscribers: alerts are on the status page and the bus only", "subject", cfg.NATS.SubjectPrefix+".alerts.>",
			"hint", "add a webhook or email subscriber under subscribers: and reload")
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, roles) }()
	// No reload may start subscribers while they are being stopped.
	stopReloads := func() {
		reloadMu.Lock()
		closing = true
		reloadMu.Unlock()
	}
	select {
	case err = <-done:
		stopReloads()
	case <-ctx.Done():
		log.Info("shutting down: finishing work in flight")
		b.Stopping() // a newswatch started now waits for data_dir
		stopReloads()
		select {
		case err = <-done:
		case <-time.After(*drain):
			log.Warn("shutdown timeout: unfinished work is handed back to the bus", "timeout", *drain)
		}
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	if err != nil {
		log.Error("pipeline", "err", err)
		return exitFailure
	}
	closeBus()
	log.Info("stopped")
	return exitOK
}

func natsDesc(cfg *config.Config) string {
	if cfg.NATS.URL == "" {
		return "embedded (" + cfg.DataDir + ")"
	}
	return "external"
}

func open(ctx context.Context, cfg *config.Config, log *slog.Logger, m *metrics.Metrics) (*bus.Bus, *pipeline.Pipeline, error) {
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, err := bus.Open(octx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	p, err := pipeline.New(cfg, b, log, m)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return b, p, nil
}

func startHTTP(cfg *config.Config, b *bus.Bus, p *pipeline.Pipeline, m *metrics.Metrics, log *slog.Logger, reload web.Reloader, more func() []web.Fault) (*web.Server, error) {
	if cfg.HTTP.Listen == "" {
		return nil, nil
	}
	web.RegisterBacklog(m, p)
	m.RegisterFaults(func() metrics.FaultCounts {
		c := b.Health.Counts()
		return metrics.FaultCounts{StoreErrors: c.StoreErrors, Lost: c.Lost, Remade: c.Remade, Faults: c.Faults}
	})
	opts := []web.Option{
		web.WithStatus(web.NewPipelineBackend(b, p)),
		// Store faults, and subscribers without a consumer to pull
		// from, fail /readyz while they last; data found lost is named
		// there but does not: it cannot come back, and a replica that
		// works must not be taken out of service for it.
		// A rejected reload is named too, never failed for.
		web.WithFaults(func() []web.Fault { return append(webFaults(b.Health.Faults()), more()...) }),
		web.WithPreview(web.NewPreviewer(web.BusArchive(b), func() []config.Topic { return p.Config().Topics })),
		web.WithReload(reload),
		web.WithAuth(func() config.HTTPAuth { return p.Config().HTTP.Auth }),
		web.WithPages(p.Trends().Routes()),
		web.WithPages(enableRoutes(b, func() []config.Subscriber { return p.Config().Subscribers })),
		web.WithPages(replayRoutes(b, p.Subscribers(), p.Config, log)),
	}
	if prefix, h := p.WebSub(); h != nil {
		opts = append(opts, web.WithOpen(prefix, h))
	}
	if h := p.FeedbackHandler(); h != nil {
		// Signed links, opened from mail clients without a login.
		opts = append(opts, web.WithOpen(feedback.Path, h))
	}
	srv := web.New(m, func(ctx context.Context) error {
		if !b.Ready() {
			return errors.New("nats not connected")
		}
		if _, err := b.StreamState(ctx, b.Names.AlertStream); err != nil {
			return fmt.Errorf("alert stream: %w", err)
		}
		return nil
	}, log, opts...)
	addr, err := srv.Start(cfg.HTTP.Listen)
	if err != nil {
		return nil, err
	}
	auth := cfg.HTTP.Auth.BearerToken != "" || cfg.HTTP.Auth.Basic.Username != ""
	if !auth && !web.Loopback(addr) {
		if !cfg.HTTP.InsecureNoAuth {
			// The config check refuses this already; a name that
			// resolved to another interface is caught here.
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(sctx)
			cancel()
			return nil, fmt.Errorf("%s answers other hosts without auth: set http.auth, listen on 127.0.0.1, or set http.insecure_no_auth: true", addr)
		}
		log.Warn("the status page, API and POST /-/reload answer other hosts without auth (http.insecure_no_auth)", "addr", addr.String())
	}
	log.Info("http listening", "addr", addr.String(), "auth", auth)
	return srv, nil
}

func webFaults(fs []bus.Fault) []web.Fault {
	out := make([]web.Fault, len(fs))
	for i, f := range fs {
		out[i] = web.Fault{Key: f.Key, Kind: f.Kind, Detail: f.Detail, Blocking: bus.BlockingKind(f.Kind),
			Since: f.Since, Last: f.Last, Count: f.Count}
	}
	return out
}

// reload puts the config file in force again (SIGHUP, POST /-/reload); a
// config with problems is rejected, and the old one keeps running.
func reload(ctx context.Context, path string, p *pipeline.Pipeline, roles pipeline.Roles, log *slog.Logger) error {
	cfg, err := config.Load(path)
	if err == nil {
		_, err = classifier.New(cfg.Topics)
	}
	if err != nil {
		log.Error("reload rejected; the old config keeps running", "config", path, "err", err)
		return err
	}
	if cfg.HTTP.Listen != p.Config().HTTP.Listen {
		log.Warn("http.listen changed: the new address takes effect at the next restart", "addr", p.Config().HTTP.Listen)
	}
	if err := p.Reload(ctx, cfg, roles.Notifier); err != nil {
		if errors.Is(err, pipeline.ErrSubscribersNotStarted) {
			log.Error("config reloaded, but some subscribers did not start", "err", err)
		} else {
			log.Error("reload rejected; the old config keeps running", "config", path, "err", err)
		}
		return err
	}
	log.Info("config reloaded", "sources", len(cfg.Sources), "topics", len(cfg.Topics), "subscribers", len(cfg.Subscribers))
	return nil
}

func cmdOnce(ctx context.Context, env *cliEnv, args []string) int {
	fs, cfgPath := newFlags(env, "once")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for fetches and deliveries")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, ok := loadConfig(env, *cfgPath)
	if !ok {
		return exitFailure
	}
	redact := newRedactor(cfg.Secrets())
	log := slog.New(redact.handler(newLogger(env.stderr, cfg.Log).Handler()))
	b, p, err := open(ctx, cfg, log, nil)
	if err != nil {
		log.Error("start", "err", err)
		return exitFailure
	}
	defer b.Close()
	sum, err := p.Once(ctx, *timeout)
	failed := make([]web.Source, 0, len(sum.Failures))
	for _, f := range sum.Failures {
		fmt.Fprintf(env.stderr, "source %s: %s\n", f.Source, redact.scrub(f.Err.Error()))
		failed = append(failed, web.Source{ID: f.Source, Status: "error", Problem: web.Problem(f.Err.Error(), 0, 1)})
	}
	if note := sameProblemNote(failed); note != "" && sum.SourcesOK == 0 {
		fmt.Fprintln(env.stderr, note)
	}
	fmt.Fprintln(env.stdout, sum.String())
	if err != nil {
		log.Error("once", "err", err)
		return exitFailure
	}
	if sum.TimedOut {
		fmt.Fprintf(env.stderr, "newswatch once: timed out after %s\n", *timeout)
	}
	// What the daemon would show on /readyz and its status page (a store
	// fault, data lost, a subscriber without a consumer): a cron user
	// reads only this output.
	faults := onceFaults(sum.Faults, b.Health.Faults())
	for _, f := range faults {
		fmt.Fprintf(env.stderr, "newswatch once: problem: %s: %s\n", f.Key, redact.scrub(f.Detail))
	}
	if n := sum.DeadLettered; n > 0 {
		what := "deliveries"
		if n == 1 {
			what = "delivery"
		}
		fmt.Fprintf(env.stderr, "newswatch once: %d %s gave up: newswatch deadletters list -config %s says why; replay sends again\n", n, what, *cfgPath)
	}
	if !sum.OK() || slices.ContainsFunc(faults, func(f bus.Fault) bool { return bus.BlockingKind(f.Kind) }) {
		return exitFailure
	}
	return exitOK
}

// onceFaults are the faults of a pass: those in force when its
// deliveries ended (a subscriber's consumer.error is cleared when the
// pass stops it) and those in force now, the later of each key.
func onceFaults(atEnd, now []bus.Fault) []bus.Fault {
	out := slices.Clone(atEnd)
	for _, f := range now {
		if i := slices.IndexFunc(out, func(g bus.Fault) bool { return g.Key == f.Key }); i >= 0 {
			out[i] = f
			continue
		}
		out = append(out, f)
	}
	return out
}

func cmdCheck(ctx context.Context, env *cliEnv, args []string) int {
	fs, cfgPath := newFlags(env, "check")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, err := config.Load(*cfgPath)
	var probs config.Problems
	if err != nil && !errors.As(err, &probs) {
		fmt.Fprintf(env.stderr, "newswatch: %v\n", err)
		return exitFailure
	}
	if cfg != nil {
		probs = append(probs, cfg.Redact(topicProblems(cfg))...)
	}
	if len(probs) > 0 {
		printProblems(env.stdout, *cfgPath, probs)
		return exitFailure
	}
	fmt.Fprintf(env.stdout, "%s: ok (%s, %s, %s)\n", *cfgPath, count(len(cfg.Sources), "source"), count(len(cfg.Topics), "topic"), count(len(cfg.Subscribers), "subscriber"))
	// Valid, but a monitor of nothing: say what is missing.
	if len(cfg.Sources) == 0 {
		fmt.Fprintln(env.stdout, "note: no sources, so nothing is fetched: add feeds or pages under sources:")
	}
	if len(cfg.Topics) == 0 {
		fmt.Fprintln(env.stdout, "note: no topics, so nothing alerts: add queries under topics:")
	}
	return exitOK
}

// topicProblems compiles the topics and locates each query error.
func topicProblems(cfg *config.Config) config.Problems {
	_, err := classifier.New(cfg.Topics)
	if err == nil {
		return nil
	}
	var ps config.Problems
	for _, e := range classifier.Errors(err) {
		var pe *classifier.ParseError
		if errors.As(e, &pe) {
			for i, t := range cfg.Topics {
				if t.ID == pe.Topic {
					ps = append(ps, queryProblem(cfg, i, pe))
				}
			}
			continue
		}
		ps = append(ps, config.Problem{Msg: e.Error()})
	}
	return ps
}

// Package web serves newswatch's operator endpoints: /healthz (the process
// is alive), /readyz (it can work), /metrics (Prometheus), the status page
// at / with its JSON API under /api/, and POST /-/reload.
//
// The page and the API read a Backend, a small interface the daemon
// satisfies with the bus and the pipeline (see NewPipelineBackend). No
// secret is ever served: the backend leaves them out, and every response
// but /metrics is scrubbed of the config's secrets before it is sent.
// Optional basic auth or a bearer token (http.auth) guards everything but
// /healthz.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"newswatch/config"
	"newswatch/metrics"
	"newswatch/pipeline"
)

// Readiness answers /readyz: nil when the process can do its work.
type Readiness func(ctx context.Context) error

// Server is the operator HTTP listener.
type Server struct {
	mux     *http.ServeMux
	srv     *http.Server
	log     *slog.Logger
	auth    func() config.HTTPAuth
	open    []string // path prefixes served without auth
	secrets func() []string
	faults  func() []Fault // nil: no fault source
	own     []string       // patterns of the routes the server answers itself
	// sources reads the sources' states for /readyz's warning that every
	// one fails; nil without a status backend.
	sources func(ctx context.Context) ([]Source, error)

	patternsMu sync.Mutex
	patterns   []string // every route registered, for the API index
}

// handle registers a route on the mux; every registration comes here, so
// that the API index (GET /api) lists what is really served.
func (s *Server) handle(pattern string, h http.Handler) {
	s.patternsMu.Lock()
	s.patterns = append(s.patterns, pattern)
	s.patternsMu.Unlock()
	s.mux.Handle(pattern, h)
}

// route serves one of the server's own routes; config refuses a WebSub
// callback under any of them (config.ReservedWebPath).
func (s *Server) route(pattern string, h http.Handler) {
	s.own = append(s.own, pattern)
	s.handle(pattern, h)
}

// Option configures a Server.
type Option func(*Server)

// WithAuth guards every endpoint but /healthz with the auth settings auth
// returns; it is called on every request, so a reload takes effect at once.
func WithAuth(auth func() config.HTTPAuth) Option { return func(s *Server) { s.auth = auth } }

// WithOpen serves h under the path prefix without http.auth: for
// endpoints that authenticate requests themselves (WebSub callbacks carry
// the hub's signature).
func WithOpen(prefix string, h http.Handler) Option {
	return func(s *Server) {
		s.open = append(s.open, prefix)
		s.handle(prefix, h)
	}
}

// WithStatus serves the status page at / and the JSON API under /api/
// from b.
func WithStatus(b Backend) Option {
	return func(s *Server) {
		s.secrets = b.Secrets
		s.sources = b.Sources
		st := &status{b: b, log: s.log, faults: func() []Fault {
			if s.faults == nil { // WithFaults may come later, or not at all
				return nil
			}
			return s.faults()
		}}
		s.route("GET /{$}", scrubbing(s.secrets, http.HandlerFunc(st.page)))
		for path, h := range map[string]http.HandlerFunc{
			"/api/sources":     st.apiSources,
			"/api/topics":      st.apiTopics,
			"/api/subscribers": st.apiSubscribers,
			"/api/alerts":      st.apiAlerts,
			"/api/deadletters": st.apiDeadLetters,
			"/api/feedback":    st.apiFeedback,
		} {
			s.route("GET "+path, scrubbing(s.secrets, h))
		}
	}
}

// WithPages serves more read-only routes (pattern → handler), such as
// the topic trends, scrubbed of secrets like the status page.
func WithPages(routes map[string]http.Handler) Option {
	return func(s *Server) {
		for pattern, h := range routes {
			s.handle(pattern, scrubbing(s.secretList, h))
		}
	}
}

// Reloader puts a changed config file in force; its error says why a new
// config was rejected (the old one then keeps running).
type Reloader func(ctx context.Context) error

// WithReload serves POST /-/reload, which does what SIGHUP does.
func WithReload(reload Reloader) Option {
	return func(s *Server) {
		s.route("POST /-/reload", scrubbing(func() []string { return s.secretList() }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
			defer cancel()
			if err := reload(ctx); err != nil {
				if errors.Is(err, pipeline.ErrSubscribersNotStarted) {
					// In force all the same: saying it was rejected would
					// send the operator after the wrong fault.
					w.WriteHeader(http.StatusInternalServerError)
					_, _ = w.Write([]byte("reloaded, but some subscribers did not start:\n" + err.Error() + "\n"))
					return
				}
				w.WriteHeader(http.StatusUnprocessableEntity)
				_, _ = w.Write([]byte("reload rejected; the old config keeps running:\n" + err.Error() + "\n"))
				return
			}
			_, _ = w.Write([]byte("reloaded\n"))
		})))
	}
}

func (s *Server) secretList() []string {
	if s.secrets == nil {
		return nil
	}
	return s.secrets()
}

// New builds the handler set; ready may be nil (always ready).
func New(m *metrics.Metrics, ready Readiness, log *slog.Logger, opts ...Option) *Server {
	mux := http.NewServeMux()
	s := &Server{mux: mux, log: log}
	s.route("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	}))
	s.route("GET /readyz", scrubbing(s.secretList, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if ready != nil {
			if err := ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
				return
			}
		}
		var notes []string
		if s.faults != nil {
			var blocking string
			if blocking, notes = readyFaults(s.faults()); blocking != "" {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: " + blocking + "\n"))
				return
			}
		}
		// Every source failing is said, never failed for: states that
		// cannot be read leave the answer as it was.
		if s.sources != nil {
			if srcs, err := s.sources(ctx); err == nil {
				if f, ok := sourcesFault(srcs); ok {
					notes = append(notes, "warning: "+faultLine(f))
				}
			}
		}
		_, _ = w.Write([]byte("ready\n"))
		for _, n := range notes {
			_, _ = w.Write([]byte(n + "\n"))
		}
	})))
	// An index of the API at its root, under the same auth as the rest.
	s.route("GET /api", scrubbing(s.secretList, http.HandlerFunc(s.serveAPIIndex)))
	s.route("GET /api/{$}", scrubbing(s.secretList, http.HandlerFunc(s.serveAPIIndex)))
	if m != nil {
		s.route("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Handle adds a handler (the status page and API register here).
func (s *Server) Handle(pattern string, h http.Handler) { s.handle(pattern, h) }

// Handler is the complete handler, auth included.
func (s *Server) Handler() http.Handler { return requireAuth(s.auth, s.open, s.mux) }

// Start listens on addr and serves in the background; it returns the
// bound address (useful with port 0).
func (s *Server) Start(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "err", err)
		}
	}()
	return ln.Addr(), nil
}

// Shutdown stops the listener, letting requests in flight finish.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}

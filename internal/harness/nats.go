package harness

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// StartNATS runs a NATS server with JetStream for the test: on loopback,
// storing in opts.StoreDir (a temporary directory when empty), on
// opts.Port (any free one when 0 or -1), stopped when the test ends.
// Other options are the caller's (accounts, authorization).
func StartNATS(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	o := *opts
	o.Host, o.JetStream, o.NoLog, o.NoSigs = "127.0.0.1", true, true, true
	if o.Port == 0 {
		o.Port = -1
	}
	if o.StoreDir == "" {
		o.StoreDir = t.TempDir()
	}
	s, err := server.NewServer(&o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

package bus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"newswatch/config"
	"newswatch/internal/harness"
)

// startServer runs a JetStream server on loopback configured by opts.
func startServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	return harness.StartNATS(t, opts)
}

func externalConfig(t *testing.T, url string, nats func(*config.NATS)) *config.Config {
	t.Helper()
	cfg := testConfig(t)
	cfg.NATS.URL = url
	nats(&cfg.NATS)
	return cfg
}

func open(t *testing.T, cfg *config.Config) (*Bus, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Cleanup(b.Close)
	}
	return b, err
}

func TestOpenAuthenticates(t *testing.T) {
	dir := t.TempDir()
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	seedFile := filepath.Join(dir, "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	otherFile := filepath.Join(dir, "other.nk")
	if err := os.WriteFile(otherFile, otherSeed, 0o600); err != nil {
		t.Fatal(err)
	}

	pwServer := startServer(t, &server.Options{Username: "newswatch", Password: "s3cret-pw"})
	tokenServer := startServer(t, &server.Options{Authorization: "s3cret-token"})
	nkeyServer := startServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})

	for _, tc := range []struct {
		name   string
		srv    *server.Server
		set    func(*config.NATS)
		wantOK bool
	}{
		{"password", pwServer, func(n *config.NATS) { n.User, n.Password = "newswatch", "s3cret-pw" }, true},
		{"wrong password", pwServer, func(n *config.NATS) { n.User, n.Password = "newswatch", "wrong-pw" }, false},
		{"no password", pwServer, func(n *config.NATS) {}, false},
		{"token", tokenServer, func(n *config.NATS) { n.Token = "s3cret-token" }, true},
		{"wrong token", tokenServer, func(n *config.NATS) { n.Token = "wrong-token" }, false},
		{"nkey", nkeyServer, func(n *config.NATS) { n.NKeySeedFile = seedFile }, true},
		{"other nkey", nkeyServer, func(n *config.NATS) { n.NKeySeedFile = otherFile }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := open(t, externalConfig(t, tc.srv.ClientURL(), tc.set))
			if !tc.wantOK {
				if err == nil {
					t.Fatal("connected with wrong or missing credentials")
				}
				for _, secret := range []string{"wrong-pw", "wrong-token", string(otherSeed)} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error reveals a secret: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if _, err := b.JS.Stream(context.Background(), b.Names.AlertStream); err != nil {
				t.Errorf("alert stream: %v", err)
			}
		})
	}
}

func TestOpenMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCA(t)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.Raw)
	issue(t, dir, "server", ca, caKey, x509.ExtKeyUsageServerAuth)
	issue(t, dir, "client", ca, caKey, x509.ExtKeyUsageClientAuth)
	otherCA, otherKey := newCA(t)
	issue(t, dir, "stranger", otherCA, otherKey, x509.ExtKeyUsageClientAuth)

	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: filepath.Join(dir, "server.pem"),
		KeyFile:  filepath.Join(dir, "server-key.pem"),
		CaFile:   filepath.Join(dir, "ca.pem"),
		Verify:   true,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, &server.Options{TLSConfig: tc, TLS: true, TLSVerify: true, TLSTimeout: 5})
	url := strings.Replace(srv.ClientURL(), "nats://", "tls://", 1)

	b, err := open(t, externalConfig(t, url, func(n *config.NATS) {
		n.TLS = config.NATSTLS{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "client.pem"), Key: filepath.Join(dir, "client-key.pem")}
	}))
	if err != nil {
		t.Fatalf("open over mutual TLS: %v", err)
	}
	if _, err := b.JS.Stream(context.Background(), b.Names.AlertStream); err != nil {
		t.Errorf("alert stream: %v", err)
	}
	if st, err := b.NC.TLSConnectionState(); err != nil || !st.HandshakeComplete {
		t.Errorf("connection is not TLS: %v", err)
	}

	for name, n := range map[string]config.NATSTLS{
		"no client cert":    {CA: filepath.Join(dir, "ca.pem")},
		"untrusted client":  {CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "stranger.pem"), Key: filepath.Join(dir, "stranger-key.pem")},
		"server not in CAs": {CA: filepath.Join(dir, "stranger.pem"), Cert: filepath.Join(dir, "client.pem"), Key: filepath.Join(dir, "client-key.pem")},
	} {
		if _, err := open(t, externalConfig(t, url, func(c *config.NATS) { c.TLS = n })); err == nil {
			t.Errorf("%s: connected", name)
		}
	}
}

func TestOpenMemoryStorage(t *testing.T) {
	cfg := testConfig(t)
	cfg.NATS.Storage = "memory"
	b, err := open(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{b.Names.FetchStream, b.Names.ArticleStream, b.Names.AlertStream, b.Names.DeadStream} {
		s, err := b.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if st := s.CachedInfo().Config.Storage; st != jetstream.MemoryStorage {
			t.Errorf("stream %s storage = %v, want memory", name, st)
		}
	}
	st, err := b.Seen.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if si := st.(*jetstream.KeyValueBucketStatus).StreamInfo(); si.Config.Storage != jetstream.MemoryStorage {
		t.Errorf("seen bucket storage = %v, want memory", si.Config.Storage)
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "newswatch test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// issue writes <name>.pem and <name>-key.pem, signed by ca, valid for
// 127.0.0.1.
func issue(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, name+"-key.pem"), "EC PRIVATE KEY", kder)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

package bus

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"newswatch/config"
)

// TestOpenWithCredentialsFile runs a server in operator (decentralised
// JWT) mode and connects with a user's .creds file.
func TestOpenWithCredentialsFile(t *testing.T) {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, _ := okp.PublicKey()
	ojwt, err := jwt.NewOperatorClaims(opub).Encode(okp)
	must(err)
	oc, err := jwt.DecodeOperatorClaims(ojwt)
	must(err)

	resolver := &server.MemAccResolver{}
	account := func(js bool) (nkeys.KeyPair, string) {
		akp, err := nkeys.CreateAccount()
		must(err)
		apub, _ := akp.PublicKey()
		ac := jwt.NewAccountClaims(apub)
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		ajwt, err := ac.Encode(okp)
		must(err)
		must(resolver.Store(apub, ajwt))
		return akp, apub
	}
	_, sysPub := account(false)
	akp, _ := account(true)

	creds := func(name string, signer nkeys.KeyPair) string {
		ukp, err := nkeys.CreateUser()
		must(err)
		upub, _ := ukp.PublicKey()
		ujwt, err := jwt.NewUserClaims(upub).Encode(signer)
		must(err)
		seed, _ := ukp.Seed()
		data, err := jwt.FormatUserConfig(ujwt, seed)
		must(err)
		path := filepath.Join(t.TempDir(), name+".creds")
		must(os.WriteFile(path, data, 0o600))
		return path
	}
	good := creds("newswatch", akp)
	strangerAccount, err := nkeys.CreateAccount() // not known to the server
	must(err)
	bad := creds("stranger", strangerAccount)

	srv := startServer(t, &server.Options{
		TrustedOperators: []*jwt.OperatorClaims{oc},
		AccountResolver:  resolver,
		SystemAccount:    sysPub,
	})

	b, err := open(t, externalConfig(t, srv.ClientURL(), func(n *config.NATS) { n.CredentialsFile = good }))
	if err != nil {
		t.Fatalf("open with credentials file: %v", err)
	}
	if _, err := b.JS.Stream(context.Background(), b.Names.AlertStream); err != nil {
		t.Errorf("alert stream: %v", err)
	}
	if _, err := open(t, externalConfig(t, srv.ClientURL(), func(n *config.NATS) { n.CredentialsFile = bad })); err == nil {
		t.Error("connected with the credentials of an unknown account")
	}
	if _, err := open(t, externalConfig(t, srv.ClientURL(), func(n *config.NATS) {})); err == nil {
		t.Error("connected without credentials")
	}
}

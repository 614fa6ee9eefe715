package bus

import (
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"newswatch/config"
)

// accessOptions turns nats.* authentication and TLS settings into
// connection options. Errors name the setting, never a secret.
func accessOptions(n config.NATS) ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case n.CredentialsFile != "":
		opts = append(opts, nats.UserCredentials(n.CredentialsFile))
	case n.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(n.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nats.nkey_seed_file: %w", err)
		}
		opts = append(opts, o)
	case n.User != "":
		opts = append(opts, nats.UserInfo(n.User, n.Password))
	case n.Token != "":
		opts = append(opts, nats.Token(n.Token))
	}
	if n.TLS.CA != "" {
		opts = append(opts, nats.RootCAs(n.TLS.CA))
	}
	if n.TLS.Cert != "" || n.TLS.Key != "" {
		opts = append(opts, nats.ClientCert(n.TLS.Cert, n.TLS.Key))
	}
	return opts, nil
}

// storageType is the JetStream storage of nats.storage.
func storageType(n config.NATS) jetstream.StorageType {
	if n.Storage == "memory" {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

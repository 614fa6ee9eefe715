package harness

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is a JetStream cluster of embedded NATS servers on loopback.
type Cluster struct {
	Nodes []*server.Server
}

// StartCluster starts n nodes storing under dir, each routing to every
// other so that the cluster survives the loss of any one node, and waits
// until they elected a JetStream meta leader.
func StartCluster(n int, dir string) (*Cluster, error) {
	// Route ports are picked by listening and closing, so another
	// process can take one before the node binds it; that node then
	// never gets ready. A fresh set of ports settles it.
	var err error
	for attempt := range 3 {
		var c *Cluster
		if c, err = startCluster(n, filepath.Join(dir, fmt.Sprintf("try%d", attempt))); err == nil {
			return c, nil
		}
	}
	return nil, err
}

func startCluster(n int, dir string) (*Cluster, error) {
	// A clustered JetStream server needs its routes configured up front,
	// so the route ports are picked first.
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cluster: pick a route port: %w", err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[i])
	}
	c := &Cluster{}
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("n%d", i)),
			NoLog:      true,
			NoSigs:     true,
			Cluster: server.ClusterOpts{
				Name: "newswatch-test",
				Host: "127.0.0.1",
				Port: ports[i],
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(opts)
		if err != nil {
			c.Shutdown()
			return nil, fmt.Errorf("cluster: node %d: %w", i, err)
		}
		go s.Start()
		c.Nodes = append(c.Nodes, s)
	}
	for i, s := range c.Nodes {
		if !s.ReadyForConnections(20 * time.Second) {
			c.Shutdown()
			return nil, fmt.Errorf("cluster: node %d not ready after 20s", i)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for !c.formed() {
		if time.Now().After(deadline) {
			c.Shutdown()
			return nil, errors.New("cluster: no routes or no JetStream meta leader after 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c, nil
}

func (c *Cluster) formed() bool {
	for _, s := range c.Nodes {
		if s.NumRoutes() < len(c.Nodes)-1 {
			return false
		}
	}
	for _, s := range c.Nodes {
		if s.JetStreamIsLeader() {
			return true
		}
	}
	return false
}

// URL lists every node's client URL, as nats.url takes them.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		urls[i] = s.ClientURL()
	}
	return strings.Join(urls, ",")
}

// Node returns the server named name, or nil.
func (c *Cluster) Node(name string) *server.Server {
	for _, s := range c.Nodes {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

// Shutdown stops every node that still runs.
func (c *Cluster) Shutdown() {
	for _, s := range c.Nodes {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

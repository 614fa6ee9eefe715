package deploy

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"
)

// The subset of the Compose file format that deploy/compose.yaml uses;
// decoding is strict, so a misspelt key is an error.
type composeFile struct {
	Name       string                    `yaml:"name"`
	Services   map[string]composeService `yaml:"services"`
	Volumes    map[string]*struct{}      `yaml:"volumes"`
	Extensions map[string]any            `yaml:",inline"` // x-* keys
}

type composeService struct {
	Image    string `yaml:"image"`
	Hostname string `yaml:"hostname"`
	Build    *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Restart     string            `yaml:"restart"`
	ReadOnly    bool              `yaml:"read_only"`
	Tmpfs       []string          `yaml:"tmpfs"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test        []string `yaml:"test"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
	} `yaml:"healthcheck"`
	Ports   []string `yaml:"ports"`
	Volumes []string `yaml:"volumes"`
}

// mount is one "source:target[:mode]" volume entry.
type mount struct{ source, target string }

func (s composeService) mounts() []mount {
	var ms []mount
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 {
			ms = append(ms, mount{parts[0], parts[1]})
		}
	}
	return ms
}

// mountFor returns the mount whose target holds path.
func (s composeService) mountFor(path string) (mount, bool) {
	best, found := mount{}, false
	for _, m := range s.mounts() {
		if (path == m.target || strings.HasPrefix(path, strings.TrimSuffix(m.target, "/")+"/")) && len(m.target) >= len(best.target) {
			best, found = m, true
		}
	}
	return best, found
}

var composeVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-([^}]*))?\}`)

// interpolate resolves Compose ${VAR:-default} with an empty host
// environment, as a fresh checkout would run it.
func interpolate(s string) string {
	return composeVar.ReplaceAllString(s, "$3")
}

func loadCompose(dir string) (*composeFile, problems) {
	var ps problems
	data, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		ps.addf("%v", err)
		return nil, ps
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cf composeFile
	if err := dec.Decode(&cf); err != nil {
		ps.addf("compose.yaml: %v", err)
		return nil, ps
	}
	return &cf, ps
}

// natsNode is a NATS service of the compose file with its parsed config.
type natsNode struct {
	service string
	opts    *server.Options
}

// checkCompose checks the compose file in dir: three NATS nodes forming a
// JetStream cluster, two newswatch replicas on it with a valid config, and
// a mail catcher that the config mails to.
func checkCompose(dir string) problems {
	cf, ps := loadCompose(dir)
	if cf == nil {
		return ps
	}
	for k := range cf.Extensions {
		if !strings.HasPrefix(k, "x-") {
			ps.addf("compose.yaml: unknown top-level key %q", k)
		}
	}
	names := slices.Sorted(maps.Keys(cf.Services))

	var nats []natsNode
	var newswatch, mailpit []string
	for _, name := range names {
		s := cf.Services[name]
		if s.Image == "" {
			ps.addf("service %s has no image", name)
		}
		for dep := range s.DependsOn {
			if _, ok := cf.Services[dep]; !ok {
				ps.addf("service %s depends on unknown service %s", name, dep)
			}
		}
		for _, m := range s.mounts() {
			if strings.HasPrefix(m.source, ".") || strings.HasPrefix(m.source, "/") {
				if _, err := os.Stat(filepath.Join(dir, m.source)); err != nil {
					ps.addf("service %s mounts %s, which does not exist", name, m.source)
				}
			} else if _, ok := cf.Volumes[m.source]; !ok {
				ps.addf("service %s uses volume %s, not declared under volumes", name, m.source)
			}
		}
		if s.Hostname != "" && s.Hostname != name {
			ps.addf("service %s has hostname %s; routes and URLs use the service name", name, s.Hostname)
		}
		switch imageRepo(s.Image) {
		case "nats":
			if opts := checkNATSService(dir, name, s, &ps); opts != nil {
				nats = append(nats, natsNode{name, opts})
			}
		case "newswatch":
			newswatch = append(newswatch, name)
		case "mailpit":
			mailpit = append(mailpit, name)
		}
		if t := imageTag(s.Image); t == "" || t == "latest" {
			ps.addf("service %s: image %q is not pinned by tag", name, s.Image)
		}
	}

	// The NATS cluster: three JetStream nodes, each routing to the others.
	if len(nats) != 3 {
		ps.addf("want 3 NATS nodes, got %d", len(nats))
	}
	serverNames := map[string]bool{}
	for _, n := range nats {
		o := n.opts
		if serverNames[o.ServerName] {
			ps.addf("nats %s: server_name %q is not unique", n.service, o.ServerName)
		}
		serverNames[o.ServerName] = true
		if o.Cluster.Name == "" || o.Cluster.Name != nats[0].opts.Cluster.Name {
			ps.addf("nats %s: cluster name %q differs from %q", n.service, o.Cluster.Name, nats[0].opts.Cluster.Name)
		}
		for _, peer := range nats {
			if peer.service == n.service {
				continue
			}
			routed := false
			for _, r := range o.Routes {
				if r.Hostname() == peer.service && r.Port() == strconv.Itoa(peer.opts.Cluster.Port) {
					routed = true
				}
			}
			if !routed {
				ps.addf("nats %s: no cluster route to %s:%d", n.service, peer.service, peer.opts.Cluster.Port)
			}
		}
	}

	if len(mailpit) != 1 {
		ps.addf("want 1 mail catcher (axllent/mailpit), got %d", len(mailpit))
	}
	if len(newswatch) != 2 {
		ps.addf("want 2 newswatch replicas, got %d", len(newswatch))
	}
	hostPorts := map[string]string{}
	for _, name := range newswatch {
		s := cf.Services[name]
		for _, n := range nats {
			if _, ok := s.DependsOn[n.service]; !ok {
				ps.addf("newswatch %s does not depend on %s", name, n.service)
			}
		}
		published := false
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if parts[len(parts)-1] == "8080" {
				published = true
				if len(parts) > 1 {
					if other, dup := hostPorts[parts[len(parts)-2]]; dup {
						ps.addf("newswatch %s and %s publish the same host port", other, name)
					}
					hostPorts[parts[len(parts)-2]] = name
				}
			}
		}
		if !published {
			ps.addf("newswatch %s does not publish container port 8080", name)
		}
		cfgPath := runArgs(s.Command, &ps, "newswatch "+name)
		if cfgPath == "" {
			continue
		}
		m, ok := s.mountFor(cfgPath)
		if !ok {
			ps.addf("newswatch %s: nothing mounted at %s", name, cfgPath)
			continue
		}
		src := filepath.Join(dir, m.source, strings.TrimPrefix(cfgPath, m.target))
		data, err := os.ReadFile(src)
		if err != nil {
			ps.addf("newswatch %s: config: %v", name, err)
			continue
		}
		env := map[string]string{}
		for k, v := range s.Environment {
			env[k] = interpolate(v)
		}
		c, err := parseConfig(data, env)
		if err != nil {
			ps.addf("newswatch %s: %s does not validate:\n%v", name, m.source, err)
			continue
		}
		checkContainerConfig(c, &ps, "newswatch "+name)
		if s.ReadOnly {
			if _, ok := s.mountFor(c.DataDir); !ok {
				ps.addf("newswatch %s: read-only container with no volume at data_dir %s", name, c.DataDir)
			}
		}

		// nats.url names every node at its client port.
		servers := map[string]bool{}
		for _, u := range strings.Split(c.NATS.URL, ",") {
			servers[strings.TrimPrefix(strings.TrimSpace(u), "nats://")] = true
		}
		for _, n := range nats {
			if !servers[n.service+":"+strconv.Itoa(n.opts.Port)] {
				ps.addf("newswatch %s: nats.url %q lacks %s:%d", name, c.NATS.URL, n.service, n.opts.Port)
			}
		}

		if c.NATS.Replicas != len(nats) {
			ps.addf("newswatch %s: nats.replicas %d, want one copy per node (%d)", name, c.NATS.Replicas, len(nats))
		}

		// Mail goes to the catcher's SMTP port.
		email := false
		for _, sub := range c.Subscribers {
			email = email || sub.Type == "email"
		}
		if !email {
			ps.addf("newswatch %s: config has no email subscriber", name)
		}
		if len(mailpit) == 1 && (c.SMTP.Host != mailpit[0] || c.SMTP.Port != 1025 || c.SMTP.TLS != "none") {
			ps.addf("newswatch %s: smtp %s:%d tls %s is not the mail catcher (%s:1025, tls none)", name, c.SMTP.Host, c.SMTP.Port, c.SMTP.TLS, mailpit[0])
		}
	}
	return ps
}

// checkNATSService validates a NATS node's config with the server's own
// parser and checks JetStream stores on a volume.
func checkNATSService(dir, name string, s composeService, ps *problems) *server.Options {
	confPath := ""
	for i, a := range s.Command {
		if (a == "--config" || a == "-c") && i+1 < len(s.Command) {
			confPath = s.Command[i+1]
		}
	}
	if confPath == "" {
		ps.addf("nats %s: command %q has no --config", name, s.Command)
		return nil
	}
	m, ok := s.mountFor(confPath)
	if !ok || !strings.HasSuffix(m.source, ".conf") {
		ps.addf("nats %s: no config file mounted at %s", name, confPath)
		return nil
	}
	opts, err := server.ProcessConfigFile(filepath.Join(dir, m.source))
	if err != nil {
		ps.addf("nats %s: %s: %v", name, m.source, err)
		return nil
	}
	if !opts.JetStream {
		ps.addf("nats %s: JetStream is not enabled", name)
	}
	if dm, ok := s.mountFor(opts.StoreDir); !ok || strings.HasPrefix(dm.source, ".") {
		ps.addf("nats %s: JetStream store_dir %q is not on a named volume", name, opts.StoreDir)
	}
	if opts.ServerName != name {
		ps.addf("nats %s: server_name %q differs from the service name", name, opts.ServerName)
	}
	if opts.Cluster.Port == 0 {
		ps.addf("nats %s: no cluster listener", name)
	}
	if opts.Port != 4222 {
		ps.addf("nats %s: client port %d, want 4222", name, opts.Port)
	}
	if opts.HTTPPort == 0 {
		ps.addf("nats %s: no monitoring port (the healthcheck needs /healthz)", name)
	} else if s.Healthcheck != nil && !strings.Contains(strings.Join(s.Healthcheck.Test, " "), ":"+strconv.Itoa(opts.HTTPPort)+"/healthz") {
		ps.addf("nats %s: healthcheck does not probe /healthz on port %d", name, opts.HTTPPort)
	}
	return opts
}

func TestCompose(t *testing.T) {
	expectClean(t, checkCompose("."))
}

func TestComposeChecksCanFail(t *testing.T) {
	const jetstream = "jetstream {\n  store_dir: /data\n  max_memory_store: 256MB\n  max_file_store: 4GB\n}\n"
	cases := []struct{ name, file, old, new, want string }{
		{"one replica", "compose.yaml", "  newswatch-2:\n    <<: *newswatch\n    hostname: newswatch-2\n", "  other:\n    image: busybox:1.37\n", "want 2 newswatch replicas"},
		{"two nats", "compose.yaml", "  nats-3:\n    <<: *nats\n    hostname: nats-3\n", "  nats-3:\n    image: busybox:1.37\n", "want 3 NATS nodes"},
		{"misspelt key", "compose.yaml", "depends_on:", "depend_on:", "depend_on"},
		{"undeclared volume", "compose.yaml", "  nats-3-data:\n", "", "not declared"},
		{"missing conf", "compose.yaml", "./nats/nats-2.conf", "./nats/nats-9.conf", "does not exist"},
		{"port", "compose.yaml", `"8082:8080"`, `"8082:9090"`, "does not publish container port 8080"},
		{"same host port", "compose.yaml", `"8082:8080"`, `"8081:8080"`, "same host port"},
		{"no jetstream", "nats/nats-2.conf", jetstream, "", "JetStream is not enabled"},
		{"store not on volume", "nats/nats-2.conf", "store_dir: /data", "store_dir: /tmp/js", "not on a named volume"},
		{"missing route", "nats/nats-3.conf", "    nats-route://nats-1:6222\n", "", "nats nats-3: no cluster route to nats-1:6222"},
		{"bad nats option", "nats/nats-1.conf", "max_file_store: 4GB", "max_file_stor: 4GB", "nats-1.conf"},
		{"url lacks a node", "config.cluster.yaml", ",nats://nats-3:4222", "", "lacks nats-3:4222"},
		{"unreplicated", "config.cluster.yaml", "replicas: 3", "replicas: 1", "want one copy per node"},
		{"bad query", "config.cluster.yaml", "(title:(china OR", "((title:(china OR", "topics do not compile"},
		{"invalid config", "config.cluster.yaml", "tls: none", "tls: sometimes", "does not validate"},
		{"loopback listener", "config.cluster.yaml", "listen: 0.0.0.0:8080", "listen: 127.0.0.1:8080", "loopback"},
		{"no email", "config.cluster.yaml", "    type: email\n    to: [desk@newswatch.test]\n", "    type: webhook\n    url: http://hooks.test/x\n    secret: s3cret\n", "no email subscriber"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyTree(t, ".")
			mutate(t, dir, c.file, c.old, c.new)
			expectProblem(t, checkCompose(dir), c.want)
		})
	}
}

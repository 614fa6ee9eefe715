package config

import (
	"fmt"
	"net"
	"strings"
)

// HTTP configures the health, metrics and status listener.
type HTTP struct {
	Listen string `yaml:"listen"` // empty disables the listener
	// Auth protects every endpoint but /healthz; empty: no auth.
	Auth HTTPAuth `yaml:"auth"`
	// InsecureNoAuth allows listening beyond loopback without auth, for
	// a listener only a private network reaches (a Kubernetes Service, a
	// container's published port bound to the host's loopback).
	InsecureNoAuth bool `yaml:"insecure_no_auth"`
	// PublicURL is where people reach this listener from outside, e.g.
	// https://newswatch.example.org; alerts carry feedback links under
	// it. Empty: alerts carry no feedback links.
	PublicURL string `yaml:"public_url"`
}

// ExposedWithoutAuth reports whether the listener would answer other
// hosts (POST /-/reload and /api/* included) without auth, and nothing
// says that is meant. A host name other than localhost counts as
// exposed: it may resolve to any interface.
func (h HTTP) ExposedWithoutAuth() bool {
	if h.Listen == "" || h.InsecureNoAuth || h.Auth.BearerToken != "" || h.Auth.Basic.Username != "" {
		return false
	}
	host, _, err := net.SplitHostPort(h.Listen)
	if err != nil {
		return false // reported as a malformed address, if at all
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// HTTPAuth is the optional authentication of the HTTP listener: basic
// auth, a bearer token, or both (either one is then accepted).
type HTTPAuth struct {
	Basic       BasicAuth `yaml:"basic"`
	BearerToken string    `yaml:"bearer_token"`
}

// BasicAuth is one user name and password for HTTP basic auth.
type BasicAuth struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

func (c *Config) validateHTTPAuth() Problems {
	p := &problems{c: c}
	if b := c.HTTP.Auth.Basic; (b.Username == "") != (b.Password == "") {
		p.add("basic auth needs both username and password", "http", "auth", "basic")
	}
	return p.ps
}

func (c *Config) validateHTTPExposure() Problems {
	p := &problems{c: c}
	if c.HTTP.ExposedWithoutAuth() {
		p.add(fmt.Sprintf("%q answers other hosts, and POST /-/reload and /api/* would need no credentials: set http.auth, listen on 127.0.0.1, or set http.insecure_no_auth: true if only a private network reaches it", c.HTTP.Listen), "http", "listen")
	}
	return p.ps
}

func (c *Config) validatePublicURL() Problems {
	p := &problems{c: c}
	if c.HTTP.PublicURL != "" {
		if u, ok := httpURL(c.HTTP.PublicURL); !ok || u.RawQuery != "" || u.Fragment != "" {
			p.add("is not an http(s) URL without query, e.g. https://newswatch.example.org", "http", "public_url")
		}
	}
	return p.ps
}

// reservedWebPaths are the paths the web server answers itself, without
// their leading '/': one ending in '/' is a whole tree. web keeps them in
// step with its routes (web.TestOwnRoutesReservedInConfig).
var reservedWebPaths = []string{"", "api/", "-/", "metrics", "healthz", "readyz"}

// ReservedWebPath reports whether path is one the web server answers
// itself, so that nothing else (a WebSub callback) may be served there.
func ReservedWebPath(path string) bool {
	p := strings.Trim(path, "/")
	for _, r := range reservedWebPaths {
		if tree, ok := strings.CutSuffix(r, "/"); ok {
			if p == tree || strings.HasPrefix(p, r) {
				return true
			}
		} else if p == r {
			return true
		}
	}
	return false
}

package fetcher

import (
	"testing"
)

// noProxy clears proxy settings, which turn the private-network guard off.
func noProxy(t *testing.T) {
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		t.Setenv(k, "")
	}
}

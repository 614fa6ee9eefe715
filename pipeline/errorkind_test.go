package pipeline

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"newswatch/config"
	"newswatch/fetcher"
)

// TestErrorKindOfFetchErrors: the kind comes from the fetcher's own
// errors, whatever words the URL or the message hold.
func TestErrorKindOfFetchErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/limits/big.xml":
			_, _ = w.Write([]byte(strings.Repeat("x", 5000)))
		case "/private/garbage.xml":
			_, _ = w.Write([]byte("<rss><channel><item>"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	f := fetcher.New(config.Fetch{MaxBodyBytes: 1000, Timeout: 5 * time.Second}, nil)
	for _, tc := range []struct {
		path, want string
	}{
		{"/limits/big.xml", ErrorKindTooLarge},
		{"/private/garbage.xml", ErrorKindParse},
		{"/parse/missing.xml", ""},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := f.Fetch(ctx, config.Source{ID: "s", URL: srv.URL + tc.path}, fetcher.Validator{})
		cancel()
		if err == nil {
			t.Fatalf("%s: no error", tc.path)
		}
		if got := ErrorKindOf(err); got != tc.want {
			t.Errorf("%s: kind %q, want %q (%v)", tc.path, got, tc.want, err)
		}
	}
	if got := ErrorKindOf(fetcher.ErrPrivateNetwork); got != ErrorKindPrivateNetwork {
		t.Errorf("private network: kind %q", got)
	}
	if got := ErrorKindOf(fetcher.ErrTimeout); got != ErrorKindTimeout {
		t.Errorf("timeout: kind %q", got)
	}
}

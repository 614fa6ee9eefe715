package httpc

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// maxRedirects bounds redirect chains; browsers allow 20, feeds need few.
const maxRedirects = 5

// newTransport builds the HTTP transport. When guard is set, every dial is
// checked against the resolved address (not the URL's host name), so a
// name that resolves, or re-resolves, to a private address is refused:
// DNS rebinding cannot slip past a check made on the string.
func newTransport(timeout time.Duration, perHost int, guard bool) *http.Transport {
	connect := min(timeout, 10*time.Second)
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	if guard {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrPrivateNetwork, address)
			}
			if !publicAddr(ip) {
				return fmt.Errorf("%w: %s", ErrPrivateNetwork, address)
			}
			return nil
		}
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   max(perHost, 2), // at most perHost are busy at once
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   connect,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		// Compression is negotiated and decoded by readBody so that the
		// size cap applies to the decompressed bytes we actually parse.
		DisableCompression: true,
	}
}

// publicAddr reports whether ip may be reached by a URL found in content:
// not loopback, private (RFC 1918, fc00::/7), link-local (which includes the
// 169.254.169.254 cloud metadata address), CGNAT, multicast or unspecified.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // CGNAT
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64 can reach IPv4 private space
	netip.MustParsePrefix("2002::/16"),     // 6to4 likewise
}

// checkRedirect limits redirect chains and keeps the headers that make a
// fetch polite on every hop.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("%w (%d)", ErrTooManyRedirects, maxRedirects)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirect to unsupported scheme %q", req.URL.Scheme)
	}
	return nil
}

// checkRedirectGuarded is checkRedirect for config-written URLs when
// private networks are not allowed: a hop to another host must resolve to
// public addresses only. The dial guard alone would miss a pooled
// connection to a private host that another source configured.
func checkRedirectGuarded(req *http.Request, via []*http.Request) error {
	if err := checkRedirect(req, via); err != nil {
		return err
	}
	if h, ok := req.Context().Value(trustedHostKey{}).(string); ok && strings.EqualFold(h, hostPort(req.URL)) {
		return nil
	}
	host := req.URL.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !publicAddr(ip) {
			return fmt.Errorf("%w: redirect to %s", ErrPrivateNetwork, host)
		}
		return nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(req.Context(), "ip", host)
	if err != nil {
		return fmt.Errorf("redirect to %s: %w", host, err)
	}
	for _, ip := range ips {
		if !publicAddr(ip) {
			return fmt.Errorf("%w: redirect to %s (%s)", ErrPrivateNetwork, host, ip)
		}
	}
	return nil
}

// readBody reads a response body, decoding gzip or deflate, and fails with
// ErrTooLarge once more than max bytes come out of the decoder: the cap is
// enforced after decompression, so a small gzip bomb cannot expand past it.
func readBody(resp *http.Response, max int64) ([]byte, error) {
	if resp.ContentLength > max && resp.Header.Get("Content-Encoding") == "" {
		return nil, fmt.Errorf("%w: Content-Length %d > %d", ErrTooLarge, resp.ContentLength, max)
	}
	var r io.Reader = resp.Body
	switch strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))) {
	case "", "identity", "none", "utf-8":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		defer zr.Close()
		r = zr
	case "deflate":
		zr := flate.NewReader(resp.Body)
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	size := int64(4096)
	if resp.ContentLength > 0 && resp.Header.Get("Content-Encoding") == "" {
		size = resp.ContentLength + 1 // +1 so that EOF is seen without a grow
	}
	buf := make([]byte, 0, min(size, max+1))
	for {
		if int64(len(buf)) > max {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		limit := min(int64(cap(buf)), max+1)
		n, err := r.Read(buf[len(buf):limit])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if int64(len(buf)) > max {
				return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
			}
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
	}
}

// isTimeout reports whether err is a deadline or network timeout, so the
// caller can say "timed out" rather than quote a transport error.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"newswatch/bus"
	"newswatch/config"
	"newswatch/feedback"
	"newswatch/web"
)

// apiClient reads a running daemon's JSON API at http.listen, with the
// config's auth: inspection commands use it while the daemon holds
// data_dir.
type apiClient struct {
	base string
	auth config.HTTPAuth
	hc   *http.Client
}

// newAPIClient addresses the daemon of cfg; an address on every
// interface is reached over loopback.
func newAPIClient(cfg *config.Config) (*apiClient, error) {
	host, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen %q: %w", cfg.HTTP.Listen, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return &apiClient{base: "http://" + net.JoinHostPort(host, port), auth: cfg.HTTP.Auth, hc: &http.Client{Timeout: 30 * time.Second}}, nil
}

// get decodes the JSON answer of GET path?query into v.
func (c *apiClient) get(ctx context.Context, path string, query url.Values, v any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return c.do(ctx, http.MethodGet, u, path, v)
}

// post decodes the JSON answer of POST path (no body) into v.
func (c *apiClient) post(ctx context.Context, path string, v any) error {
	return c.do(ctx, http.MethodPost, c.base+path, path, v)
}

func (c *apiClient) do(ctx context.Context, method, u, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	switch {
	case c.auth.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+c.auth.BearerToken)
	case c.auth.Basic.Username != "":
		req.SetBasicAuth(c.auth.Basic.Username, c.auth.Basic.Password)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("ask the running daemon: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("ask the running daemon: %s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ask the running daemon: %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("ask the running daemon: %s %s: %w", method, path, err)
	}
	return nil
}

// sources lists every source, page by page.
func (c *apiClient) sources(ctx context.Context) ([]web.Source, error) {
	var out []web.Source
	for page := 1; ; page++ {
		var p struct {
			Pages   int          `json:"pages"`
			Sources []web.Source `json:"sources"`
		}
		if err := c.get(ctx, "/api/sources", url.Values{"per_page": {"500"}, "page": {fmt.Sprint(page)}}, &p); err != nil {
			return nil, err
		}
		out = append(out, p.Sources...)
		if page >= p.Pages {
			return out, nil
		}
	}
}

// deadLetters lists the dead letters of subscriber (all when ""), oldest
// first, as the stream holds them.
func (c *apiClient) deadLetters(ctx context.Context, subscriber string) ([]deadEntry, error) {
	var out []deadEntry
	q := url.Values{"full": {"1"}, "limit": {"200"}}
	if subscriber != "" {
		q.Set("subscriber", subscriber)
	}
	for {
		var p struct {
			DeadLetters []web.DeadLetter `json:"dead_letters"`
			NextBefore  uint64           `json:"next_before"`
		}
		if err := c.get(ctx, "/api/deadletters", q, &p); err != nil {
			return nil, err
		}
		for _, d := range p.DeadLetters {
			if d.Record == nil {
				return nil, errors.New("ask the running daemon: /api/deadletters gave no records (a daemon older than this command?)")
			}
			out = append(out, deadEntry{Seq: d.Seq, DeadLetter: *d.Record})
		}
		if p.NextBefore == 0 {
			break
		}
		q.Set("before", fmt.Sprint(p.NextBefore))
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// feedback lists the labels (of topic, all when ""), oldest first, as
// loadFeedback reads them from the bus.
func (c *apiClient) feedback(ctx context.Context, env *cliEnv, topic string) ([]feedback.Record, error) {
	q := url.Values{}
	if topic != "" {
		q.Set("topic", topic)
	}
	var p struct {
		Feedback   []feedback.Record `json:"feedback"`
		Unreadable int               `json:"unreadable"`
	}
	if err := c.get(ctx, "/api/feedback", q, &p); err != nil {
		return nil, err
	}
	if p.Unreadable > 0 {
		fmt.Fprintf(env.stderr, "newswatch: %d feedback records could not be read and are left out\n", p.Unreadable)
	}
	return p.Feedback, nil
}

// replayWait bounds a replay through the daemon, which delivers the dead
// letters one after another before it answers.
const replayWait = 30 * time.Minute

// replayDeadLetters has the daemon deliver the dead letters of subscriber
// (all when "") again, or the one with sequence seq (any when 0).
func (c *apiClient) replayDeadLetters(ctx context.Context, subscriber string, seq uint64) (replayReport, error) {
	const path = "/-/deadletters/replay"
	q := url.Values{}
	if subscriber != "" {
		q.Set("subscriber", subscriber)
	}
	if seq != 0 {
		q.Set("seq", fmt.Sprint(seq))
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	long := *c
	long.hc = &http.Client{Timeout: replayWait}
	var rep replayReport
	err := long.do(ctx, http.MethodPost, u, path, &rep)
	return rep, err
}

// openInspect opens the bus of cfg, or, while a daemon on the same config
// holds data_dir, a client of its HTTP API: exactly one is returned.
func openInspect(ctx context.Context, env *cliEnv, cfg *config.Config, name string) (*bus.Bus, *apiClient, bool) {
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := bus.OpenClient(octx, cfg, newLogger(env.stderr, config.Log{Level: "error", Format: cfg.Log.Format}))
	if err == nil {
		return b, nil, true
	}
	if errors.Is(err, bus.ErrDataDirInUse) && cfg.HTTP.Listen != "" {
		if c, cerr := newAPIClient(cfg); cerr == nil {
			return nil, c, true
		}
	}
	fmt.Fprintf(env.stderr, "newswatch %s: %v\n", name, err)
	if errors.Is(err, bus.ErrDataDirInUse) {
		fmt.Fprintln(env.stderr, "hint: a daemon owns this data_dir; set http.listen in its config (commands then ask its API) or nats.listen (e.g. 127.0.0.1:4222), and restart it")
	}
	return nil, nil, false
}

// scrubbed returns v with the config's secrets removed, as the API
// serves it: a stopped daemon's data reads the same as a running one's.
func scrubbed[T any](v T, secrets []string) T {
	data, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out T
	if json.Unmarshal([]byte(web.Scrub(string(data), secrets)), &out) != nil {
		return v
	}
	return out
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"newswatch/web"
)

// redactor removes the config's secrets from every log line: a source URL
// with an api_key, an error quoting a webhook URL, a value taken from the
// environment. The list is swapped on reload.
type redactor struct {
	secrets atomic.Pointer[[]string]
}

func newRedactor(secrets []string) *redactor {
	r := &redactor{}
	r.set(secrets)
	return r
}

func (r *redactor) set(secrets []string) { r.secrets.Store(&secrets) }

// scrub uses the status page's rules: a secret is replaced where it
// stands as a value of its own, never inside unrelated text.
func (r *redactor) scrub(s string) string { return web.Scrub(s, *r.secrets.Load()) }

// handler wraps h so that no record it writes holds a secret.
func (r *redactor) handler(h slog.Handler) slog.Handler { return &redactHandler{r: r, h: h} }

type redactHandler struct {
	r *redactor
	h slog.Handler
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.scrub(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.scrub(v.String()))
	case slog.KindGroup:
		g := v.Group()
		as := make([]any, len(g))
		for i, x := range g {
			as[i] = h.attr(x)
		}
		return slog.Group(a.Key, as...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, h.r.scrub(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, h.r.scrub(x.String()))
		default:
			return slog.String(a.Key, h.r.scrub(fmt.Sprint(x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.attr(a)
	}
	return &redactHandler{r: h.r, h: h.h.WithAttrs(out)}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{r: h.r, h: h.h.WithGroup(name)}
}

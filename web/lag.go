package web

import (
	"context"
	"net"

	"newswatch/metrics"
	"newswatch/pipeline"
)

// RegisterBacklog exports each subscriber's consumer lag, the alerts
// waiting for it in the stream (the one in flight included), through m
// (newswatch_subscriber_backlog); it does nothing when m is nil.
func RegisterBacklog(m *metrics.Metrics, p *pipeline.Pipeline) {
	m.RegisterBacklog(func(ctx context.Context) map[string]int64 {
		out := map[string]int64{}
		for _, s := range p.Config().Subscribers {
			n, err := p.Dispatcher().Backlog(ctx, s.ID)
			if err != nil {
				continue // no consumer yet: nothing to report
			}
			out[s.ID] = int64(n)
		}
		return out
	})
}

// Loopback reports whether addr is a loopback address.
func Loopback(addr net.Addr) bool {
	if a, ok := addr.(*net.TCPAddr); ok {
		return a.IP.IsLoopback()
	}
	return false
}

package fetcher

import (
	"context"
	"log/slog"

	"newswatch/config"
	"newswatch/fetcher/websub"
	"newswatch/news"
)

// WebSub subscribes to feeds at their hubs and receives their pushes; see
// package websub.
type WebSub = websub.WebSub

// SubscriptionStatus is what the pipeline needs to decide how often to
// poll a source that has a WebSub subscription.
type SubscriptionStatus = websub.SubscriptionStatus

// DefaultLease is the lease asked of hubs; they may grant another.
const DefaultLease = websub.DefaultLease

// NewWebSub returns a WebSub that talks to hubs through f's client (hub
// URLs come from feed content, so they go through the private-network
// guard) and parses pushes as f parses feeds; see websub.New.
func NewWebSub(f *Fetcher, callbackURL string, key []byte, logger *slog.Logger,
	deliver func(ctx context.Context, src config.Source, arts []news.Article) error) (*WebSub, error) {
	return websub.New(f.client, callbackURL, key, logger, deliver)
}

package web

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"newswatch/bus"
	"newswatch/news"
)

// BusArchive reads the article stream of b for the preview: only the
// messages after the last one read, and never more than the newest
// PreviewMaxArticles, each fetch with a deadline.
func BusArchive(b *bus.Bus) ArchiveReader {
	return func(ctx context.Context, after uint64, f func(seq uint64, at time.Time, a *news.Article) bool) error {
		// Only the newest PreviewMaxArticles: the last sequence is read
		// first to know where they begin.
		first, last, err := b.Span(ctx, b.Names.ArticleStream)
		if err != nil {
			return err
		}
		if last == 0 || last <= after {
			return nil
		}
		start := max(after+1, first)
		if last >= PreviewMaxArticles && start < last-PreviewMaxArticles+1 {
			start = last - PreviewMaxArticles + 1
		}
		err = b.Walk(ctx, b.Names.ArticleStream, "", start, func(m *bus.StoredMsg) bool {
			var a news.Article
			return json.Unmarshal(m.Data, &a) != nil || f(m.Seq, m.Time, &a)
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", b.Names.ArticleStream, err)
		}
		return nil
	}
}

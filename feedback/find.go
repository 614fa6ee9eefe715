package feedback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"newswatch/bus"
	"newswatch/news"
)

// ErrNotFound means the alert is no longer (or not) in the alert stream.
var ErrNotFound = errors.New("alert not in the stream")

// maxScan bounds the messages looked at to find one alert.
const maxScan = 20000

// FindAlert looks alert id up in the alert stream, on its topic's subject,
// starting a little before created when known (the alert was published
// then), so that a lookup reads a handful of messages, not the stream.
func FindAlert(ctx context.Context, b *bus.Bus, id string, created time.Time) (*news.Alert, error) {
	topic, _, ok := SplitAlertID(id)
	if !ok {
		return nil, fmt.Errorf("alert id %q: %w", id, ErrNotFound)
	}
	var since time.Time
	if !created.IsZero() {
		since = created.Add(-10 * time.Minute)
	}
	var found *news.Alert
	scanned := 0
	err := b.WalkSince(ctx, b.Names.AlertStream, b.Names.AlertSubject(topic), since, func(m *bus.StoredMsg) bool {
		scanned++
		if m.MsgID() == id || len(m.Header) == 0 {
			var a news.Alert
			if json.Unmarshal(m.Data, &a) == nil && a.ID == id {
				found = &a
				return false
			}
		}
		return scanned < maxScan
	})
	if err != nil {
		return nil, fmt.Errorf("alert stream: %w", err)
	}
	if found == nil {
		return nil, ErrNotFound
	}
	return found, nil
}

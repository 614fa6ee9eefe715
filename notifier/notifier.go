// Package notifier delivers alerts to subscribers.
//
// A Sink delivers one alert to one subscriber and says whether a failure is
// worth retrying; it knows its protocol (HTTP status codes, SMTP reply
// codes), so it is the one to decide. Sinks never ack, retry or sleep
// themselves: the dispatcher turns (retry, err) into a JetStream Ack, a
// delayed redelivery or a dead letter, so every retry comes from the stream
// and none from memory.
//
// Deliveries are idempotent on the receiver's side: a webhook carries a
// webhook-id and an email a Message-ID derived from the subscriber and the
// alert id, so the one duplicate at-least-once delivery allows (a crash
// between the receiver's acceptance and our ack) carries the same id as
// the original.
//
// Two sinks exist: Webhook (HTTP POST, signed per Standard Webhooks, with
// Slack, Discord and Teams presets) and Email (SMTP, multipart text and
// HTML from templates).
package notifier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"newswatch/news"
)

// Sink delivers one alert. retry tells whether a failure is worth retrying
// (5xx, timeouts, connection errors: true; other 4xx: false). No NATS type
// crosses this boundary.
type Sink interface {
	Notify(ctx context.Context, a *news.Alert) (retry bool, err error)
}

// FollowUpSink is a Sink that can deliver a later report of a story (see
// Stories) as such: a webhook typed "alert.followup", an email threaded
// under the story's first one. Both sinks implement it.
type FollowUpSink interface {
	Sink
	NotifyFollowUp(ctx context.Context, a *news.Alert, st Story) (retry bool, err error)
}

// RetryAfterError is returned when the receiver asked for a delay (429 or
// 503 with Retry-After). Find it with errors.As; After is never negative.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// ErrGone means the receiver answered 410 Gone: it wants no more
// deliveries, and the subscriber must be disabled loudly.
var ErrGone = errors.New("notifier: subscriber gone (410)")

// deliveryKey is a stable digest of (subscriber, alert): the same alert
// delivered again to the same subscriber, after a crash or a replay from
// the dead-letter stream, yields the same key, hence the same webhook-id
// and Message-ID. Hex only, so it holds no '.' (Standard Webhooks forbids
// one in the id, which is part of the signed content).
func deliveryKey(subscriber, alertID string) string {
	h := sha256.New()
	h.Write([]byte(subscriber))
	h.Write([]byte{0}) // separator: ("ab","c") and ("a","bc") must differ
	h.Write([]byte(alertID))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// headerSafe makes untrusted text fit for a single header line: CR, LF and
// every other control character become spaces (a CR/LF would let feed
// content inject headers), runs of spaces collapse, and the result is cut
// to max runes.
func headerSafe(s string, max int) string {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.IsSpace(r)
	})
	out := strings.Join(fields, " ")
	if max > 0 && utf8.RuneCountInString(out) > max {
		out = strings.TrimSpace(string([]rune(out)[:max-1])) + "…"
	}
	return out
}

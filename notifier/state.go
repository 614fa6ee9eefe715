package notifier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"newswatch/bus"
	"newswatch/config"
)

// A subscriber's durable notes in the store bucket, shared by every
// replica and kept across restarts:
//
//	disabled.<id>   set when its receiver answered 410 Gone (DisabledState)
//	position.<id>   the stream sequence of the last alert it was done with
//	                (delivered, folded or dead-lettered), so that a lost
//	                consumer is recreated where it stood

func disabledKey(id string) string { return "disabled." + id }
func positionKey(id string) string { return "position." + id }

// DisabledState records why a subscriber's deliveries stopped. It stays
// until the subscriber's config changes (Config is a digest of it) or an
// operator runs `newswatch subscribers enable ID`.
type DisabledState struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	Config string    `json:"config"` // configDigest of the subscriber when it was disabled
}

// configDigest identifies a subscriber's config: a change to any field
// (a new URL, secret, topic…) gives another digest. Only the digest is
// stored, never the config with its secrets.
func configDigest(sub config.Subscriber) string {
	data, _ := json.Marshal(sub)
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:16])
}

// Disabled returns the subscriber's disabled state, or nil when its
// deliveries are enabled.
func Disabled(ctx context.Context, b *bus.Bus, id string) (*DisabledState, error) {
	v, found, err := b.Note(ctx, disabledKey(id))
	if err != nil {
		return nil, fmt.Errorf("subscriber %s: read disabled state: %w", id, err)
	}
	if !found {
		return nil, nil
	}
	var st DisabledState
	if err := json.Unmarshal(v, &st); err != nil {
		// Unreadable: still disabled, for a reason we cannot tell.
		st.Reason = "disabled (unreadable record)"
	}
	return &st, nil
}

// Enable clears a subscriber's disabled state; a dispatcher running it
// resumes within a few seconds, starting with the alert that got the 410.
// It reports whether the subscriber was disabled.
func Enable(ctx context.Context, b *bus.Bus, id string) (bool, error) {
	st, err := Disabled(ctx, b, id)
	if err != nil || st == nil {
		return false, err
	}
	if err := b.ForgetNote(ctx, disabledKey(id)); err != nil {
		return false, fmt.Errorf("subscriber %s: enable: %w", id, err)
	}
	return true, nil
}

func setDisabled(ctx context.Context, b *bus.Bus, sub config.Subscriber, reason string, at time.Time) (DisabledState, error) {
	st := DisabledState{Reason: reason, At: at.UTC(), Config: configDigest(sub)}
	data, _ := json.Marshal(st)
	if err := b.SetNote(ctx, disabledKey(sub.ID), data); err != nil {
		return st, fmt.Errorf("subscriber %s: store disabled state: %w", sub.ID, err)
	}
	return st, nil
}

// position is the stream sequence of the last alert the subscriber was
// done with; ok is false when none is recorded.
func position(ctx context.Context, b *bus.Bus, id string) (seq uint64, ok bool, err error) {
	v, found, err := b.Note(ctx, positionKey(id))
	if err != nil {
		return 0, false, fmt.Errorf("subscriber %s: read position: %w", id, err)
	}
	if !found {
		return 0, false, nil
	}
	seq, err = strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("subscriber %s: position %q: %w", id, v, err)
	}
	return seq, true, nil
}

func setPosition(ctx context.Context, b *bus.Bus, id string, seq uint64) error {
	if err := b.SetNote(ctx, positionKey(id), []byte(strconv.FormatUint(seq, 10))); err != nil {
		return fmt.Errorf("subscriber %s: record position %d: %w", id, seq, err)
	}
	return nil
}

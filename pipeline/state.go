package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"newswatch/bus"
	"newswatch/fetcher"
)

// SourceState is what newswatch knows about a source between fetches. It
// lives in the sources KV bucket, shared by every replica.
type SourceState struct {
	ID         string `json:"id"`
	URL        string `json:"url"`
	Status     string `json:"status"` // ok | error | pending
	HTTPStatus int    `json:"http_status,omitempty"`
	Error      string `json:"error,omitempty"`
	// ErrorKind names the class of Error (one of the ErrorKind
	// constants), set where the error happens; "" for any other error
	// and in states written before it existed.
	ErrorKind           string    `json:"error_kind,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastFetch           time.Time `json:"last_fetch,omitzero"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	NextDue             time.Time `json:"next_due,omitzero"`
	ETag                string    `json:"etag,omitempty"`
	LastModified        string    `json:"last_modified,omitempty"`
	ItemsSeen           int64     `json:"items_seen"`
	NotModified         int64     `json:"not_modified"`
	// FailingSince is when the current run of failures began;
	// FailingEvent the id of the source.failing event raised for it
	// (empty: none yet). See sourceEvent.
	FailingSince time.Time `json:"failing_since,omitzero"`
	FailingEvent string    `json:"failing_event,omitempty"`
	// Claim is set while a job fetches the source (see claim).
	Claim *FetchClaim `json:"claim,omitempty"`
}

// LoadState returns a source's state; a source never fetched is "pending".
func LoadState(ctx context.Context, kv bus.KV, id string) (SourceState, error) {
	st, _, err := readState(ctx, kv, id)
	return st, err
}

// LoadStates reads every stored source state in one pass over the
// bucket, by source id. An unreadable state reads as "pending", as
// LoadState has it, with the decoding error in Error: the status page
// says why the source looks never fetched.
func LoadStates(ctx context.Context, kv bus.KV) (map[string]SourceState, error) {
	ats, err := readStates(ctx, kv)
	if err != nil {
		return nil, err
	}
	return statesOf(ats), nil
}

// statesOf is LoadStates's answer for the states read.
func statesOf(ats map[string]stateAt) map[string]SourceState {
	states := make(map[string]SourceState, len(ats))
	for id, at := range ats {
		if at.bad != nil {
			at.st.Error = fmt.Sprintf("stored state does not decode; the next fetch writes it afresh: %v", at.bad)
		}
		states[id] = at.st
	}
	return states
}

func saveState(ctx context.Context, kv bus.KV, st SourceState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, st.ID, data); err != nil {
		return fmt.Errorf("save state of %s: %w", st.ID, err)
	}
	return nil
}

// Error kinds of a source state, for those a reader words differently.
const (
	ErrorKindTimeout        = "timeout"
	ErrorKindTooLarge       = "too_large"
	ErrorKindPrivateNetwork = "private_network"
	ErrorKindParse          = "parse"
)

// ErrorKindOf is the kind of a fetch error, from the fetcher's sentinel
// errors; "" when none fits.
func ErrorKindOf(err error) string {
	switch {
	case errors.Is(err, fetcher.ErrTimeout):
		return ErrorKindTimeout
	case errors.Is(err, fetcher.ErrTooLarge):
		return ErrorKindTooLarge
	case errors.Is(err, fetcher.ErrPrivateNetwork):
		return ErrorKindPrivateNetwork
	case errors.Is(err, fetcher.ErrParse), errors.Is(err, fetcher.ErrNotFeed):
		return ErrorKindParse
	}
	return ""
}

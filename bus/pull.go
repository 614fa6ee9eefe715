package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Pull fetches up to n messages from cons, waiting at most wait for them.
// The pull also ends as soon as abort is done: only for a caller that knows
// no message can be on its way (its queue is empty), since one the server
// sent after the client stopped listening stays in flight until its ack
// wait runs out. Call done once the batch has been read.
func Pull(abort context.Context, cons jetstream.Consumer, n int, wait time.Duration) (batch jetstream.MessageBatch, done func(), err error) {
	if abort.Done() == nil { // never aborted: a plain pull
		batch, err = cons.Fetch(n, jetstream.FetchMaxWait(wait))
		return batch, func() {}, err
	}
	ctx, cancel := context.WithTimeout(abort, wait)
	// FetchContext asks the server to expire the pull a little before
	// ctx's deadline, so a wait that runs out ends as a plain expiry.
	batch, err = cons.Fetch(n, jetstream.FetchContext(ctx))
	if err != nil {
		cancel()
		return nil, func() {}, err
	}
	return batch, cancel, nil
}

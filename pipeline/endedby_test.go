package pipeline

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestEndedBy(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	real := errors.New("webhook: bad url")
	wrapped := fmt.Errorf("subscriber desk: read position: %w", context.Canceled)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"no error", canceled, nil, false},
		{"ctx live", live, wrapped, false},
		{"the end itself", canceled, context.Canceled, true},
		{"wrapped end", canceled, wrapped, true},
		{"every joined error is the end", canceled, errors.Join(wrapped, fmt.Errorf("subscriber pager: %w", context.Canceled)), true},
		{"a real failure joined with the end", canceled, errors.Join(wrapped, real), false},
		{"a real failure", canceled, real, false},
		{"another deadline", canceled, context.DeadlineExceeded, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := EndedBy(tc.ctx, tc.err); got != tc.want {
				t.Errorf("EndedBy(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

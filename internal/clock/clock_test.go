package clock

import (
	"context"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	tests := []struct {
		name     string
		cancel   bool
		d        time.Duration
		wantFull bool
	}{
		{"passes", false, time.Millisecond, true},
		{"cancelled", true, time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			if tt.cancel {
				cancel()
			}
			defer cancel()
			if got := Sleep(ctx, tt.d); got != tt.wantFull {
				t.Errorf("Sleep = %v, want %v", got, tt.wantFull)
			}
		})
	}
}

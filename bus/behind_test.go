package bus

import "testing"

// TestBehindTheStart: only a consumer standing behind the start it was
// made with holds a deleted one's state; one that delivered from its
// start on may be another replica's, made between our look and our
// create, and in use.
func TestBehindTheStart(t *testing.T) {
	tests := []struct {
		name  string
		st    ConsumerState
		start uint64
		want  bool
	}{
		{"fresh at its start", ConsumerState{Delivered: 9, AckFloor: 9}, 10, false},
		{"a replica's, one message in flight", ConsumerState{Delivered: 10, AckFloor: 9, AckPending: 1, Deliveries: 1}, 10, false},
		{"a replica's, further on", ConsumerState{Delivered: 14, AckFloor: 12, AckPending: 2, Deliveries: 5}, 10, false},
		{"the deleted one's, behind", ConsumerState{Delivered: 1, AckFloor: 0, AckPending: 1, Deliveries: 1}, 3, true},
		{"acked behind the start", ConsumerState{Delivered: 9, AckFloor: 7}, 10, true},
	}
	for _, tt := range tests {
		if got := tt.st.Behind(tt.start); got != tt.want {
			t.Errorf("%s: Behind(%+v, %d) = %v, want %v", tt.name, tt.st, tt.start, got, tt.want)
		}
	}
}

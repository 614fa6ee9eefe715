package harness

import (
	"fmt"
	"sort"
	"strings"
)

// Tally compares what a subscriber received with what it should have.
type Tally struct {
	Expected   int
	Received   int      // deliveries, repeats included
	Lost       []string // expected alert ids never delivered
	Unexpected []string // alert ids delivered but not expected
	// Duplicates counts repeat deliveries of an alert already delivered.
	Duplicates int
	// IDMismatch lists alert ids whose repeats carried a different
	// delivery id (webhook-id or Message-ID) than the first delivery.
	IDMismatch []string
	// BadSignature counts deliveries whose signature did not verify.
	BadSignature int
}

// Delivered is one received alert, whatever the channel.
type Delivered struct {
	AlertID    string
	DeliveryID string // webhook-id or Message-ID
	Verified   bool
}

// Count tallies received against expected (alert ids).
func Count(expected map[string]bool, received []Delivered) Tally {
	t := Tally{Expected: len(expected), Received: len(received)}
	first := map[string]string{}
	unexpected := map[string]bool{}
	mismatch := map[string]bool{}
	for _, d := range received {
		if !d.Verified {
			t.BadSignature++
		}
		if id, seen := first[d.AlertID]; seen {
			t.Duplicates++
			if id != d.DeliveryID {
				mismatch[d.AlertID] = true
			}
			continue
		}
		first[d.AlertID] = d.DeliveryID
		if !expected[d.AlertID] {
			unexpected[d.AlertID] = true
		}
	}
	for id := range expected {
		if _, ok := first[id]; !ok {
			t.Lost = append(t.Lost, id)
		}
	}
	for id := range unexpected {
		t.Unexpected = append(t.Unexpected, id)
	}
	for id := range mismatch {
		t.IDMismatch = append(t.IDMismatch, id)
	}
	sort.Strings(t.Lost)
	sort.Strings(t.Unexpected)
	sort.Strings(t.IDMismatch)
	return t
}

// OK reports whether nothing was lost, nothing unexpected arrived, every
// repeat carried its first delivery's id and every signature verified.
func (t Tally) OK() bool {
	return len(t.Lost) == 0 && len(t.Unexpected) == 0 && len(t.IDMismatch) == 0 && t.BadSignature == 0
}

func (t Tally) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "expected %d, received %d, lost %d, duplicates %d, unexpected %d, id mismatches %d, bad signatures %d",
		t.Expected, t.Received, len(t.Lost), t.Duplicates, len(t.Unexpected), len(t.IDMismatch), t.BadSignature)
	if len(t.Lost) > 0 {
		fmt.Fprintf(&b, "; lost: %v", first(t.Lost, 10))
	}
	if len(t.Unexpected) > 0 {
		fmt.Fprintf(&b, "; unexpected: %v", first(t.Unexpected, 10))
	}
	if len(t.IDMismatch) > 0 {
		fmt.Fprintf(&b, "; id mismatches: %v", first(t.IDMismatch, 10))
	}
	return b.String()
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// FromWebhook turns webhook deliveries into Delivered.
func FromWebhook(ds []Delivery) []Delivered {
	out := make([]Delivered, len(ds))
	for i, d := range ds {
		out[i] = Delivered{AlertID: d.AlertID, DeliveryID: d.WebhookID, Verified: d.SignatureOK}
	}
	return out
}

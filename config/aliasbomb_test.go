package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A config of nested merge keys ("billion laughs") is rejected, not
// walked: the key check must not expand what the decoder refuses.
func TestMergeKeyBombIsRejectedQuickly(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-l0: &l0 {zz: 1}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "x-l%d: &l%d {<<: [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("log: {<<: *l9}\n")
	done := make(chan error, 1)
	go func() {
		_, err := Parse([]byte(b.String()), func(string) (string, bool) { return "", false })
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("merge bomb accepted")
		}
		if !strings.Contains(err.Error(), "aliasing") {
			t.Errorf("error = %v, want the decoder's excessive-aliasing refusal", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Parse did not return within 10s on a merge-key bomb")
	}
}

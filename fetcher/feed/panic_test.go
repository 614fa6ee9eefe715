package feed

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRecoverTurnsAPanicIntoAParseError(t *testing.T) {
	parse := func(doc []string) (_ int, err error) {
		defer Recover(&err)
		return len(doc[3]), nil // index out of range, as a parser bug would
	}
	n, err := parse([]string{"a"})
	if n != 0 || !errors.Is(err, ErrParse) {
		t.Fatalf("got %d, %v; want 0 and an error matching ErrParse", n, err)
	}
	var pe *PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T is not a *PanicError", err)
	}
	if !strings.Contains(err.Error(), "index out of range") || !strings.Contains(err.Error(), "parser failed") {
		t.Errorf("error %q does not say what failed", err)
	}
	if !strings.Contains(string(pe.Stack), "TestRecoverTurnsAPanicIntoAParseError") {
		t.Errorf("stack does not lead to the failing call:\n%s", pe.Stack)
	}

	// Without a panic, the result and error pass through.
	n, err = parse([]string{"a", "b", "c", "dd"})
	if n != 2 || err != nil {
		t.Fatalf("got %d, %v; want 2, nil", n, err)
	}
}

func TestPanicStack(t *testing.T) {
	var err error
	func() {
		defer Recover(&err)
		panic("boom")
	}()
	wrapped := fmt.Errorf("fetch src: %w", err)
	if stack, ok := PanicStack(wrapped); !ok || !strings.Contains(stack, "TestPanicStack") {
		t.Errorf("PanicStack(%v) = %q, %v; want the stack of the panic", wrapped, stack, ok)
	}
	if _, ok := PanicStack(fmt.Errorf("%w: bad XML", ErrParse)); ok {
		t.Error("PanicStack found a panic in a plain parse error")
	}
}

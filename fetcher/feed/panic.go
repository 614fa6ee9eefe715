package feed

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// PanicError is the error for a document a parser panicked on. Feeds and
// pages are untrusted and the parsers are large; a bug in one must cost
// the source its fetch, reported like any parse error, not the process.
// It matches ErrParse, so the source shows as failing to parse; Stack is
// for the log, to report the bug.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("%v: the parser failed on this document (%v)", ErrParse, e.Value)
}

func (e *PanicError) Unwrap() error { return ErrParse }

// Recover turns a panic under it into a *PanicError in *err. Use as
// `defer feed.Recover(&err)`.
func Recover(err *error) {
	if r := recover(); r != nil {
		*err = &PanicError{Value: r, Stack: debug.Stack()}
	}
}

// PanicStack is the stack of the parser panic err holds, if it holds one:
// what a bug report needs.
func PanicStack(err error) (string, bool) {
	var pe *PanicError
	if !errors.As(err, &pe) {
		return "", false
	}
	return string(pe.Stack), true
}

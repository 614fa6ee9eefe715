package main

import (
	"fmt"
	"strings"

	"newswatch/classifier"
	"newswatch/config"
)

// queryProblem locates a query's syntax error at its line and column in
// the file, multi-line queries included.
func queryProblem(cfg *config.Config, i int, pe *classifier.ParseError) config.Problem {
	if strings.HasPrefix(pe.Msg, "weights:") {
		return config.Problem{Line: cfg.Line("topics", i, "weights"), Path: fmt.Sprintf("topics[%d].weights", i), Msg: pe.Error()}
	}
	p := config.Problem{Path: fmt.Sprintf("topics[%d].query", i), Msg: pe.Error()}
	line, col, excerpt, ok := cfg.ValuePosition(pe.Pos, "topics", i, "query")
	p.Line = line
	if ok {
		p.Column, p.Excerpt = col, excerpt
		p.Msg = fmt.Sprintf("topic %q: %s", pe.Topic, pe.Msg)
	}
	return p
}

// count writes n things, singular for one: "1 source", "2 sources".
func count(n int, thing string) string { return fmt.Sprintf("%d %s%s", n, thing, plural(n)) }

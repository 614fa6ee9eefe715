package config

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// yaml.v3 names the line where the construct around a syntax error began
// (the whole document's mapping, often), and for parser errors that line
// is off by one: uncommenting an example list under "subscribers: []"
// is reported at the top of the file. The spot a reader would point at is
// found by parsing ever longer prefixes of the file: the first prefix
// that already fails with the same error ends where the problem is (an
// unclosed [ or quote, then, is found where it opens).

// maxPrefixBytes bounds the work spent locating one syntax error: the
// bytes parsed in all (a few ms for a config of a few hundred lines).
const maxPrefixBytes = 64 << 20

// syntaxProblem turns a yaml.v3 syntax error on data into a Problem with
// the line, column and an excerpt of where the problem is.
func syntaxProblem(data []byte, err error) Problem {
	msg := err.Error()
	p := Problem{Line: yamlErrLine(err), Msg: cleanYAMLErr(err)}
	if p.Line == 0 {
		return p
	}
	budget := maxPrefixBytes
	fails := func(prefix []byte) bool {
		budget -= len(prefix)
		var n yaml.Node
		e := yaml.Unmarshal(prefix, &n)
		return e != nil && e.Error() == msg
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	// The problem is at or after the reported line: yaml.v3 reports the
	// start of an enclosing construct, 0-based for parser errors.
	at := 0
	for k := max(p.Line-1, 1); k <= len(lines) && budget > 0; k++ {
		if fails(bytes.Join(lines[:k], nil)) {
			at = k
			break
		}
	}
	if at == 0 {
		return p
	}
	p.Line = at
	before := bytes.Join(lines[:at-1], nil)
	text := strings.TrimRight(string(lines[at-1]), "\r\n")
	for i := range text {
		if budget < 0 {
			break
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		if fails(append(before[:len(before):len(before)], text[:i+size]...)) {
			p.Column = utf8.RuneCountInString(text[:i]) + 1
			break
		}
	}
	if open, ok := unclosedFlow(lines, at, p.Column); ok {
		if open.line == at {
			p.Column = open.col
			p.Msg += fmt.Sprintf(" (this %c is not closed)", open.char)
		} else {
			p.Msg += fmt.Sprintf(" (the %c on line %d, column %d is not closed)", open.char, open.line, open.col)
		}
	}
	p.Msg += emptyValueHint(lines, at)
	if rs := []rune(text); p.Column > 0 && p.Column <= len(rs) {
		switch {
		case strings.Contains(p.Msg, "unexpected end of stream") && (rs[p.Column-1] == '"' || rs[p.Column-1] == '\''):
			p.Msg += fmt.Sprintf(" (the %c here is not closed)", rs[p.Column-1])
		case p.Column > 1 && rs[p.Column-2] == '\'':
			p.Msg += " (inside '...', write a ' as '')"
		}
	}
	p.Excerpt = excerpt(text, at, p.Column)
	return p
}

var (
	emptyFlowValue = regexp.MustCompile(`^(\s*)(?:- )?([^\s#:][^#:]*):\s+(\[\]|\{\})\s*(?:#.*)?$`)
	indentOf       = regexp.MustCompile(`^\s*`)
)

// emptyValueHint explains the commonest syntax error in a starter config:
// entries written under a key that already has an empty [] or {} value.
func emptyValueHint(lines [][]byte, at int) string {
	line := strings.TrimRight(string(lines[at-1]), "\r\n")
	indent := len(indentOf.FindString(line))
	for k := at - 1; k >= 1; k-- {
		prev := strings.TrimRight(string(lines[k-1]), "\r\n")
		t := strings.TrimSpace(prev)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		m := emptyFlowValue.FindStringSubmatch(prev)
		if m == nil || indent <= len(m[1]) {
			return ""
		}
		return fmt.Sprintf(" (line %d already gives %s the empty value %s: delete the %s to give it the entries below)", k, strings.TrimSpace(m[2]), m[3], m[3])
	}
	return ""
}

// secretLine matches lines whose value must not be shown in an excerpt.
var secretLine = regexp.MustCompile(`(?i)(password|secret|token|credential)`)

// excerpt shows line number n of the file, text, with a caret under
// column col (1-based, in characters; 0: no caret).
func excerpt(text string, n, col int) string {
	if secretLine.MatchString(text) {
		return ""
	}
	num := fmt.Sprintf("%5d | ", n)
	out := num + text
	if col > 0 {
		var pad strings.Builder
		i := 0
		for _, r := range text {
			if i++; i >= col {
				break
			}
			if r == '\t' {
				pad.WriteByte('\t')
			} else {
				pad.WriteByte(' ')
			}
		}
		out += "\n" + strings.Repeat(" ", len(num)-2) + "| " + pad.String() + "^"
	}
	return out
}

type flowOpen struct {
	line, col int
	char      rune
}

// unclosedFlow finds the innermost [ or { still open before line at,
// column col (0: the whole line): the usual cause of a syntax error a few
// lines after it. It reads YAML roughly: comments, quoted strings and
// block scalars are skipped, and a bracket counts only where a value can
// start or inside another bracket.
func unclosedFlow(lines [][]byte, at, col int) (flowOpen, bool) {
	var stack []flowOpen
	var quote rune
	blockIndent := -1 // inside a block scalar more indented than this
	for n := 1; n <= at && n <= len(lines); n++ {
		line := strings.TrimRight(string(lines[n-1]), "\r\n")
		indent := len(indentOf.FindString(line))
		if blockIndent >= 0 {
			if strings.TrimSpace(line) == "" || indent > blockIndent {
				continue
			}
			blockIndent = -1
		}
		prev := rune(0) // last non-space character before this one
		c := 0
		for i, r := range line {
			c++
			if n == at && col > 0 && c >= col {
				break
			}
			if quote != 0 {
				if r == quote {
					quote = 0
					prev = r
				}
				continue
			}
			start := prev == 0 || strings.ContainsRune(":-[{,", prev)
			switch {
			case r == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
				goto nextLine
			case (r == '"' || r == '\'') && (start || len(stack) > 0):
				quote = r
			case (r == '[' || r == '{') && (start || len(stack) > 0):
				stack = append(stack, flowOpen{n, c, r})
			case (r == ']' || r == '}') && len(stack) > 0:
				stack = stack[:len(stack)-1]
			case (r == '|' || r == '>') && start && len(stack) == 0 && prev != 0:
				blockIndent = indent
			}
			if r != ' ' && r != '\t' {
				prev = r
			}
		}
	nextLine:
		if quote == '\'' || quote == '"' {
			// A quoted scalar may go on over lines; keep the state.
			continue
		}
	}
	if len(stack) == 0 {
		return flowOpen{}, false
	}
	return stack[len(stack)-1], true
}

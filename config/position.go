package config

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
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
// bytes parsed in all: a config of a few hundred lines takes a few ms,
// a pathological one (a 100 KB line) at most about a second.
const maxPrefixBytes = 8 << 20

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
		case rs[p.Column-1] == '\t':
			p.Msg += " (indent with spaces: YAML does not allow tabs there)"
		}
	}
	p.Excerpt = caretExcerpt(text, at, p.Column)
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

// secretLine matches lines with a key whose value must not be shown in
// an excerpt (a secret written in the file, not taken from ${VAR}).
var secretLine = regexp.MustCompile(`(?i)(^|[\s{,"'])[a-z_]*(password|secret|token|authorization)s?["']?\s*:`)

// caretExcerpt shows line number n of the file, text, with a caret under
// column col (1-based, in characters; 0: no caret).
func caretExcerpt(text string, n, col int) string {
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

// ValuePosition locates a byte offset inside the string value at path
// (e.g. a query's syntax error) in the file: line and column (1-based,
// in characters) and an excerpt with a caret there. A multi-line value
// (a | or > block, a plain or quoted scalar going on over lines) reaches
// the program folded and unescaped, so its characters are matched back
// to the file's in order. ok is false when the position cannot be told
// (no such value, or a value put in by ${VAR}); line is then the line of
// path, as Line gives it.
func (c *Config) ValuePosition(offset int, path ...any) (line, col int, excerpt string, ok bool) {
	line, n := c.nodeAt(path...)
	if n == nil || n.Kind != yaml.ScalarNode || c.src == nil || c.wasExpanded(n) || offset < 0 || offset > len(n.Value) {
		return line, 0, "", false
	}
	src := c.src
	// The scalar's first character, from its 1-based line and column.
	i := 0
	for l := 1; l < n.Line; l++ {
		j := bytes.IndexByte(src[i:], '\n')
		if j < 0 {
			return line, 0, "", false
		}
		i += j + 1
	}
	for col := 1; col < n.Column && i < len(src) && src[i] != '\n'; col++ {
		_, size := utf8.DecodeRune(src[i:])
		i += size
	}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		// The text starts on the line after the | or > header.
		j := bytes.IndexByte(src[i:], '\n')
		if j < 0 {
			return line, 0, "", false
		}
		i += j + 1
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		i++
	}
	// Match the value's bytes in order; what the file has beyond them
	// (indentation, line breaks folded into spaces, quotes) is skipped,
	// and escapes of a "..." scalar are decoded first.
	v := []byte(n.Value)
	k, at, after := 0, -1, i
	for i < len(src) && at < 0 && k < len(v) {
		unit, next := []byte{src[i]}, i+1
		if n.Style == yaml.DoubleQuotedStyle && src[i] == '\\' {
			unit, next = unescape(src, i)
		}
		if len(unit) > 0 && bytes.HasPrefix(v[k:], unit) {
			if offset < k+len(unit) {
				at = i
			}
			k += len(unit)
			after = next
		}
		i = next
	}
	switch {
	case at >= 0:
		i = at
	case k == len(v) && offset == len(v):
		i = after
	default:
		return line, 0, "", false
	}
	start := bytes.LastIndexByte(src[:i], '\n') + 1
	line = bytes.Count(src[:start], []byte("\n")) + 1
	col = utf8.RuneCount(src[start:i]) + 1
	end := bytes.IndexByte(src[start:], '\n')
	if end < 0 {
		end = len(src) - start
	}
	text := strings.TrimRight(string(src[start:start+end]), "\r")
	return line, col, caretExcerpt(text, line, col), true
}

// unescape decodes the escape at src[i] ('\\') of a double-quoted
// scalar: the bytes it stands for and where the next character starts.
func unescape(src []byte, i int) ([]byte, int) {
	if i+1 >= len(src) {
		return nil, i + 1
	}
	simple := map[byte]string{'0': "\x00", 'a': "\a", 'b': "\b", 't': "\t", '\t': "\t", 'n': "\n", 'v': "\v", 'f': "\f",
		'r': "\r", 'e': "\x1b", ' ': " ", '"': "\"", '/': "/", '\\': "\\", 'N': "\u0085", '_': "\u00a0", 'L': "\u2028", 'P': "\u2029"}
	c := src[i+1]
	if r, ok := simple[c]; ok {
		return []byte(r), i + 2
	}
	width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
	if width > 0 && i+2+width <= len(src) {
		if r, err := strconv.ParseUint(string(src[i+2:i+2+width]), 16, 32); err == nil {
			return utf8.AppendRune(nil, rune(r)), i + 2 + width
		}
	}
	return nil, i + 2 // an escaped line break, or unknown: nothing
}

package classifier

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ParseError is a syntax error in one topic's query.
type ParseError struct {
	Topic string // topic id
	Pos   int    // byte offset in the query
	Msg   string // what was found and what was expected
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("topic %q: query position %d: %s", e.Topic, e.Pos, e.Msg)
}

// Field identifies a part of an article.
type field uint8

const (
	fTitle field = iota
	fSummary
	fContent
	fCategory
	fURL
	fSource
	// fLead is not scanned on its own: it is the summary plus the first
	// leadWords words of the content, where news writing says what an
	// article is about. Hits there count for both fields.
	fLead
	numFields
)

// leadWords is how much of the content counts as its lead.
const leadWords = 50

var fieldNames = [numFields]string{"title", "summary", "content", "category", "url", "source", "lead"}

func fieldByName(s string) (field, bool) {
	for i, n := range fieldNames {
		if n == s {
			return field(i), true
		}
	}
	return 0, false
}

// fieldSet is a set of fields, one bit per field.
type fieldSet uint8

// defaultFields are searched by a term without a field scope: the text of
// the article, not its metadata.
const defaultFields = fieldSet(1<<fTitle | 1<<fSummary | 1<<fContent)

func (s fieldSet) has(f field) bool { return s&(1<<f) != 0 }

type kind uint8

const (
	kTerm    kind = iota // a word, phrase or prefix
	kAnd                 // all kids
	kOr                  // any kid
	kNot                 // kids[0] absent
	kNear                // kids[0] and kids[1] within n words (ordered: in that order)
	kAtLeast             // kids[0]'s terms occur at least n times
	kTopic               // another topic (text: its id) matches
)

// node is a parsed query.
type node struct {
	kind kind
	pos  int // byte offset in the query, for errors and explanations

	// kTerm
	text    string   // as written, without quotes, '*', boost or scope
	phrase  bool     // written in double quotes
	prefix  bool     // trailing '*'
	exact   bool     // written in braces: case must match
	scope   fieldSet // explicit field scope; 0: defaultFields
	boost   float64  // ^n; 0 means 1
	pattern int      // compiled pattern id
	ref     int      // kTopic: index of the topic it names

	// operators
	kids    []*node
	n       int  // NEAR/n distance, ATLEAST/n count
	ordered bool // ONEAR
}

func (n *node) fields() fieldSet {
	if n.scope == 0 {
		return defaultFields
	}
	return n.scope
}

// String prints the query in a form that parses back to the same tree.
// A group whose terms all share one field scope is printed with the scope
// in front of the group, as it is usually written: title:(a OR b).
func (n *node) String() string {
	var b strings.Builder
	n.write(&b, false, 0)
	return b.String()
}

// commonScope returns the scope shared by every term under n, or 0.
func commonScope(n *node) fieldSet {
	if n.kind == kTerm {
		return n.scope
	}
	var s fieldSet
	for i, k := range n.kids {
		ks := commonScope(k)
		if ks == 0 || (i > 0 && ks != s) {
			return 0
		}
		s = ks
	}
	return s
}

func writeScope(b *strings.Builder, s fieldSet) {
	for f := field(0); f < numFields; f++ {
		if s.has(f) {
			b.WriteString(fieldNames[f])
			b.WriteByte(':')
			return
		}
	}
}

// write prints n; nested asks for parentheses around a binary operator,
// and outer is a scope already printed around n.
func (n *node) write(b *strings.Builder, nested bool, outer fieldSet) {
	switch n.kind {
	case kTerm:
		if n.scope != 0 && n.scope != outer {
			writeScope(b, n.scope)
		}
		switch {
		case n.phrase:
			b.WriteByte('"')
			b.WriteString(n.text)
			if n.prefix {
				b.WriteByte('*')
			}
			b.WriteByte('"')
		case n.exact:
			b.WriteByte('{')
			b.WriteString(n.text)
			b.WriteByte('}')
		default:
			b.WriteString(n.text)
			if n.prefix {
				b.WriteByte('*')
			}
		}
		if n.boost != 0 && n.boost != 1 {
			b.WriteByte('^')
			b.WriteString(strconv.FormatFloat(n.boost, 'g', -1, 64))
		}
		return
	case kTopic:
		b.WriteString("topic:")
		b.WriteString(n.text)
		return
	case kNot:
		b.WriteString("NOT ")
		n.kids[0].write(b, true, outer)
		return
	case kAtLeast:
		fmt.Fprintf(b, "ATLEAST/%d ", n.n)
		n.kids[0].write(b, true, outer)
		return
	}
	if s := commonScope(n); s != 0 && s != outer {
		writeScope(b, s)
		outer, nested = s, true
	}
	if nested {
		b.WriteByte('(')
	}
	for i, k := range n.kids {
		if i > 0 {
			switch n.kind {
			case kAnd:
				b.WriteString(" AND ")
			case kOr:
				b.WriteString(" OR ")
			case kNear:
				if n.ordered {
					fmt.Fprintf(b, " ONEAR/%d ", n.n)
				} else {
					fmt.Fprintf(b, " NEAR/%d ", n.n)
				}
			}
		}
		k.write(b, true, outer)
	}
	if nested {
		b.WriteByte(')')
	}
}

// Parsing.

type tokKind uint8

const (
	tEOF tokKind = iota
	tWord
	tPhrase
	tExact
	tLParen
	tRParen
	tAnd
	tOr
	tNot
	tMinus
	tNear
	tONear
	tAtLeast
	tField // "title:" and the like
	tTopic // "topic:id"
)

type token struct {
	kind   tokKind
	pos    int
	text   string  // word, phrase or field name
	n      int     // NEAR/n, ATLEAST/n
	prefix bool    // word*
	boost  float64 // ^n
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tWord:
		return strconv.Quote(t.text)
	case tPhrase:
		return "phrase \"" + t.text + "\""
	case tExact:
		return "{" + t.text + "}"
	case tLParen:
		return "'('"
	case tRParen:
		return "')'"
	case tAnd:
		return "AND"
	case tOr:
		return "OR"
	case tNot:
		return "NOT"
	case tMinus:
		return "'-'"
	case tNear:
		return fmt.Sprintf("NEAR/%d", t.n)
	case tONear:
		return fmt.Sprintf("ONEAR/%d", t.n)
	case tAtLeast:
		return fmt.Sprintf("ATLEAST/%d", t.n)
	case tField:
		return t.text + ":"
	case tTopic:
		return "topic:" + t.text
	}
	return "?"
}

// maxN bounds NEAR/n and ATLEAST/n so that a typo cannot make evaluation
// expensive.
const maxN = 1000

type parser struct {
	src   string
	pos   int
	tok   token
	err   *ParseError
	topic string
}

func (p *parser) fail(pos int, format string, args ...any) {
	if p.err == nil {
		p.err = &ParseError{Topic: p.topic, Pos: pos, Msg: fmt.Sprintf(format, args...)}
	}
}

// isWordDelim ends a bare word.
func isWordDelim(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune(`()"{}^:*`, r)
}

// next reads the next token into p.tok.
func (p *parser) next() {
	if p.err != nil {
		p.tok = token{kind: tEOF, pos: len(p.src)}
		return
	}
	s := p.src
	for p.pos < len(s) {
		r, size := utf8.DecodeRuneInString(s[p.pos:])
		if !unicode.IsSpace(r) {
			break
		}
		p.pos += size
	}
	start := p.pos
	if start >= len(s) {
		p.tok = token{kind: tEOF, pos: start}
		return
	}
	switch s[start] {
	case '(':
		p.pos++
		p.tok = token{kind: tLParen, pos: start}
		return
	case ')':
		p.pos++
		p.tok = token{kind: tRParen, pos: start}
		return
	case '-':
		p.pos++
		p.tok = token{kind: tMinus, pos: start}
		return
	case '"':
		end := strings.IndexByte(s[start+1:], '"')
		if end < 0 {
			p.fail(start, "unterminated phrase: expected a closing '\"'")
			p.tok = token{kind: tEOF, pos: len(s)}
			return
		}
		text := s[start+1 : start+1+end]
		p.pos = start + end + 2
		t := token{kind: tPhrase, pos: start, text: text}
		if strings.HasSuffix(text, "*") {
			t.text, t.prefix = strings.TrimSuffix(text, "*"), true
		}
		if strings.ContainsAny(t.text, `*`) {
			p.fail(start+1+strings.IndexByte(text, '*'), "'*' is allowed only at the end of a phrase")
		}
		if strings.TrimSpace(t.text) == "" {
			p.fail(start, "empty phrase: expected text between the quotes")
		}
		p.tok = p.boost(t)
		return
	case '{':
		end := strings.IndexByte(s[start+1:], '}')
		if end < 0 {
			p.fail(start, "unterminated exact-case term: expected a closing '}'")
			p.tok = token{kind: tEOF, pos: len(s)}
			return
		}
		text := s[start+1 : start+1+end]
		p.pos = start + end + 2
		if strings.TrimSpace(text) == "" || strings.ContainsAny(text, `{"*`) {
			p.fail(start, "expected text between '{' and '}' (no quotes or '*')")
		}
		p.tok = p.boost(token{kind: tExact, pos: start, text: text})
		return
	case '}', '^', '*', ':':
		p.fail(start, "unexpected %q: expected a term, a phrase, '(' or NOT", s[start])
		p.tok = token{kind: tEOF, pos: start}
		return
	}
	end := start
	for end < len(s) {
		r, size := utf8.DecodeRuneInString(s[end:])
		if isWordDelim(r) {
			break
		}
		end += size
	}
	word := s[start:end]
	p.pos = end
	if end < len(s) && s[end] == ':' && word == "topic" {
		// topic:id names another topic; ids are words with '-', '_'
		// and '.', so a bare word's delimiters end it.
		idStart := end + 1
		idEnd := idStart
		for idEnd < len(s) {
			r, size := utf8.DecodeRuneInString(s[idEnd:])
			if isWordDelim(r) {
				break
			}
			idEnd += size
		}
		if idEnd == idStart {
			p.fail(start, "expected a topic id after \"topic:\"")
		}
		p.pos = idEnd
		p.tok = token{kind: tTopic, pos: start, text: s[idStart:idEnd]}
		return
	}
	if end < len(s) && s[end] == ':' {
		f, ok := fieldByName(word)
		if !ok {
			p.fail(start, "unknown field %q: expected title, lead, summary, content, category, url, source or topic", word)
		}
		p.pos++
		p.tok = token{kind: tField, pos: start, text: fieldNames[f]}
		return
	}
	switch word {
	case "AND":
		p.tok = token{kind: tAnd, pos: start}
		return
	case "OR":
		p.tok = token{kind: tOr, pos: start}
		return
	case "NOT":
		p.tok = token{kind: tNot, pos: start}
		return
	}
	for _, op := range []struct {
		name string
		kind tokKind
	}{{"NEAR", tNear}, {"ONEAR", tONear}, {"ATLEAST", tAtLeast}} {
		if word == op.name || strings.HasPrefix(word, op.name+"/") {
			n, err := strconv.Atoi(strings.TrimPrefix(word, op.name+"/"))
			if word == op.name || err != nil || n < 1 || n > maxN {
				p.fail(start, "expected %s/n with n a number from 1 to %d, found %q", op.name, maxN, word)
			}
			p.tok = token{kind: op.kind, pos: start, n: n}
			return
		}
	}
	t := token{kind: tWord, pos: start, text: word}
	if p.pos < len(s) && s[p.pos] == '*' {
		t.prefix = true
		p.pos++
	}
	p.tok = p.boost(t)
}

// boost reads an optional ^n after a term.
func (p *parser) boost(t token) token {
	s := p.src
	if p.pos >= len(s) || s[p.pos] != '^' {
		return t
	}
	start := p.pos + 1
	end := start
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.') {
		end++
	}
	v, err := strconv.ParseFloat(s[start:end], 64)
	if err != nil || v <= 0 || v > 1000 {
		p.fail(p.pos, "expected a boost ^n with n a number above 0 and up to 1000")
	}
	p.pos = end
	t.boost = v
	return t
}

// parse parses a whole query.
func parse(topic, src string) (*node, error) {
	p := &parser{src: src, topic: topic}
	p.next()
	n := p.or()
	if p.err == nil && p.tok.kind != tEOF {
		switch p.tok.kind {
		case tRParen:
			p.fail(p.tok.pos, "unbalanced ')': expected AND, OR, NEAR/n or end of query")
		case tWord, tPhrase, tExact, tLParen, tField, tTopic, tNot, tMinus, tAtLeast:
			hint := ""
			if w := strings.ToUpper(p.tok.text); p.tok.kind == tWord && (w == "AND" || w == "OR" || w == "NOT" || w == "NEAR") {
				hint = " (operators are written in upper case)"
			}
			p.fail(p.tok.pos, "found %s: expected AND, OR, NEAR/n or end of query; terms are not joined implicitly%s", p.tok, hint)
		default:
			p.fail(p.tok.pos, "found %s: expected AND, OR, NEAR/n or end of query", p.tok)
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	return n, nil
}

func (p *parser) or() *node {
	n := p.and()
	if p.tok.kind != tOr {
		return n
	}
	or := &node{kind: kOr, pos: n.pos, kids: []*node{n}}
	for p.tok.kind == tOr && p.err == nil {
		p.next()
		or.kids = append(or.kids, p.and())
	}
	return or
}

func (p *parser) and() *node {
	n := p.near()
	if p.tok.kind != tAnd {
		return n
	}
	and := &node{kind: kAnd, pos: n.pos, kids: []*node{n}}
	for p.tok.kind == tAnd && p.err == nil {
		p.next()
		and.kids = append(and.kids, p.near())
	}
	return and
}

func (p *parser) near() *node {
	n := p.unary()
	if p.tok.kind != tNear && p.tok.kind != tONear {
		return n
	}
	op := p.tok
	p.next()
	right := p.unary()
	near := &node{kind: kNear, pos: n.pos, kids: []*node{n, right}, n: op.n, ordered: op.kind == tONear}
	if p.err == nil {
		for _, k := range near.kids {
			if !isTermSet(k) {
				p.fail(k.pos, "%s takes terms, phrases or OR-groups of them on each side", op)
			}
		}
	}
	if p.err == nil && (p.tok.kind == tNear || p.tok.kind == tONear) {
		p.fail(p.tok.pos, "found a second %s: expected AND, OR or ')'; group with parentheses", p.tok)
	}
	return near
}

// isTermSet reports whether n is a term or an OR of terms: the operands of
// NEAR and ATLEAST, which need hit positions and counts, not truth values.
func isTermSet(n *node) bool {
	switch n.kind {
	case kTerm:
		return true
	case kOr:
		for _, k := range n.kids {
			if !isTermSet(k) {
				return false
			}
		}
		return true
	}
	return false
}

func (p *parser) unary() *node {
	t := p.tok
	switch t.kind {
	case tNot, tMinus:
		p.next()
		return &node{kind: kNot, pos: t.pos, kids: []*node{p.unary()}}
	case tAtLeast:
		p.next()
		k := p.unary()
		if p.err == nil && !isTermSet(k) {
			p.fail(k.pos, "%s takes a term, a phrase or an OR-group of them", t)
		}
		return &node{kind: kAtLeast, pos: t.pos, n: t.n, kids: []*node{k}}
	}
	return p.primary()
}

func (p *parser) primary() *node {
	t := p.tok
	switch t.kind {
	case tLParen:
		p.next()
		n := p.or()
		if p.err == nil && p.tok.kind != tRParen {
			p.fail(p.tok.pos, "found %s: expected ')' to close the '(' at position %d", p.tok, t.pos)
		}
		p.next()
		return n
	case tTopic:
		p.next()
		return &node{kind: kTopic, pos: t.pos, text: t.text}
	case tField:
		p.next()
		f, _ := fieldByName(t.text)
		n := p.primary()
		if p.err == nil && n.kind == kTopic {
			p.fail(n.pos, "a field scope does not apply to topic:%s (the topic's own query says where to look)", n.text)
		}
		setScope(n, fieldSet(1<<f))
		return n
	case tWord, tPhrase, tExact:
		p.next()
		n := &node{kind: kTerm, pos: t.pos, text: t.text, phrase: t.kind == tPhrase, exact: t.kind == tExact, prefix: t.prefix, boost: t.boost}
		if !hasWordRune(foldString(t.text)) {
			p.fail(t.pos, "term %s has no letters or digits to match", t)
		}
		return n
	}
	p.fail(t.pos, "found %s: expected a term, a phrase, '(' or NOT", t)
	p.next()
	return &node{kind: kOr, pos: t.pos} // placeholder; the error wins
}

// setScope gives every term under n the field scope s, unless a term has
// its own (inner scopes win).
func setScope(n *node, s fieldSet) {
	if n.kind == kTerm {
		if n.scope == 0 {
			n.scope = s
		}
		return
	}
	for _, k := range n.kids {
		setScope(k, s)
	}
}

func hasWordRune(s string) bool {
	for _, r := range s {
		if isWordRune(r) || isCJK(r) {
			return true
		}
	}
	return false
}

// Errors lists the errors New joined, one per problem, so that each can
// be located on its own (a *ParseError names its topic and position).
func Errors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	return []error{err}
}

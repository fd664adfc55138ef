package fake

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// The `filters` query parameter of ISC's standard collection parameters
// (developer.sailpoint.com docs/api/standard-collection-parameters.md): `field op value`, strings in
// double quotes with `\"` and `\\` escapes, `in ("a","b")`, `isnull`, combined with `and`, `or`, `not`
// and parentheses (not binds tighter than and, and than or). Operators are lowercase only. Every field
// of an API allows its own operators; anything else is an unsupported expression, which the API
// answers with 400. String comparisons ignore case (the docs: "most comparisons are not case
// sensitive", and neither API calls a field out).

// predicate tests one listed object, given as its filterable fields (absent: null).
type predicate func(fields map[string]string) bool

// filterOps are the operators each filterable field of an API allows.
type filterOps map[string][]string

// parseFilter parses a filters expression; the error is the 400's message.
func parseFilter(expr string, allowed filterOps) (predicate, error) {
	toks, err := tokenize(expr)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks, allowed: allowed}
	pred, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q in the filter", p.toks[p.pos].text)
	}
	return pred, nil
}

type tokenKind int

const (
	tokWord tokenKind = iota + 1
	tokString
	tokOpen
	tokClose
	tokComma
)

type token struct {
	kind tokenKind
	text string
}

func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		case '(':
			out, i = append(out, token{tokOpen, "("}), i+1
		case ')':
			out, i = append(out, token{tokClose, ")"}), i+1
		case ',':
			out, i = append(out, token{tokComma, ","}), i+1
		case '"':
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("unterminated string in the filter")
				}
				if s[i] == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '"' {
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			out = append(out, token{tokString, b.String()})
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r(),\"", rune(s[j])) {
				j++
			}
			out, i = append(out, token{tokWord, s[i:j]}), j
		}
	}
	return out, nil
}

type filterParser struct {
	toks    []token
	pos     int
	allowed filterOps
}

func (p *filterParser) peekWord(w string) bool {
	return p.pos < len(p.toks) && p.toks[p.pos].kind == tokWord && p.toks[p.pos].text == w
}

func (p *filterParser) next() (token, bool) {
	if p.pos >= len(p.toks) {
		return token{}, false
	}
	t := p.toks[p.pos]
	p.pos++
	return t, true
}

func (p *filterParser) or() (predicate, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peekWord("or") {
		p.pos++
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(f map[string]string) bool { return l(f) || right(f) }
	}
	return left, nil
}

func (p *filterParser) and() (predicate, error) {
	left, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.peekWord("and") {
		p.pos++
		right, err := p.not()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(f map[string]string) bool { return l(f) && right(f) }
	}
	return left, nil
}

func (p *filterParser) not() (predicate, error) {
	if p.peekWord("not") {
		p.pos++
		inner, err := p.not()
		if err != nil {
			return nil, err
		}
		return func(f map[string]string) bool { return !inner(f) }, nil
	}
	return p.primary()
}

func (p *filterParser) primary() (predicate, error) {
	t, ok := p.next()
	switch {
	case !ok:
		return nil, fmt.Errorf("the filter ends where an expression was expected")
	case t.kind == tokOpen:
		inner, err := p.or()
		if err != nil {
			return nil, err
		}
		if c, ok := p.next(); !ok || c.kind != tokClose {
			return nil, fmt.Errorf("missing ) in the filter")
		}
		return inner, nil
	case t.kind != tokWord:
		return nil, fmt.Errorf("unexpected %q in the filter", t.text)
	}
	return p.comparison(t.text)
}

func (p *filterParser) comparison(field string) (predicate, error) {
	opTok, ok := p.next()
	if !ok || opTok.kind != tokWord {
		return nil, fmt.Errorf("an operator must follow %q", field)
	}
	op := opTok.text
	ops, known := p.allowed[field]
	if !known {
		return nil, fmt.Errorf("unsupported filter field %q", field)
	}
	if !slices.Contains(ops, op) {
		return nil, fmt.Errorf("unsupported filter operator %q for field %q", op, field)
	}
	if op == "isnull" {
		return func(f map[string]string) bool { return f[field] == "" }, nil
	}
	if op == "in" {
		values, err := p.list()
		if err != nil {
			return nil, err
		}
		return func(f map[string]string) bool {
			return slices.ContainsFunc(values, func(v string) bool { return strings.EqualFold(f[field], v) })
		}, nil
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	lv := strings.ToLower(v)
	cmp := func(f map[string]string) int { return strings.Compare(strings.ToLower(f[field]), lv) }
	switch op {
	case "eq":
		return func(f map[string]string) bool { return strings.EqualFold(f[field], v) }, nil
	case "ne":
		return func(f map[string]string) bool { return !strings.EqualFold(f[field], v) }, nil
	case "co":
		return func(f map[string]string) bool { return strings.Contains(strings.ToLower(f[field]), lv) }, nil
	case "sw":
		return func(f map[string]string) bool { return strings.HasPrefix(strings.ToLower(f[field]), lv) }, nil
	case "gt":
		return func(f map[string]string) bool { return cmp(f) > 0 }, nil
	case "ge":
		return func(f map[string]string) bool { return cmp(f) >= 0 }, nil
	case "lt":
		return func(f map[string]string) bool { return cmp(f) < 0 }, nil
	case "le":
		return func(f map[string]string) bool { return cmp(f) <= 0 }, nil
	}
	return nil, fmt.Errorf("unsupported filter operator %q for field %q", op, field)
}

// value is a quoted string, or a bare true, false or number (compared as its text).
func (p *filterParser) value() (string, error) {
	t, ok := p.next()
	switch {
	case !ok:
		return "", fmt.Errorf("the filter ends where a value was expected")
	case t.kind == tokString:
		return t.text, nil
	case t.kind == tokWord && (t.text == "true" || t.text == "false" || isNumber(t.text)):
		return t.text, nil
	}
	return "", fmt.Errorf("a value must be a quoted string, true, false or a number, not %q", t.text)
}

func (p *filterParser) list() ([]string, error) {
	if t, ok := p.next(); !ok || t.kind != tokOpen {
		return nil, fmt.Errorf("in must be followed by a parenthesised list")
	}
	var values []string
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		values = append(values, v)
		t, ok := p.next()
		switch {
		case ok && t.kind == tokComma:
			continue
		case ok && t.kind == tokClose:
			return values, nil
		}
		return nil, fmt.Errorf("missing ) after the in list")
	}
}

func isNumber(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' && r != '-' }) < 0
}

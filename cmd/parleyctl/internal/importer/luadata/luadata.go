// Package luadata reads the Lua data files of Prosody's internal storage
// (mod_storage_internal): a key-value store file is "return TABLE;", an
// archive (".list") file a run of "item(TABLE);" calls. It reads Lua's
// constructor syntax only — literals, tables, and the few expressions
// Prosody's util.serialization writes for special numbers such as (1/0) —
// and never evaluates code: any other expression is a syntax error.
//
// Lua 5.4 reference manual §3.1 (lexical conventions) and §3.4.9 (table
// constructors) define what is accepted.
package luadata

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of tables: deeper input is refused, so a
// hostile file cannot exhaust the stack.
const MaxDepth = 200

// A Value is nil, bool, float64, string or *Table.
type Value any

// Table is a Lua table: its array part (positional fields, in order) and
// its keyed fields. String keys are in Fields; other keys (numbers,
// booleans) in Other, in file order.
type Table struct {
	Array  []Value
	Fields map[string]Value
	Other  []Pair
}

// Pair is a field of a table whose key is not a string.
type Pair struct {
	Key, Value Value
}

// String returns t.Fields[key] if it is a string, else "".
func (t *Table) String(key string) string {
	if t == nil {
		return ""
	}
	s, _ := t.Fields[key].(string)
	return s
}

// Table returns t.Fields[key] if it is a table, else nil.
func (t *Table) Table(key string) *Table {
	if t == nil {
		return nil
	}
	v, _ := t.Fields[key].(*Table)
	return v
}

// Bool returns t.Fields[key] if it is a boolean, else false.
func (t *Table) Bool(key string) bool {
	if t == nil {
		return false
	}
	b, _ := t.Fields[key].(bool)
	return b
}

// Number returns t.Fields[key] if it is a number (or a string holding
// one), else 0 and false.
func (t *Table) Number(key string) (float64, bool) {
	if t == nil {
		return 0, false
	}
	switch v := t.Fields[key].(type) {
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}

// SyntaxError says where the input stopped making sense.
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ReadReturn reads a key-value store file: "return VALUE" (an optional
// ";" after it).
func ReadReturn(src []byte) (Value, error) {
	p := &parser{src: src, line: 1}
	p.skip()
	if !p.word("return") {
		return nil, p.errorf("want return")
	}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skip()
	p.eat(';')
	p.skip()
	if p.pos < len(p.src) {
		return nil, p.errorf("unexpected %q after the value", p.peekText())
	}
	return v, nil
}

// ReadCalls reads a file of calls of one function with one argument each,
// "NAME(VALUE);" (archive files: NAME is item), and calls fn with each
// argument in order. fn's error stops the reading and is returned.
func ReadCalls(src []byte, name string, fn func(Value) error) error {
	p := &parser{src: src, line: 1}
	for {
		p.skip()
		if p.pos >= len(p.src) {
			return nil
		}
		if !p.word(name) {
			return p.errorf("want %s(", name)
		}
		p.skip()
		if !p.eat('(') {
			return p.errorf("want ( after %s", name)
		}
		v, err := p.value(0)
		if err != nil {
			return err
		}
		p.skip()
		if !p.eat(')') {
			return p.errorf("want ) after the argument")
		}
		p.skip()
		p.eat(';')
		if err := fn(v); err != nil {
			return err
		}
	}
}

type parser struct {
	src  []byte
	pos  int
	line int
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) peekText() string {
	end := min(p.pos+20, len(p.src))
	return string(p.src[p.pos:end])
}

// skip passes white space and comments (-- to the end of the line, or a
// long comment --[[ ... ]]).
func (p *parser) skip() {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			p.pos++
		case c == '-' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '-':
			p.pos += 2
			if level, ok := p.longOpen(); ok {
				if _, err := p.longBody(level); err != nil {
					p.pos = len(p.src)
				}
				continue
			}
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *parser) eat(c byte) bool {
	if p.pos < len(p.src) && p.src[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameByte(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }

// name reads a Lua name, or returns "".
func (p *parser) name() string {
	if p.pos >= len(p.src) || !isNameStart(p.src[p.pos]) {
		return ""
	}
	start := p.pos
	for p.pos < len(p.src) && isNameByte(p.src[p.pos]) {
		p.pos++
	}
	return string(p.src[start:p.pos])
}

// word reads the name w, or nothing.
func (p *parser) word(w string) bool {
	save := p.pos
	if p.name() == w {
		return true
	}
	p.pos = save
	return false
}

// value reads one expression of the accepted kinds.
func (p *parser) value(depth int) (Value, error) {
	p.skip()
	if p.pos >= len(p.src) {
		return nil, p.errorf("unexpected end of input")
	}
	c := p.src[p.pos]
	switch {
	case c == '{':
		if depth >= MaxDepth {
			return nil, p.errorf("tables nested deeper than %d", MaxDepth)
		}
		return p.table(depth + 1)
	case c == '"' || c == '\'':
		return p.shortString()
	case c == '[':
		level, ok := p.longOpen()
		if !ok {
			return nil, p.errorf("unexpected [")
		}
		return p.longBody(level)
	case c == '(':
		return p.special()
	case c == '-' || c == '.' || (c >= '0' && c <= '9'):
		return p.number()
	case isNameStart(c):
		switch n := p.name(); n {
		case "nil":
			return nil, nil
		case "true":
			return true, nil
		case "false":
			return false, nil
		default:
			return nil, p.errorf("unexpected name %q (only literals are read)", n)
		}
	}
	return nil, p.errorf("unexpected %q", p.peekText())
}

// special reads the parenthesised quotients util.serialization writes for
// numbers with no literal: (1/0), (-1/0), (0/0).
func (p *parser) special() (Value, error) {
	for _, s := range []struct {
		text string
		v    float64
	}{{"(1/0)", math.Inf(1)}, {"(-1/0)", math.Inf(-1)}, {"(0/0)", math.NaN()}} {
		if strings.HasPrefix(string(p.src[p.pos:min(p.pos+len(s.text), len(p.src))]), s.text) {
			p.pos += len(s.text)
			return s.v, nil
		}
	}
	return nil, p.errorf("unexpected expression %q", p.peekText())
}

func (p *parser) number() (Value, error) {
	start := p.pos
	neg := false
	if p.eat('-') {
		neg = true
		p.skip()
		if p.pos < len(p.src) && p.src[p.pos] == '-' {
			return nil, p.errorf("unexpected --")
		}
	}
	digits := p.pos
	hex := p.pos+1 < len(p.src) && p.src[p.pos] == '0' && (p.src[p.pos+1] == 'x' || p.src[p.pos+1] == 'X')
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c >= '0' && c <= '9', c == '.', (c|0x20) >= 'a' && (c|0x20) <= 'f', c == 'x', c == 'X', (c | 0x20) == 'p':
			p.pos++
		case (c == '+' || c == '-') && p.pos > digits && ((p.src[p.pos-1]|0x20) == 'e' && !hex || (p.src[p.pos-1]|0x20) == 'p' && hex):
			p.pos++
		default:
			goto done
		}
	}
done:
	text := string(p.src[digits:p.pos])
	if text == "" {
		return nil, p.errorf("bad number %q", string(p.src[start:p.pos]))
	}
	var f float64
	if hex {
		if strings.ContainsAny(text, ".pP") {
			v, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return nil, p.errorf("bad number %q", text)
			}
			f = v
		} else {
			// Lua wraps hexadecimal integers around (§3.1).
			u, err := strconv.ParseUint(text[2:], 16, 64)
			if err != nil {
				return nil, p.errorf("bad number %q", text)
			}
			f = float64(int64(u))
		}
	} else {
		if strings.ContainsAny(text, "xXpP") || strings.ContainsAny(text, "abcdfABCDF") {
			return nil, p.errorf("bad number %q", text)
		}
		v, err := strconv.ParseFloat(text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, p.errorf("bad number %q", text)
		}
		f = v
	}
	if neg {
		f = -f
	}
	return f, nil
}

// shortString reads a quoted string with Lua's escapes (§3.1).
func (p *parser) shortString() (Value, error) {
	quote := p.src[p.pos]
	p.pos++
	var b strings.Builder
	for {
		if p.pos >= len(p.src) {
			return nil, p.errorf("unfinished string")
		}
		c := p.src[p.pos]
		switch c {
		case quote:
			p.pos++
			return b.String(), nil
		case '\n':
			return nil, p.errorf("unfinished string")
		case '\\':
			p.pos++
			if err := p.escape(&b); err != nil {
				return nil, err
			}
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
}

func (p *parser) escape(b *strings.Builder) error {
	if p.pos >= len(p.src) {
		return p.errorf("unfinished string")
	}
	c := p.src[p.pos]
	p.pos++
	simple := map[byte]byte{'a': '\a', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v',
		'\\': '\\', '"': '"', '\'': '\''}
	if r, ok := simple[c]; ok {
		b.WriteByte(r)
		return nil
	}
	switch {
	case c == '\n' || c == '\r':
		// A backslash before a line break is a line break (\r\n once).
		if p.pos < len(p.src) && (p.src[p.pos] == '\n' || p.src[p.pos] == '\r') && p.src[p.pos] != c {
			p.pos++
		}
		p.line++
		b.WriteByte('\n')
	case c >= '0' && c <= '9':
		n := int(c - '0')
		for i := 0; i < 2 && p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9'; i++ {
			n = n*10 + int(p.src[p.pos]-'0')
			p.pos++
		}
		if n > 255 {
			return p.errorf("decimal escape too large")
		}
		b.WriteByte(byte(n))
	case c == 'x':
		if p.pos+2 > len(p.src) {
			return p.errorf("bad \\x escape")
		}
		v, err := strconv.ParseUint(string(p.src[p.pos:p.pos+2]), 16, 8)
		if err != nil {
			return p.errorf("bad \\x escape")
		}
		p.pos += 2
		b.WriteByte(byte(v))
	case c == 'z':
		for p.pos < len(p.src) && strings.IndexByte(" \t\r\n\f\v", p.src[p.pos]) >= 0 {
			if p.src[p.pos] == '\n' {
				p.line++
			}
			p.pos++
		}
	case c == 'u':
		if !p.eat('{') {
			return p.errorf("bad \\u escape")
		}
		start := p.pos
		for p.pos < len(p.src) && p.src[p.pos] != '}' {
			p.pos++
		}
		v, err := strconv.ParseUint(string(p.src[start:p.pos]), 16, 31)
		if err != nil || !p.eat('}') {
			return p.errorf("bad \\u escape")
		}
		b.WriteString(utf8Of(rune(v)))
	default:
		return p.errorf("invalid escape \\%c", c)
	}
	return nil
}

// utf8Of encodes r as UTF-8; Lua allows code points up to 2^31 that
// UTF-8 (RFC 3629) does not, which become U+FFFD.
func utf8Of(r rune) string {
	if !utf8.ValidRune(r) {
		return "\uFFFD"
	}
	return string(r)
}

// longOpen reads "[" "="* "[" and returns the level (the number of "=").
func (p *parser) longOpen() (int, bool) {
	if p.pos >= len(p.src) || p.src[p.pos] != '[' {
		return 0, false
	}
	i := p.pos + 1
	for i < len(p.src) && p.src[i] == '=' {
		i++
	}
	if i >= len(p.src) || p.src[i] != '[' {
		return 0, false
	}
	level := i - p.pos - 1
	p.pos = i + 1
	return level, true
}

// longBody reads a long bracket's text up to its closing bracket of the
// same level; a line break right after the opening one is skipped.
func (p *parser) longBody(level int) (Value, error) {
	if p.pos < len(p.src) && p.src[p.pos] == '\r' {
		p.pos++
	}
	if p.pos < len(p.src) && p.src[p.pos] == '\n' {
		p.pos++
		p.line++
	}
	closing := "]" + strings.Repeat("=", level) + "]"
	end := strings.Index(string(p.src[p.pos:]), closing)
	if end < 0 {
		return nil, p.errorf("unfinished long string")
	}
	s := string(p.src[p.pos : p.pos+end])
	p.line += strings.Count(s, "\n")
	p.pos += end + len(closing)
	return s, nil
}

// table reads a table constructor: fields separated by "," or ";".
func (p *parser) table(depth int) (Value, error) {
	p.pos++ // {
	t := &Table{Fields: map[string]Value{}}
	for {
		p.skip()
		if p.eat('}') {
			return t, nil
		}
		if p.pos >= len(p.src) {
			return nil, p.errorf("unfinished table")
		}
		var key Value
		keyed := false
		switch c := p.src[p.pos]; {
		case c == '[':
			if _, ok := p.longOpenPeek(); ok {
				break // a long string as a positional value
			}
			p.pos++
			k, err := p.value(depth)
			if err != nil {
				return nil, err
			}
			p.skip()
			if !p.eat(']') {
				return nil, p.errorf("want ] after a key")
			}
			p.skip()
			if !p.eat('=') {
				return nil, p.errorf("want = after [key]")
			}
			key, keyed = k, true
		case isNameStart(c):
			save, line := p.pos, p.line
			n := p.name()
			p.skip()
			if p.pos < len(p.src) && p.src[p.pos] == '=' && (p.pos+1 >= len(p.src) || p.src[p.pos+1] != '=') {
				p.pos++
				key, keyed = n, true
			} else {
				p.pos, p.line = save, line
			}
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		if !keyed {
			t.Array = append(t.Array, v)
		} else {
			switch k := key.(type) {
			case nil:
				return nil, p.errorf("nil key")
			case string:
				if v != nil {
					t.Fields[k] = v
				}
			case float64:
				if math.IsNaN(k) {
					return nil, p.errorf("NaN key")
				}
				if v != nil {
					t.Other = append(t.Other, Pair{k, v})
				}
			default:
				if v != nil {
					t.Other = append(t.Other, Pair{k, v})
				}
			}
		}
		p.skip()
		if !p.eat(',') && !p.eat(';') {
			p.skip()
			if p.eat('}') {
				return t, nil
			}
			return nil, p.errorf("want , ; or } in a table, got %q", p.peekText())
		}
	}
}

// longOpenPeek reports whether a long bracket opens here, without moving.
func (p *parser) longOpenPeek() (int, bool) {
	save := p.pos
	level, ok := p.longOpen()
	p.pos = save
	return level, ok
}

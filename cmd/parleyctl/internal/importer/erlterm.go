package importer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ejabberd's SQL back end keeps a room's options (muc_room.opts) as an
// Erlang term in its text form (io_lib:format "~p"): a list of {Key,
// Value} tuples. erlTerm reads the literals that form uses: atoms,
// binaries (<<"text">>, <<>>, <<1,2>>), strings, integers, floats, lists
// and tuples. Nothing is evaluated.

// erlAtom, erlTuple and erlBinary are the term kinds that Go has no type
// for; lists are []any, numbers int64 or float64, strings string.
type (
	erlAtom   string
	erlTuple  []any
	erlBinary string
)

// maxTermDepth bounds nesting.
const maxTermDepth = 100

func parseErlTerm(s string) (any, error) {
	p := &erlParser{s: s}
	v, err := p.term(0)
	if err != nil {
		return nil, err
	}
	p.space()
	p.eat('.')
	p.space()
	if p.i < len(p.s) {
		return nil, fmt.Errorf("erlang term: unexpected %q at %d", p.rest(), p.i)
	}
	return v, nil
}

type erlParser struct {
	s string
	i int
}

func (p *erlParser) rest() string { return p.s[p.i:min(p.i+20, len(p.s))] }

func (p *erlParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *erlParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *erlParser) term(depth int) (any, error) {
	if depth > maxTermDepth {
		return nil, errors.New("erlang term nested too deep")
	}
	p.space()
	if p.i >= len(p.s) {
		return nil, errors.New("erlang term: unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '[':
		p.i++
		items, err := p.seq(']', depth)
		return items, err
	case c == '{':
		p.i++
		items, err := p.seq('}', depth)
		return erlTuple(items), err
	case c == '<' && strings.HasPrefix(p.s[p.i:], "<<"):
		return p.binary()
	case c == '"':
		s, err := p.quoted('"')
		return s, err
	case c == '\'':
		s, err := p.quoted('\'')
		return erlAtom(s), err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c >= 'a' && c <= 'z':
		start := p.i
		for p.i < len(p.s) && (isNameByte(p.s[p.i]) || p.s[p.i] == '@') {
			p.i++
		}
		return erlAtom(p.s[start:p.i]), nil
	}
	return nil, fmt.Errorf("erlang term: unexpected %q", p.rest())
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// seq reads comma-separated terms up to end (a list's tail "| T" is
// read and dropped).
func (p *erlParser) seq(end byte, depth int) ([]any, error) {
	var out []any
	p.space()
	if p.eat(end) {
		return out, nil
	}
	for {
		v, err := p.term(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.space()
		if p.eat(',') {
			continue
		}
		if end == ']' && p.eat('|') {
			if _, err := p.term(depth + 1); err != nil {
				return nil, err
			}
			p.space()
		}
		if p.eat(end) {
			return out, nil
		}
		return nil, fmt.Errorf("erlang term: want , or %c at %q", end, p.rest())
	}
}

func (p *erlParser) binary() (any, error) {
	p.i += 2
	p.space()
	if strings.HasPrefix(p.s[p.i:], ">>") {
		p.i += 2
		return erlBinary(""), nil
	}
	var b strings.Builder
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '"' {
			s, err := p.quoted('"')
			if err != nil {
				return nil, err
			}
			b.WriteString(s)
			// "text"/utf8 is how ~p writes non-Latin-1 text.
			p.space()
			if strings.HasPrefix(p.s[p.i:], "/utf8") {
				p.i += 5
			}
		} else {
			n, err := p.number()
			if err != nil {
				return nil, err
			}
			i, ok := n.(int64)
			if !ok || i < 0 || i > 255 {
				return nil, errors.New("erlang term: bad byte in a binary")
			}
			b.WriteByte(byte(i))
		}
		p.space()
		if p.eat(',') {
			continue
		}
		if strings.HasPrefix(p.s[p.i:], ">>") {
			p.i += 2
			return erlBinary(b.String()), nil
		}
		return nil, fmt.Errorf("erlang term: bad binary at %q", p.rest())
	}
}

// quoted reads a quoted string or atom with Erlang's escapes.
func (p *erlParser) quoted(q byte) (string, error) {
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == q:
			return b.String(), nil
		case c == '\\' && p.i < len(p.s):
			e := p.s[p.i]
			p.i++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 's':
				b.WriteByte(' ')
			case 'x':
				end := strings.IndexByte(p.s[p.i:], '}')
				if p.i < len(p.s) && p.s[p.i] == '{' && end > 0 {
					v, err := strconv.ParseUint(p.s[p.i+1:p.i+end], 16, 32)
					if err != nil {
						return "", errors.New("erlang term: bad \\x escape")
					}
					b.WriteRune(rune(v))
					p.i += end + 1
				} else if p.i+2 <= len(p.s) {
					v, err := strconv.ParseUint(p.s[p.i:p.i+2], 16, 8)
					if err != nil {
						return "", errors.New("erlang term: bad \\x escape")
					}
					b.WriteByte(byte(v))
					p.i += 2
				}
			default:
				if e >= '0' && e <= '7' {
					n := int(e - '0')
					for k := 0; k < 2 && p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '7'; k++ {
						n = n*8 + int(p.s[p.i]-'0')
						p.i++
					}
					b.WriteByte(byte(n))
				} else {
					b.WriteByte(e)
				}
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("erlang term: unfinished string")
}

func (p *erlParser) number() (any, error) {
	start := p.i
	p.eat('-')
	for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || strings.IndexByte(".eE+-#", p.s[p.i]) >= 0 && p.i > start) {
		if (p.s[p.i] == '+' || p.s[p.i] == '-') && (p.s[p.i-1]|0x20) != 'e' {
			break
		}
		p.i++
	}
	text := p.s[start:p.i]
	if i, err := strconv.ParseInt(text, 10, 64); err == nil {
		return i, nil
	}
	if f, err := strconv.ParseFloat(text, 64); err == nil {
		return f, nil
	}
	return nil, fmt.Errorf("erlang term: bad number %q", text)
}

// erlProplist maps a list of {Key, Value} tuples by key.
func erlProplist(v any) map[string]any {
	out := map[string]any{}
	list, _ := v.([]any)
	for _, it := range list {
		if t, ok := it.(erlTuple); ok && len(t) == 2 {
			if k, ok := t[0].(erlAtom); ok {
				out[string(k)] = t[1]
			}
		}
	}
	return out
}

// erlText is a binary's or string's text.
func erlText(v any) string {
	switch v := v.(type) {
	case erlBinary:
		return string(v)
	case string:
		return v
	}
	return ""
}

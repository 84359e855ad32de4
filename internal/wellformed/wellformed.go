// Package wellformed checks the parts of XML well-formedness that
// encoding/xml does not, and repairs stored XML that lacks them.
//
// encoding/xml's strict decoder rejects bad syntax, characters outside the
// XML Char production and undefined entities, but it accepts an attribute
// given twice (XML 1.0 §3.1, WFC: Unique Att Spec; Namespaces in XML 1.0
// §6.3 for two prefixes bound to one namespace), prefixes that were never
// declared (Namespaces §5), and declarations that bind the reserved xml and
// xmlns names (Namespaces §3). Expat, which Prosody and ejabberd parse
// with, rejects all of them; an XMPP peer must close such a stream with
// not-well-formed (RFC 6120 §4.9.3.13, §11.2). Scope.Enter checks each
// start element for them as it is read; Check and Repair apply the same
// rules to a stored fragment.
//
// The package imports nothing but the standard library, so the XMPP front
// door and the storage migrations that repair archived stanzas share it.
package wellformed

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
)

// The namespace names Namespaces in XML 1.0 §3 reserves.
const (
	XMLNamespace   = "http://www.w3.org/XML/1998/namespace"
	XMLNSNamespace = "http://www.w3.org/2000/xmlns/"
)

// Error is a well-formedness violation found by Enter, Check or Repair.
type Error struct {
	Msg string
}

func (e *Error) Error() string { return "not well-formed: " + e.Msg }

func errorf(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// Scope is the namespace declarations in force at a point of a document:
// one binding per node, innermost first. The nil *Scope binds nothing (but
// the xml prefix, which is always bound). A Scope is never modified once
// made, so one may be shared.
type Scope struct {
	parent *Scope
	prefix string // "" for the default namespace
	uri    string
}

// NewScope returns the scope of a document whose context declares
// defaultNS as the default namespace ("" for none) and the given prefixes
// (pairs: prefix, namespace name). An XMPP stream's content, say, is read
// in NewScope("jabber:client", "stream", "http://etherx.jabber.org/streams").
func NewScope(defaultNS string, prefixURI ...string) *Scope {
	var s *Scope
	if defaultNS != "" {
		s = &Scope{prefix: "", uri: defaultNS}
	}
	for i := 0; i+1 < len(prefixURI); i += 2 {
		s = &Scope{parent: s, prefix: prefixURI[i], uri: prefixURI[i+1]}
	}
	return s
}

// binds reports whether some declaration in scope binds uri.
func (s *Scope) binds(uri string) bool {
	for ; s != nil; s = s.parent {
		if s.uri == uri {
			return true
		}
	}
	return false
}

// isDeclaration reports whether a (as encoding/xml's Token returns it) is
// a namespace declaration, and of which prefix ("" for the default).
func isDeclaration(a xml.Attr) (prefix string, ok bool) {
	switch {
	case a.Name.Space == "xmlns":
		return a.Name.Local, true
	case a.Name.Space == "" && a.Name.Local == "xmlns":
		return "", true
	}
	return "", false
}

// Duplicates returns the indexes of the attributes of start (as
// encoding/xml's Decoder.Token returns it, names resolved) that repeat an
// earlier one: the same namespace and local name, or a second declaration
// of the same prefix. Nil when there are none.
func Duplicates(start xml.StartElement) []int {
	var dup []int
	for i := 1; i < len(start.Attr); i++ {
		a := start.Attr[i]
		ap, aDecl := isDeclaration(a)
		for _, b := range start.Attr[:i] {
			bp, bDecl := isDeclaration(b)
			if aDecl != bDecl {
				continue
			}
			if (aDecl && ap == bp) || (!aDecl && a.Name == b.Name) {
				dup = append(dup, i)
				break
			}
		}
	}
	return dup
}

// Enter checks start, a start element as encoding/xml's Decoder.Token
// returns it (names resolved), read where s is in force, and returns the
// scope of its content. It reports attributes given twice, names with a
// prefix no declaration binds, names with more than one colon, and
// declarations Namespaces in XML 1.0 §3 forbids.
func (s *Scope) Enter(start xml.StartElement) (*Scope, error) {
	if i := Duplicates(start); i != nil {
		a := start.Attr[i[0]].Name
		if a.Space != "" {
			return nil, errorf("attribute {%s}%s given twice", a.Space, a.Local)
		}
		return nil, errorf("attribute %s given twice", a.Local)
	}
	inner := s
	for _, a := range start.Attr {
		prefix, ok := isDeclaration(a)
		if !ok {
			continue
		}
		switch {
		case prefix == "xmlns":
			return nil, errorf("the xmlns prefix must not be declared")
		case prefix == "xml":
			if a.Value != XMLNamespace {
				return nil, errorf("the xml prefix must not be bound to another namespace")
			}
			continue // bound already
		case a.Value == XMLNamespace || a.Value == XMLNSNamespace:
			return nil, errorf("the namespace %s must not be declared", a.Value)
		case prefix != "" && a.Value == "":
			return nil, errorf("prefix %s must not be undeclared", prefix)
		}
		inner = &Scope{parent: inner, prefix: prefix, uri: a.Value}
	}
	if err := inner.checkName(start.Name, "element"); err != nil {
		return nil, err
	}
	for _, a := range start.Attr {
		if _, ok := isDeclaration(a); ok {
			continue
		}
		if err := inner.checkName(a.Name, "attribute"); err != nil {
			return nil, err
		}
	}
	return inner, nil
}

// checkName checks a resolved name: encoding/xml leaves the prefix itself
// in Space when no declaration binds it, and keeps a colon that starts or
// ends a name in Local.
func (s *Scope) checkName(n xml.Name, what string) error {
	for i := 0; i < len(n.Local); i++ {
		if n.Local[i] == ':' {
			return errorf("%s name %q is not a qualified name", what, n.Local)
		}
	}
	if n.Space == "" || n.Space == XMLNamespace || s.binds(n.Space) {
		return nil
	}
	return errorf("%s %s:%s has an undeclared prefix", what, n.Space, n.Local)
}

// IsChar reports whether r is a character XML 1.0 allows (§2.2, Char).
func IsChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// wrap returns fragment inside a start and end tag that declare s's
// bindings, so that a decoder resolves the fragment's names as s does.
func (s *Scope) wrap(fragment []byte) (wrapped []byte, offset int) {
	var b bytes.Buffer
	b.WriteString("<wellformed")
	seen := map[string]bool{}
	for n := s; n != nil; n = n.parent {
		if seen[n.prefix] {
			continue // shadowed by an inner declaration
		}
		seen[n.prefix] = true
		b.WriteString(" xmlns")
		if n.prefix != "" {
			b.WriteString(":" + n.prefix)
		}
		b.WriteString(`="`)
		_ = xml.EscapeText(&b, []byte(n.uri))
		b.WriteString(`"`)
	}
	b.WriteString(">")
	offset = b.Len()
	b.Write(fragment)
	b.WriteString("</wellformed>")
	return b.Bytes(), offset
}

// Check reports whether fragment is one well-formed, namespace-well-formed
// element read where s is in force, with nothing but whitespace around
// it. It returns nil or the first violation.
func Check(fragment []byte, s *Scope) error {
	wrapped, _ := s.wrap(fragment)
	d := xml.NewDecoder(bytes.NewReader(wrapped))
	d.Strict = true
	scopes := []*Scope{nil}
	roots := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return &Error{Msg: err.Error()}
		}
		depth := len(scopes) - 1
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 1 {
				roots++
			}
			inner, err := scopes[depth].Enter(t)
			if err != nil {
				return err
			}
			scopes = append(scopes, inner)
		case xml.EndElement:
			scopes = scopes[:depth]
		case xml.CharData:
			if depth == 1 && len(bytes.TrimSpace(t)) > 0 {
				return errorf("text outside of the element")
			}
		case xml.ProcInst, xml.Directive:
			if depth <= 1 {
				return errorf("%T outside of the element", t)
			}
		}
	}
	if roots != 1 {
		return errorf("%d elements, want one", roots)
	}
	return nil
}

// Repair returns fragment made well-formed, as far as that can be done
// without guessing: every character XML does not allow (and every byte
// that is not UTF-8) becomes U+FFFD, and every attribute that repeats an
// earlier one on the same element is dropped (the first one is what every
// reader of this server saw). Every other byte is kept as it was. If the
// result is still not well-formed (Check), Repair returns the violation.
// A fragment that is well-formed already comes back unchanged.
func Repair(fragment []byte, s *Scope) ([]byte, error) {
	fixed := replaceInvalidChars(fragment)
	wrapped, offset := s.wrap(fixed)
	// Two decoders walk the same bytes in step: one resolves names, to
	// find the duplicates by namespace; the other gives the names as
	// written, to write a start tag again without them.
	resolved := xml.NewDecoder(bytes.NewReader(wrapped))
	resolved.Strict = true
	raw := xml.NewDecoder(bytes.NewReader(wrapped))
	raw.Strict = true
	var out bytes.Buffer
	prev := int64(offset)
	for {
		tok, err := resolved.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &Error{Msg: err.Error()}
		}
		rawTok, err := raw.RawToken()
		if err != nil {
			return nil, &Error{Msg: err.Error()}
		}
		end := raw.InputOffset()
		if end <= int64(offset) || end > int64(offset+len(fixed)) {
			continue // the wrapper
		}
		start, ok := tok.(xml.StartElement)
		drop := Duplicates(start)
		if ok && drop != nil {
			writeStartTag(&out, rawTok.(xml.StartElement), drop, bytes.HasSuffix(wrapped[prev:end], []byte("/>")))
		} else {
			out.Write(wrapped[prev:end])
		}
		prev = end
	}
	out.Write(wrapped[prev : offset+len(fixed)])
	repaired := out.Bytes()
	if err := Check(repaired, s); err != nil {
		return nil, err
	}
	if bytes.Equal(repaired, fragment) {
		return fragment, nil
	}
	return repaired, nil
}

// replaceInvalidChars returns b with U+FFFD for every byte sequence that
// is not UTF-8 and every character IsChar refuses; b itself when there is
// none.
func replaceInvalidChars(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		bad := (r == utf8.RuneError && size == 1) || !IsChar(r)
		if bad && out == nil {
			out = append(make([]byte, 0, len(b)+8), b[:i]...)
		}
		switch {
		case bad:
			out = utf8.AppendRune(out, utf8.RuneError)
		case out != nil:
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	if out == nil {
		return b
	}
	return out
}

// writeStartTag writes a start tag with the names as written in the
// source, without the attributes at the indexes in drop.
func writeStartTag(b *bytes.Buffer, start xml.StartElement, drop []int, empty bool) {
	b.WriteByte('<')
	writeQName(b, start.Name)
	for i, a := range start.Attr {
		if slices.Contains(drop, i) {
			continue
		}
		b.WriteByte(' ')
		writeQName(b, a.Name)
		b.WriteString(`="`)
		escapeAttr(b, a.Value)
		b.WriteByte('"')
	}
	if empty {
		b.WriteString("/>")
	} else {
		b.WriteByte('>')
	}
}

func writeQName(b *bytes.Buffer, n xml.Name) {
	if n.Space != "" {
		b.WriteString(n.Space)
		b.WriteByte(':')
	}
	b.WriteString(n.Local)
}

func escapeAttr(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			b.WriteString("&lt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\n':
			b.WriteString("&#xA;")
		case '\r':
			b.WriteString("&#xD;")
		case '\t':
			b.WriteString("&#x9;")
		default:
			b.WriteByte(c)
		}
	}
}

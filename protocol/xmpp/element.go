package xmpp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/parleychat/parley/internal/wellformed"
)

// Namespaces the core uses (RFC 6120 §4.8, RFC 6121).
const (
	nsStreams = "http://etherx.jabber.org/streams"
	nsClient  = "jabber:client"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsStreamE = "urn:ietf:params:xml:ns:xmpp-streams"
	nsXML     = "http://www.w3.org/XML/1998/namespace"
)

// maxDepth bounds element nesting inside one stanza. Real stanzas nest a
// handful of levels; the bound keeps recursive code on the stack safe.
const maxDepth = 64

// Element is a parsed XML element: a stanza or one of its children. Each
// element keeps its namespace in Name.Space; Children holds *Element and
// string (character data) nodes in document order, so a stanza routed
// through the server is written out with the same content it came in with.
type Element struct {
	Name     xml.Name
	Attr     []xml.Attr
	Children []any
}

// NewElement returns an element with the given namespace, local name and
// attribute pairs (name, value, name, value…).
func NewElement(space, local string, attrs ...string) *Element {
	e := &Element{Name: xml.Name{Space: space, Local: local}}
	for i := 0; i+1 < len(attrs); i += 2 {
		e.SetAttr(attrs[i], attrs[i+1])
	}
	return e
}

// Attr returns the value of the un-namespaced attribute name, or "".
func (e *Element) AttrValue(name string) string {
	for _, a := range e.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// SetAttr sets an un-namespaced attribute; an empty value removes it.
func (e *Element) SetAttr(name, value string) {
	for i, a := range e.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			if value == "" {
				e.Attr = append(e.Attr[:i], e.Attr[i+1:]...)
			} else {
				e.Attr[i].Value = value
			}
			return
		}
	}
	if value != "" {
		e.Attr = append(e.Attr, xml.Attr{Name: xml.Name{Local: name}, Value: value})
	}
}

// Append adds child elements and returns e.
func (e *Element) Append(children ...*Element) *Element {
	for _, c := range children {
		e.Children = append(e.Children, c)
	}
	return e
}

// AppendText adds character data and returns e.
func (e *Element) AppendText(s string) *Element {
	if s != "" {
		e.Children = append(e.Children, s)
	}
	return e
}

// Child returns the first child element with the given namespace and local
// name ("" matches any local name), or nil.
func (e *Element) Child(space, local string) *Element {
	for _, c := range e.Children {
		if ce, ok := c.(*Element); ok && ce.Name.Space == space && (local == "" || ce.Name.Local == local) {
			return ce
		}
	}
	return nil
}

// Elements returns the child elements, without character data.
func (e *Element) Elements() []*Element {
	var out []*Element
	for _, c := range e.Children {
		if ce, ok := c.(*Element); ok {
			out = append(out, ce)
		}
	}
	return out
}

// Text returns the concatenated character data directly inside e.
func (e *Element) Text() string {
	var b strings.Builder
	for _, c := range e.Children {
		if s, ok := c.(string); ok {
			b.WriteString(s)
		}
	}
	return b.String()
}

// Copy returns a deep copy of e.
func (e *Element) Copy() *Element {
	out := &Element{Name: e.Name, Attr: append([]xml.Attr(nil), e.Attr...)}
	out.Children = make([]any, len(e.Children))
	for i, c := range e.Children {
		if ce, ok := c.(*Element); ok {
			out.Children[i] = ce.Copy()
		} else {
			out.Children[i] = c
		}
	}
	return out
}

// errRestrictedXML is returned by readElement for XML features that RFC 6120
// §11.1 forbids in a stream: comments, processing instructions, DTDs and
// entity declarations.
var errRestrictedXML = errors.New("restricted XML")

// errTooDeep is returned when a stanza nests deeper than maxDepth.
var errTooDeep = errors.New("element nested too deeply")

// streamScope is the namespace context of a c2s stream's content as this
// server's stream header declares it (RFC 6120 §4.8), and the context
// stored stanzas are read back in.
var streamScope = wellformed.NewScope(nsClient, "stream", nsStreams)

// readElement reads the rest of the element whose start tag is start, read
// where scope is in force. encoding/xml checks syntax and characters;
// wellformed checks, at every depth, what it does not: an attribute given
// twice, an undeclared prefix, a reserved namespace declared (RFC 6120
// §11.2 and §4.9.3.13: such a stream is not well-formed).
func readElement(d *xml.Decoder, start xml.StartElement, scope *wellformed.Scope) (*Element, error) {
	return readElementDepth(d, start, scope, 1)
}

func readElementDepth(d *xml.Decoder, start xml.StartElement, scope *wellformed.Scope, depth int) (*Element, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	scope, err := scope.Enter(start)
	if err != nil {
		return nil, err
	}
	e := &Element{Name: start.Name}
	for _, a := range start.Attr {
		// Namespace declarations are re-derived when the element is
		// written; the decoder has already resolved every name.
		if isDeclaration(a.Name) {
			continue
		}
		e.Attr = append(e.Attr, a)
	}
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			child, err := readElementDepth(d, t, scope, depth+1)
			if err != nil {
				return nil, err
			}
			e.Children = append(e.Children, child)
		case xml.EndElement:
			return e, nil
		case xml.CharData:
			e.Children = append(e.Children, string(t))
		default:
			return nil, fmt.Errorf("%w: %T", errRestrictedXML, tok)
		}
	}
}

// isDeclaration reports whether an attribute name (as encoding/xml
// resolves it) is a namespace declaration.
func isDeclaration(n xml.Name) bool {
	return n.Space == "xmlns" || n.Space == wellformed.XMLNSNamespace || (n.Space == "" && n.Local == "xmlns")
}

// WriteTo serialises e. The element's namespace is declared when it differs
// from the parent's; the stream's default namespace (jabber:client) is
// assumed for top-level stanzas so routed stanzas carry no redundant xmlns.
func (e *Element) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	e.write(&b, nsClient, true)
	return b.WriteTo(w)
}

// Bytes returns the serialised element, in the jabber:client default
// namespace.
func (e *Element) Bytes() []byte {
	var b bytes.Buffer
	e.write(&b, nsClient, true)
	return b.Bytes()
}

// String is Bytes as a string, for logs and tests.
func (e *Element) String() string { return string(e.Bytes()) }

// write serialises e where defaultNS is the default namespace; top is set
// for an element written directly on the stream. Whatever e holds, the
// output is well-formed and namespace-well-formed XML (the fuzz tests hold
// it to that): an attribute that repeats an earlier one is left out (the
// first is what AttrValue reads), namespace declarations are derived, never
// copied, and characters XML does not allow are written as U+FFFD.
func (e *Element) write(b *bytes.Buffer, defaultNS string, top bool) {
	b.WriteByte('<')
	childNS := defaultNS
	switch {
	case top && e.Name.Space == nsStreams:
		// The stream header declares the stream: prefix; stream-level
		// elements (features, error) are written with it, as clients
		// expect. Inside a stanza, the stream namespace is declared
		// like any other: a stored stanza has no stream header.
		b.WriteString("stream:")
	case top && e.Name.Space == nsDialback:
		// Server dialback (XEP-0220) at the top of a server-to-server
		// stream, whose header declares the db: prefix (s2s_conn.go):
		// written db:result and db:verify, as the XEP's examples do;
		// ejabberd 23 knows them by that prefixed name only.
		b.WriteString("db:")
	case e.Name.Space == nsXML:
		b.WriteString("xml:") // always bound (Namespaces in XML §3)
	case e.Name.Space != defaultNS:
		childNS = e.Name.Space
	}
	b.WriteString(e.Name.Local)
	if childNS != defaultNS {
		b.WriteString(` xmlns="`)
		escapeAttr(b, childNS)
		b.WriteByte('"')
	}
	prefixes := 0
	for i, a := range e.Attr {
		if isDeclaration(a.Name) || repeatsEarlier(e.Attr[:i], a.Name) {
			continue
		}
		b.WriteByte(' ')
		switch a.Name.Space {
		case "":
		case nsXML, "xml":
			b.WriteString("xml:")
		default:
			// A namespaced attribute other than xml:*: declare a
			// prefix for it on this element.
			prefixes++
			p := "ns" + strconv.Itoa(prefixes)
			b.WriteString("xmlns:" + p + `="`)
			escapeAttr(b, a.Name.Space)
			b.WriteString(`" ` + p + ":")
		}
		b.WriteString(a.Name.Local)
		b.WriteString(`="`)
		escapeAttr(b, a.Value)
		b.WriteByte('"')
	}
	if len(e.Children) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	for _, c := range e.Children {
		switch c := c.(type) {
		case *Element:
			c.write(b, childNS, false)
		case string:
			escapeText(b, c)
		}
	}
	b.WriteString("</")
	if top && e.Name.Space == nsStreams {
		b.WriteString("stream:")
	} else if top && e.Name.Space == nsDialback {
		b.WriteString("db:")
	} else if e.Name.Space == nsXML {
		b.WriteString("xml:")
	}
	b.WriteString(e.Name.Local)
	b.WriteByte('>')
}

// repeatsEarlier reports whether an attribute named n would repeat one of
// attrs once written ("xml" and its namespace name are one prefix).
func repeatsEarlier(attrs []xml.Attr, n xml.Name) bool {
	for _, a := range attrs {
		if a.Name.Local == n.Local && sameAttrSpace(a.Name.Space, n.Space) && !isDeclaration(a.Name) {
			return true
		}
	}
	return false
}

func sameAttrSpace(a, b string) bool {
	if a == "xml" {
		a = nsXML
	}
	if b == "xml" {
		b = nsXML
	}
	return a == b
}

// escapeText and escapeAttr write s as character data or as an attribute
// value in double quotes. Whatever a front door let through, a stream
// never carries a character XML 1.0 forbids (§2.2: C0 controls but tab,
// LF and CR, surrogates, U+FFFE, U+FFFF) nor invalid UTF-8: one would end
// the recipient's stream (RFC 6120 §11.1), so each such character, or
// each byte that is not UTF-8, is written as U+FFFD, as encoding/xml's
// EscapeText does.
func escapeText(b *bytes.Buffer, s string) { escape(b, s, false) }

func escapeAttr(b *bytes.Buffer, s string) { escape(b, s, true) }

func escape(b *bytes.Buffer, s string, attr bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || !wellformed.IsChar(r) {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteString(s[i : i+size])
			}
			i += size
			continue
		}
		i++
		switch {
		case c == '<':
			b.WriteString("&lt;")
		case c == '>':
			b.WriteString("&gt;")
		case c == '&':
			b.WriteString("&amp;")
		case c == '\r':
			b.WriteString("&#xD;")
		case attr && c == '"':
			b.WriteString("&quot;")
		case attr && c == '\'':
			b.WriteString("&apos;")
		case attr && c == '\n':
			b.WriteString("&#xA;")
		case attr && c == '\t':
			b.WriteString("&#x9;")
		case c < 0x20 && c != '\n' && c != '\t':
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteByte(c)
		}
	}
}

// xmlLang returns an xml:lang attribute.
func xmlLang(lang string) xml.Attr {
	return xml.Attr{Name: xml.Name{Space: nsXML, Local: "lang"}, Value: lang}
}

package main

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// stanzaReader reads a stream's top-level elements (stanzas, features,
// stream errors) into elements, as xml.Decoder's tokens would build them:
// names with their namespaces resolved (the stream header's bindings
// inherited), attributes as xml.Decoder translates them, an element's own
// character data with entities and CDATA sections decoded. It reads the
// bytes straight from the connection's bufio.Reader, where the stream
// header's decoder stopped. A bench session reads every post of its room:
// with encoding/xml's tokenizer that was most of the bench's CPU, which
// on the same 2 cores is CPU the server under test does not get
// (BenchmarkClientNext: 6.1 µs a room post with the tokenizer).
//
// It reads what servers send, not arbitrary XML: no DTDs; comments and
// processing instructions are skipped.
type stanzaReader struct {
	r *bufio.Reader
	// ns are the namespace bindings in scope, innermost last; prefix ""
	// is the default namespace.
	ns []nsBinding
	// text is scratch space for character data and attribute values.
	text []byte
}

type nsBinding struct{ prefix, uri string }

const xmlNamespace = "http://www.w3.org/XML/1998/namespace"

var errMalformed = errors.New("malformed XML from the server")

// newStanzaReader reads the elements of the stream that start opened.
func newStanzaReader(r *bufio.Reader, start xml.StartElement) *stanzaReader {
	s := &stanzaReader{r: r}
	for _, a := range start.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			s.ns = append(s.ns, nsBinding{"", a.Value})
		case a.Name.Space == "xmlns":
			s.ns = append(s.ns, nsBinding{a.Name.Local, a.Value})
		}
	}
	return s
}

// next reads the next top-level element; the end of the stream is
// errStreamClosed.
func (s *stanzaReader) next() (*element, error) {
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if b != '<' {
			continue // whitespace (keepalives) between stanzas
		}
		b, err = s.r.ReadByte()
		if err != nil {
			return nil, unexpected(err)
		}
		switch b {
		case '/':
			return nil, errStreamClosed
		case '?', '!':
			if err := s.skipMarkup(b); err != nil {
				return nil, err
			}
			continue
		}
		if err := s.r.UnreadByte(); err != nil {
			return nil, err
		}
		e := new(element)
		if err := s.element(e); err != nil {
			return nil, err
		}
		return e, nil
	}
}

// element reads an element whose '<' was read into e.
func (s *stanzaReader) element(e *element) error {
	name, err := s.name()
	if err != nil {
		return err
	}
	scope := len(s.ns)
	defer func() { s.ns = s.ns[:scope] }()
	selfClosing := false
	for {
		b, err := s.skipSpace()
		if err != nil {
			return err
		}
		if b == '>' {
			break
		}
		if b == '/' {
			if b, err = s.r.ReadByte(); err != nil || b != '>' {
				return unexpected(err)
			}
			selfClosing = true
			break
		}
		if err := s.r.UnreadByte(); err != nil {
			return err
		}
		if err := s.attr(e); err != nil {
			return err
		}
	}
	e.XMLName = s.resolve(name, true)
	for i, a := range e.Attr {
		e.Attr[i].Name = s.resolve(a.Name, false)
	}
	if selfClosing {
		return nil
	}
	// s.text is a stack: this element's character data goes after mark,
	// each child's after its own, which the child takes off again.
	mark := len(s.text)
	defer func() { s.text = s.text[:mark] }()
	for {
		chunk, err := s.r.ReadSlice('<')
		if errors.Is(err, bufio.ErrBufferFull) {
			s.text = append(s.text, chunk...)
			continue
		}
		if err != nil {
			return unexpected(err)
		}
		s.text = append(s.text, chunk[:len(chunk)-1]...)
		b, err := s.r.ReadByte()
		if err != nil {
			return unexpected(err)
		}
		switch b {
		case '/':
			if _, err := s.readUntil('>'); err != nil {
				return err
			}
			text, err := unescape(s.text[mark:])
			if err != nil {
				return err
			}
			e.Text = text
			return nil
		case '!':
			if err := s.cdataOrComment(); err != nil {
				return err
			}
		case '?':
			if err := s.skipMarkup(b); err != nil {
				return err
			}
		default:
			if err := s.r.UnreadByte(); err != nil {
				return err
			}
			e.Children = append(e.Children, element{})
			if err := s.element(&e.Children[len(e.Children)-1]); err != nil {
				return err
			}
		}
	}
}

// attr reads one attribute (name="value") into e.Attr, and a namespace
// declaration into the scope too.
func (s *stanzaReader) attr(e *element) error {
	name, err := s.nameUntil('=')
	if err != nil {
		return err
	}
	b, err := s.skipSpace()
	if err != nil {
		return err
	}
	if b != '"' && b != '\'' {
		return fmt.Errorf("%w: attribute %s without a quoted value", errMalformed, name.Local)
	}
	raw, err := s.readUntil(b)
	if err != nil {
		return err
	}
	value, err := unescape(raw)
	if err != nil {
		return err
	}
	switch {
	case name.Space == "" && name.Local == "xmlns":
		s.ns = append(s.ns, nsBinding{"", value})
	case name.Space == "xmlns":
		s.ns = append(s.ns, nsBinding{name.Local, value})
	}
	e.Attr = append(e.Attr, xml.Attr{Name: name, Value: value})
	return nil
}

// resolve turns a prefix into its namespace as xml.Decoder.Token does: an
// element without a prefix is in the default namespace, an attribute
// without one in none; xmlns declarations keep their names.
func (s *stanzaReader) resolve(n xml.Name, isElement bool) xml.Name {
	switch {
	case n.Space == "" && !isElement, n.Space == "xmlns", n.Space == "" && n.Local == "xmlns":
		return n
	case n.Space == "xml":
		n.Space = xmlNamespace
		return n
	}
	for i := len(s.ns) - 1; i >= 0; i-- {
		if s.ns[i].prefix == n.Space {
			n.Space = s.ns[i].uri
			return n
		}
	}
	return n // an undeclared prefix stays, as xml.Decoder leaves it
}

// name reads an element name up to the space, '/' or '>' after it (which
// is left to read).
func (s *stanzaReader) name() (xml.Name, error) {
	var buf [64]byte
	raw := buf[:0]
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return xml.Name{}, unexpected(err)
		}
		if b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '/' || b == '>' {
			if err := s.r.UnreadByte(); err != nil {
				return xml.Name{}, err
			}
			return splitName(raw)
		}
		raw = append(raw, b)
	}
}

// nameUntil reads an attribute name and the '=' after it.
func (s *stanzaReader) nameUntil(delim byte) (xml.Name, error) {
	raw, err := s.readUntil(delim)
	if err != nil {
		return xml.Name{}, err
	}
	return splitName(bytes.TrimRight(raw, " \t\r\n"))
}

func splitName(raw []byte) (xml.Name, error) {
	if len(raw) == 0 {
		return xml.Name{}, fmt.Errorf("%w: empty name", errMalformed)
	}
	if i := bytes.IndexByte(raw, ':'); i >= 0 {
		return xml.Name{Space: intern(raw[:i]), Local: intern(raw[i+1:])}, nil
	}
	return xml.Name{Local: intern(raw)}, nil
}

// commonNames are the names of every stanza, kept as one string each
// instead of a new one per stanza.
var commonNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range strings.Fields("message presence iq body subject thread x item status error to from type id by xmlns lang stream xml stanza-id origin-id occupant-id delay stamp code role affiliation jid nick ping query result features") {
		m[n] = n
	}
	return m
}()

func intern(b []byte) string {
	if s, ok := commonNames[string(b)]; ok { // no allocation for the lookup
		return s
	}
	return string(b)
}

// readUntil reads up to delim and returns what came before it (valid
// until the next read).
func (s *stanzaReader) readUntil(delim byte) ([]byte, error) {
	chunk, err := s.r.ReadSlice(delim)
	if err == nil {
		return chunk[:len(chunk)-1], nil
	}
	long := append([]byte(nil), chunk...)
	for errors.Is(err, bufio.ErrBufferFull) {
		chunk, err = s.r.ReadSlice(delim)
		long = append(long, chunk...)
	}
	if err != nil {
		return nil, unexpected(err)
	}
	return long[:len(long)-1], nil
}

// skipSpace returns the first byte that is not white space.
func (s *stanzaReader) skipSpace() (byte, error) {
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		if b != ' ' && b != '\t' && b != '\n' && b != '\r' {
			return b, nil
		}
	}
}

// skipMarkup skips a processing instruction (<?…?>) or a declaration or
// comment (<!…>, <!--…-->) whose "<" and kind were read.
func (s *stanzaReader) skipMarkup(kind byte) error {
	if kind == '!' {
		return s.cdataOrComment()
	}
	for {
		if _, err := s.readUntil('?'); err != nil {
			return err
		}
		if b, err := s.r.ReadByte(); err != nil {
			return unexpected(err)
		} else if b == '>' {
			return nil
		}
	}
}

// cdataOrComment reads what follows "<!": a CDATA section, whose text is
// appended to s.text, or a comment, skipped.
func (s *stanzaReader) cdataOrComment() error {
	head, err := s.r.Peek(2)
	if err != nil {
		return unexpected(err)
	}
	end := []byte("-->")
	cdata := string(head) != "--"
	if cdata {
		const open = "[CDATA["
		if head, err = s.r.Peek(len(open)); err != nil || string(head) != open {
			return fmt.Errorf("%w: <! that is neither a comment nor CDATA", errMalformed)
		}
		end = []byte("]]>")
	}
	if _, err := s.r.Discard(len(head)); err != nil {
		return err
	}
	var body []byte
	for !bytes.HasSuffix(body, end) {
		chunk, err := s.readUntil('>')
		if err != nil {
			return err
		}
		body = append(append(body, chunk...), '>')
	}
	if cdata {
		// Escaped again, as the element's text is unescaped as a whole.
		s.text = append(s.text, bytes.ReplaceAll(body[:len(body)-len(end)], []byte("&"), []byte("&amp;"))...)
	}
	return nil
}

// unescape decodes the five predefined entities and character references.
func unescape(raw []byte) (string, error) {
	i := bytes.IndexByte(raw, '&')
	if i < 0 {
		return string(raw), nil
	}
	out := make([]byte, 0, len(raw))
	for i >= 0 {
		out = append(out, raw[:i]...)
		raw = raw[i+1:]
		semi := bytes.IndexByte(raw, ';')
		if semi < 0 {
			return "", fmt.Errorf("%w: unterminated entity", errMalformed)
		}
		switch ent := string(raw[:semi]); ent {
		case "lt":
			out = append(out, '<')
		case "gt":
			out = append(out, '>')
		case "amp":
			out = append(out, '&')
		case "quot":
			out = append(out, '"')
		case "apos":
			out = append(out, '\'')
		default:
			var r uint64
			var err error
			switch {
			case len(ent) > 2 && ent[:2] == "#x":
				r, err = strconv.ParseUint(ent[2:], 16, 32)
			case len(ent) > 1 && ent[0] == '#':
				r, err = strconv.ParseUint(ent[1:], 10, 32)
			default:
				err = errMalformed
			}
			if err != nil {
				return "", fmt.Errorf("%w: entity &%s;", errMalformed, ent)
			}
			out = append(out, string(rune(r))...)
		}
		raw = raw[semi+1:]
		i = bytes.IndexByte(raw, '&')
	}
	return string(append(out, raw...)), nil
}

// unexpected turns an end of input inside an element into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == nil {
		return errMalformed
	}
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

package importer

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/parleychat/parley/cmd/parleyctl/internal/importer/luadata"
)

// Namespaces the importer reads.
const (
	nsClient     = "jabber:client"
	nsXML        = "http://www.w3.org/XML/1998/namespace"
	nsMUCUser    = "http://jabber.org/protocol/muc#user"
	nsStanzaID   = "urn:xmpp:sid:0"
	nsOccupantID = "urn:xmpp:occupant-id:0"
	nsDelay      = "urn:xmpp:delay"
	nsLegacyDel  = "jabber:x:delay"
)

// Element is an XML element as another server archived it: a message
// stanza with its children and text, namespaces resolved.
type Element struct {
	Space, Local string
	Attr         []Attr
	// Nodes are the children in order: string (text) or *Element.
	Nodes []any
}

// Attr is an attribute; Space is empty or a namespace (nsXML for
// xml:lang).
type Attr struct {
	Space, Local, Value string
}

// maxDepth bounds nesting when reading stanzas.
const maxDepth = 100

// AttrValue returns the value of the unqualified attribute local.
func (e *Element) AttrValue(local string) string {
	for _, a := range e.Attr {
		if a.Space == "" && a.Local == local {
			return a.Value
		}
	}
	return ""
}

// Elements returns the child elements.
func (e *Element) Elements() []*Element {
	var out []*Element
	for _, n := range e.Nodes {
		if c, ok := n.(*Element); ok {
			out = append(out, c)
		}
	}
	return out
}

// Child returns the first child element with that name, or nil.
func (e *Element) Child(space, local string) *Element {
	for _, c := range e.Elements() {
		if c.Space == space && c.Local == local {
			return c
		}
	}
	return nil
}

// Text returns the element's own text (not its children's).
func (e *Element) Text() string {
	var b strings.Builder
	for _, n := range e.Nodes {
		if s, ok := n.(string); ok {
			b.WriteString(s)
		}
	}
	return b.String()
}

// ChildText returns the text of the first child with that name.
func (e *Element) ChildText(space, local string) (string, bool) {
	c := e.Child(space, local)
	if c == nil {
		return "", false
	}
	return c.Text(), true
}

// MUCUserJID is the real JID in a muc#user <item/> (non-anonymous rooms
// and servers that archive it), or "".
func (e *Element) MUCUserJID() string {
	if x := e.Child(nsMUCUser, "x"); x != nil {
		if it := x.Child(nsMUCUser, "item"); it != nil {
			return it.AttrValue("jid")
		}
	}
	return ""
}

// OriginID is the XEP-0359 origin-id, or "".
func (e *Element) OriginID() string {
	if o := e.Child(nsStanzaID, "origin-id"); o != nil {
		return o.AttrValue("id")
	}
	return ""
}

// OccupantID is the XEP-0421 occupant-id the other server gave, or "".
func (e *Element) OccupantID() string {
	if o := e.Child(nsOccupantID, "occupant-id"); o != nil {
		return o.AttrValue("id")
	}
	return ""
}

// roomOwned is what Parley's room adds itself when it delivers a message
// (protocol/xmpp muc_render.go): the other server's copies are dropped.
func roomOwned(c *Element) bool {
	switch {
	case c.Space == nsStanzaID && c.Local == "stanza-id":
	case c.Space == nsOccupantID, c.Space == nsDelay, c.Space == nsLegacyDel, c.Space == nsMUCUser:
	default:
		return false
	}
	return true
}

// Stored is the message as Parley's history keeps it: in jabber:client
// (the namespace Parley's reader declares), without from and to, and
// without what the room adds on delivery.
func (e *Element) Stored() []byte {
	out := &Element{Space: nsClient, Local: "message"}
	for _, a := range e.Attr {
		if a.Space == "" && (a.Local == "from" || a.Local == "to") {
			continue
		}
		out.Attr = append(out.Attr, a)
	}
	for _, n := range e.Nodes {
		if c, ok := n.(*Element); ok && roomOwned(c) {
			continue
		}
		out.Nodes = append(out.Nodes, n)
	}
	var b bytes.Buffer
	out.write(&b, nsClient)
	return b.Bytes()
}

// StoredDirect is a 1:1 message as an account's archive keeps it
// (protocol/xmpp mam_account.go): the whole message, its from and to in
// Parley's domains, the other server's stanza-ids and delays dropped, and
// the archive's own stanza-id, id by the account's bare JID.
func (e *Element) StoredDirect(m mapper, id, by string) []byte {
	out := &Element{Space: nsClient, Local: "message"}
	for _, a := range e.Attr {
		if a.Space == "" && (a.Local == "from" || a.Local == "to") {
			a.Value = m.jid(a.Value)
		}
		out.Attr = append(out.Attr, a)
	}
	for _, n := range e.Nodes {
		if c, ok := n.(*Element); ok && (c.Space == nsStanzaID && c.Local == "stanza-id" || c.Space == nsDelay || c.Space == nsLegacyDel) {
			continue
		}
		out.Nodes = append(out.Nodes, n)
	}
	out.Nodes = append(out.Nodes, &Element{Space: nsStanzaID, Local: "stanza-id", Attr: []Attr{{Local: "id", Value: id}, {Local: "by", Value: by}}})
	var b bytes.Buffer
	out.write(&b, nsClient)
	return b.Bytes()
}

// write serializes e, whose parent's default namespace is parentNS.
func (e *Element) write(b *bytes.Buffer, parentNS string) {
	b.WriteByte('<')
	b.WriteString(e.Local)
	if e.Space != parentNS {
		b.WriteString(` xmlns="`)
		escapeAttr(b, e.Space)
		b.WriteByte('"')
	}
	prefixes := 0
	for _, a := range e.Attr {
		name := a.Local
		switch a.Space {
		case "":
		case nsXML:
			name = "xml:" + a.Local
		default:
			prefixes++
			p := fmt.Sprintf("a%d", prefixes)
			fmt.Fprintf(b, ` xmlns:%s="`, p)
			escapeAttr(b, a.Space)
			b.WriteByte('"')
			name = p + ":" + a.Local
		}
		b.WriteByte(' ')
		b.WriteString(name)
		b.WriteString(`="`)
		escapeAttr(b, a.Value)
		b.WriteByte('"')
	}
	if len(e.Nodes) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	for _, n := range e.Nodes {
		switch n := n.(type) {
		case string:
			_ = xml.EscapeText(b, []byte(n))
		case *Element:
			n.write(b, e.Space)
		}
	}
	b.WriteString("</")
	b.WriteString(e.Local)
	b.WriteByte('>')
}

func escapeAttr(b *bytes.Buffer, s string) {
	var tmp bytes.Buffer
	_ = xml.EscapeText(&tmp, []byte(s))
	b.WriteString(strings.ReplaceAll(tmp.String(), `"`, "&#34;"))
}

// ParseXML reads one element from s (an archived stanza). Elements and
// attributes in no namespace are taken to be jabber:client's, as
// servers write stanzas without the stream's default namespace.
func ParseXML(s string) (*Element, error) {
	d := xml.NewDecoder(strings.NewReader(s))
	var stack []*Element
	var root *Element
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxDepth {
				return nil, fmt.Errorf("elements nested deeper than %d", maxDepth)
			}
			el := &Element{Space: t.Name.Space, Local: t.Name.Local}
			if el.Space == "" {
				el.Space = nsClient
				if len(stack) > 0 {
					el.Space = stack[len(stack)-1].Space
				}
			}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				el.Attr = append(el.Attr, Attr{Space: a.Name.Space, Local: a.Name.Local, Value: a.Value})
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Nodes = append(p.Nodes, el)
			} else if root == nil {
				root = el
			}
			stack = append(stack, el)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Nodes = append(p.Nodes, string(t))
			}
		}
	}
	if root == nil {
		return nil, errors.New("no element")
	}
	return root, nil
}

// FromLua turns a stanza as Prosody's util.serialization stores it (a
// table with name, attr and the children in its array part; attr.xmlns
// the namespace, inherited when absent; namespaced attribute keys
// "NAMESPACE\1NAME") into an Element.
func FromLua(t *luadata.Table) (*Element, error) {
	return fromLua(t, nsClient, 0)
}

func fromLua(t *luadata.Table, parentNS string, depth int) (*Element, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("elements nested deeper than %d", maxDepth)
	}
	name := t.String("name")
	if name == "" {
		return nil, errors.New("a stanza table without a name")
	}
	el := &Element{Space: parentNS, Local: name}
	if attr := t.Table("attr"); attr != nil {
		keys := make([]string, 0, len(attr.Fields))
		for k := range attr.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, ok := attr.Fields[k].(string)
			if !ok {
				continue
			}
			switch {
			case k == "xmlns":
				el.Space = v
			case strings.HasPrefix(k, "xml:"):
				el.Attr = append(el.Attr, Attr{Space: nsXML, Local: k[4:], Value: v})
			case strings.Contains(k, "\x01"):
				ns, local, _ := strings.Cut(k, "\x01")
				el.Attr = append(el.Attr, Attr{Space: ns, Local: local, Value: v})
			default:
				el.Attr = append(el.Attr, Attr{Local: k, Value: v})
			}
		}
	}
	for _, n := range t.Array {
		switch n := n.(type) {
		case string:
			el.Nodes = append(el.Nodes, n)
		case *luadata.Table:
			c, err := fromLua(n, el.Space, depth+1)
			if err != nil {
				return nil, err
			}
			el.Nodes = append(el.Nodes, c)
		}
	}
	return el, nil
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

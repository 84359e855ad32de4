package importer

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/parleychat/parley/cmd/parleyctl/internal/importer/luadata"
	"github.com/parleychat/parley/protocol/xmpp"
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

// maxDepth bounds nesting when reading stanzas.
const maxDepth = 100

// Stanzas are xmpp.Elements: read here from what another server archived,
// they are written with the XMPP front door's own writer, so that an
// imported message is stored byte for byte as one the front door stored
// itself would be (and, whatever the archive held, as well-formed XML:
// a repeated attribute is left out, a character XML forbids becomes
// U+FFFD).

// childText returns the text of e's first child with that name.
func childText(e *xmpp.Element, space, local string) (string, bool) {
	c := e.Child(space, local)
	if c == nil {
		return "", false
	}
	return c.Text(), true
}

// mucUserJID is the real JID in a muc#user <item/> (non-anonymous rooms
// and servers that archive it), or "".
func mucUserJID(e *xmpp.Element) string {
	if x := e.Child(nsMUCUser, "x"); x != nil {
		if it := x.Child(nsMUCUser, "item"); it != nil {
			return it.AttrValue("jid")
		}
	}
	return ""
}

// originID is the XEP-0359 origin-id, or "".
func originID(e *xmpp.Element) string {
	if o := e.Child(nsStanzaID, "origin-id"); o != nil {
		return o.AttrValue("id")
	}
	return ""
}

// occupantID is the XEP-0421 occupant-id the other server gave, or "".
func occupantID(e *xmpp.Element) string {
	if o := e.Child(nsOccupantID, "occupant-id"); o != nil {
		return o.AttrValue("id")
	}
	return ""
}

// roomOwned is what Parley's room adds itself when it delivers a message
// (protocol/xmpp muc_render.go), and a legacy delay: the other server's
// copies are dropped.
func roomOwned(c *xmpp.Element) bool {
	switch {
	case c.Name.Space == nsStanzaID && c.Name.Local == "stanza-id":
	case c.Name.Space == nsOccupantID, c.Name.Space == nsDelay, c.Name.Space == nsLegacyDel, c.Name.Space == nsMUCUser:
	default:
		return false
	}
	return true
}

// stored is the message as Parley's history keeps it: in jabber:client
// (the namespace Parley's reader declares), without from and to, and
// without what the room adds on delivery.
func stored(e *xmpp.Element) []byte {
	out := xmpp.NewElement(nsClient, "message")
	for _, a := range e.Attr {
		if a.Name.Space == "" && (a.Name.Local == "from" || a.Name.Local == "to") {
			continue
		}
		out.Attr = append(out.Attr, a)
	}
	for _, n := range e.Children {
		if c, ok := n.(*xmpp.Element); ok && roomOwned(c) {
			continue
		}
		out.Children = append(out.Children, n)
	}
	return out.Bytes()
}

// storedDirect is a 1:1 message as an account's archive keeps it
// (protocol/xmpp mam_account.go): the whole message, its from and to in
// Parley's domains, the other server's stanza-ids and delays dropped, and
// the archive's own stanza-id, id by the account's bare JID.
func storedDirect(e *xmpp.Element, m mapper, id, by string) []byte {
	out := xmpp.NewElement(nsClient, "message")
	for _, a := range e.Attr {
		if a.Name.Space == "" && (a.Name.Local == "from" || a.Name.Local == "to") {
			a.Value = m.jid(a.Value)
		}
		out.Attr = append(out.Attr, a)
	}
	for _, n := range e.Children {
		if c, ok := n.(*xmpp.Element); ok && (c.Name.Space == nsStanzaID && c.Name.Local == "stanza-id" || c.Name.Space == nsDelay || c.Name.Space == nsLegacyDel) {
			continue
		}
		out.Children = append(out.Children, n)
	}
	out.Append(&xmpp.Element{Name: xml.Name{Space: nsStanzaID, Local: "stanza-id"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "id"}, Value: id}, {Name: xml.Name{Local: "by"}, Value: by}}})
	return out.Bytes()
}

// ParseXML reads one element from s (an archived stanza). Elements and
// attributes in no namespace are taken to be jabber:client's, as
// servers write stanzas without the stream's default namespace.
func ParseXML(s string) (*xmpp.Element, error) {
	d := xml.NewDecoder(strings.NewReader(s))
	var stack []*xmpp.Element
	var root *xmpp.Element
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
			el := &xmpp.Element{Name: t.Name}
			if el.Name.Space == "" {
				el.Name.Space = nsClient
				if len(stack) > 0 {
					el.Name.Space = stack[len(stack)-1].Name.Space
				}
			}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				el.Attr = append(el.Attr, a)
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, el)
			} else if root == nil {
				root = el
			}
			stack = append(stack, el)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, string(t))
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
// "NAMESPACE\1NAME") into an element.
func FromLua(t *luadata.Table) (*xmpp.Element, error) {
	return fromLua(t, nsClient, 0)
}

func fromLua(t *luadata.Table, parentNS string, depth int) (*xmpp.Element, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("elements nested deeper than %d", maxDepth)
	}
	name := t.String("name")
	if name == "" {
		return nil, errors.New("a stanza table without a name")
	}
	el := &xmpp.Element{Name: xml.Name{Space: parentNS, Local: name}}
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
				el.Name.Space = v
			case strings.HasPrefix(k, "xml:"):
				el.Attr = append(el.Attr, xml.Attr{Name: xml.Name{Space: nsXML, Local: k[4:]}, Value: v})
			case strings.Contains(k, "\x01"):
				ns, local, _ := strings.Cut(k, "\x01")
				el.Attr = append(el.Attr, xml.Attr{Name: xml.Name{Space: ns, Local: local}, Value: v})
			default:
				el.Attr = append(el.Attr, xml.Attr{Name: xml.Name{Local: k}, Value: v})
			}
		}
	}
	for _, n := range t.Array {
		switch n := n.(type) {
		case string:
			el.Children = append(el.Children, n)
		case *luadata.Table:
			c, err := fromLua(n, el.Name.Space, depth+1)
			if err != nil {
				return nil, err
			}
			el.Children = append(el.Children, c)
		}
	}
	return el, nil
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

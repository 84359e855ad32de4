package xmpp

import (
	"bytes"
	"encoding/xml"
	"io"
	"maps"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// FuzzBOSHBody: any request body a BOSH client sends (XEP-0124 §4) is
// either refused or split into attributes and whole child elements; each
// child is one balanced element, as the stream parser will read it; and
// the attributes survive being written into a response (escaping).
func FuzzBOSHBody(f *testing.F) {
	for _, seed := range []string{
		`<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='localhost' wait='60' hold='1' ver='1.11' xml:lang='en' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>`,
		`<body xmlns='http://jabber.org/protocol/httpbind' rid='2' sid='abc'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHB3</auth></body>`,
		`<body xmlns='http://jabber.org/protocol/httpbind' rid='3' sid='abc'><message xmlns='jabber:client' to='bob@localhost'><body>hi &amp; bye</body></message><presence xmlns='jabber:client'/></body>`,
		`<?xml version='1.0'?><body xmlns='http://jabber.org/protocol/httpbind' rid='4' sid='abc' type='terminate'/>`,
		`<body xmlns='http://jabber.org/protocol/httpbind' rid='5' sid='x"&lt;y'>text</body>`,
		`<!DOCTYPE x [<!ENTITY a "b">]><body xmlns='http://jabber.org/protocol/httpbind'/>`,
		`<body xmlns='http://jabber.org/protocol/httpbind' rid='6' rid='7'/>`,
		`<body xmlns='http://jabber.org/protocol/httpbind'><a><b></a></b></body>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := parseBOSHBody(raw)
		if err != nil {
			return
		}
		for _, child := range b.children {
			d := xml.NewDecoder(bytes.NewReader(child))
			d.Strict = true
			depth, ends := 0, 0
			for {
				tok, err := d.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("child %q of an accepted body is not well-formed: %v", child, err)
				}
				switch tok.(type) {
				case xml.StartElement:
					depth++
				case xml.EndElement:
					if depth--; depth == 0 {
						ends++
					}
				}
			}
			if ends != 1 || depth != 0 {
				t.Fatalf("child %q of an accepted body is not one element", child)
			}
		}
		plain := map[string]string{}
		for k, v := range b.attrs {
			if !strings.Contains(k, ":") && k != "xmlns" {
				plain[k] = v
			}
		}
		again, err := parseBOSHBody(boshResponse(plain, nil))
		if err != nil {
			t.Fatalf("a response with the body's attributes %q does not parse: %v", plain, err)
		}
		for k, v := range plain {
			if got := again.attrs[k]; got != v {
				t.Fatalf("attribute %s=%q came back as %q", k, v, got)
			}
		}
		if len(again.children) != 0 || !maps.Equal(again.attrs, mergeAttrs(plain, again.attrs)) {
			t.Fatalf("response attributes %q from %q", again.attrs, plain)
		}
	})
}

// mergeAttrs is got limited to want's keys plus what boshResponse adds
// itself (none but namespaces, which parseBOSHBody drops).
func mergeAttrs(want, got map[string]string) map[string]string {
	out := maps.Clone(want)
	for k, v := range got {
		if _, ok := want[k]; !ok {
			out[k] = v
		}
	}
	return out
}

// FuzzWebSocketFrames: whatever frames a client sends on an XMPP
// WebSocket (RFC 6455 framing, RFC 7395 <open/> and <close/>), the
// transport's reader ends (no hang, no panic), writes to the stream no
// more than the messages held plus the stream header it makes of <open/>,
// and answers only with well-formed frames.
func FuzzWebSocketFrames(f *testing.F) {
	frame := func(op ws.OpCode, fin bool, payload string) []byte {
		var b bytes.Buffer
		fr := ws.NewFrame(op, fin, []byte(payload))
		fr = ws.MaskFrameInPlace(fr)
		if err := ws.WriteFrame(&b, fr); err != nil {
			f.Fatal(err)
		}
		return b.Bytes()
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	open := `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`
	f.Add(cat(frame(ws.OpText, true, open)))
	f.Add(cat(frame(ws.OpText, true, open), frame(ws.OpText, true, `<presence xmlns='jabber:client'/>`),
		frame(ws.OpText, true, `<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`)))
	f.Add(cat(frame(ws.OpText, false, `<open xmlns='urn:ietf:params:xml:ns:xm`), frame(ws.OpPing, true, "p"),
		frame(ws.OpContinuation, true, `pp-framing' to='localhost' version='1.0'/>`)))
	f.Add(cat(frame(ws.OpBinary, true, open)))
	f.Add(cat(frame(ws.OpText, true, "\xff\xfe"), frame(ws.OpClose, true, "\x03\xe8")))
	f.Add([]byte{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	ts := startServer(f, func(c *Config) { c.MaxStanzaSize = 4096 })
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, client := net.Pipe()
		pipe, stream := net.Pipe()
		answered := make(chan []byte, 1)
		go func() { b, _ := io.ReadAll(client); answered <- b }()
		var fed bytes.Buffer
		streamDone := make(chan struct{})
		go func() { io.Copy(&fed, stream); close(streamDone) }()
		tr := &wsTransport{srv: ts.srv, raw: raw, pipe: pipe}
		done := make(chan struct{})
		go func() { tr.readLoop(bytes.NewReader(data)); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the reader did not end on %d bytes of frames", len(data))
		}
		pipe.Close()
		raw.Close()
		<-streamDone
		out := <-answered
		header := len(clientHeader("localhost", "1.0", "")) + 1024
		if fed.Len() > len(data)+header {
			t.Fatalf("the stream got %d bytes from %d bytes of frames", fed.Len(), len(data))
		}
		for rd := bytes.NewReader(out); rd.Len() > 0; {
			h, err := ws.ReadHeader(rd)
			if err != nil {
				t.Fatalf("the server's answer %q is not WebSocket frames: %v", out, err)
			}
			if h.Masked {
				t.Fatalf("the server masked a frame (RFC 6455 §5.1)")
			}
			if _, err := io.CopyN(io.Discard, rd, h.Length); err != nil {
				t.Fatalf("the server's frame is cut short: %v", err)
			}
		}
	})
}

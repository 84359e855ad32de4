package sip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// validate checks what RFC 3261 §8.2 and §20 require of every request
// before it is acted on: the mandatory headers (§8.1.1), a CSeq naming the
// request's method (§8.1.1.5), From and To addresses, and no header value
// that could smuggle another header or message (CR, LF or NUL in a value:
// header injection).
func validate(req *sip.Request) error {
	switch {
	case (req.Recipient.Scheme == "sip" || req.Recipient.Scheme == "sips") && req.Recipient.Host == "":
		return errors.New("request-URI has no host")
	case req.Via() == nil:
		return errors.New("no Via")
	case req.From() == nil:
		return errors.New("no From")
	case req.To() == nil:
		return errors.New("no To")
	case req.CallID() == nil || strings.TrimSpace(req.CallID().Value()) == "":
		return errors.New("no Call-ID")
	case req.CSeq() == nil:
		return errors.New("no CSeq")
	case req.CSeq().MethodName != req.Method:
		return fmt.Errorf("CSeq method %s is not the request's %s", req.CSeq().MethodName, req.Method)
	}
	for _, a := range []struct {
		name string
		uri  sip.Uri
	}{{"From", req.From().Address}, {"To", req.To().Address}} {
		if a.uri.Scheme != "sip" && a.uri.Scheme != "sips" {
			return fmt.Errorf("%s is not a sip: or sips: URI", a.name)
		}
		if a.uri.Host == "" {
			return fmt.Errorf("%s has no host", a.name)
		}
	}
	for _, h := range req.Headers() {
		if strings.ContainsAny(h.Name(), "\r\n\x00: ") || strings.ContainsAny(h.Value(), "\r\n\x00") {
			return fmt.Errorf("header %.40q carries control characters", h.Name())
		}
	}
	if cl := req.ContentLength(); cl != nil && int(*cl) != len(req.Body()) {
		return fmt.Errorf("Content-Length %d but a body of %d bytes", *cl, len(req.Body()))
	}
	return nil
}

// readFilter sees every read before sipgo parses it. sipgo drops a
// datagram it cannot parse without a word, so the sender would retransmit
// for 32 s; on UDP the filter answers such a request with a stateless 400
// (RFC 3261 §8.2, §16.3) built from its raw Via, From, To, Call-ID and
// CSeq lines, and drops it. On TCP and TLS a message that cannot be parsed
// leaves no boundary to resynchronise on: sipgo closes the connection.
func (s *Server) readFilter(props sip.TransportReadProps, data []byte) ([]byte, error) {
	if props.Transport != "UDP" || len(bytes.Trim(data, "\r\n")) == 0 {
		return data, nil
	}
	if _, err := sip.NewParser().ParseSIP(data); err == nil {
		return data, nil
	} else {
		s.log.Debug("unparseable datagram", "source", props.RemoteAddr.String(), "err", err)
	}
	if res := badRequest(data); res != nil {
		s.mu.Lock()
		pc := s.udp[props.LocalAddr.String()]
		s.mu.Unlock()
		if pc != nil {
			if _, err := pc.WriteTo(res, props.RemoteAddr); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("sending a stateless 400", "err", err)
			}
		}
	}
	return nil, nil
}

// badRequest builds a stateless 400 for an unparseable request, or nil if
// it is not recognisably a request with a Via to answer to.
func badRequest(data []byte) []byte {
	if len(data) > maxUnparseableReplies*64 {
		data = data[:maxUnparseableReplies*64]
	}
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	lines := bytes.Split(head, []byte("\r\n"))
	if len(lines) < 2 || !bytes.HasSuffix(lines[0], []byte(" SIP/2.0")) || bytes.HasPrefix(lines[0], []byte("SIP/")) {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("SIP/2.0 400 Bad Request\r\n")
	hasVia := false
	for _, l := range lines[1:] {
		name, _, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(string(name))) {
		case "via", "v":
			hasVia = true
		case "from", "f", "to", "t", "call-id", "i", "cseq":
		default:
			continue
		}
		if b.Len()+len(l) > maxUnparseableReplies || bytes.ContainsAny(l, "\x00") {
			return nil
		}
		b.Write(l)
		b.WriteString("\r\n")
	}
	if !hasVia {
		return nil
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.Bytes()
}

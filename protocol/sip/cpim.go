package sip

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode/utf8"
)

// Common Presence and Instant Messaging message format (RFC 3862): posts
// go to the contacts that listed message/cpim in their REGISTER's Accept
// wrapped in it, so the endpoint sees who wrote (From) apart from the
// room the MESSAGE comes from; MESSAGEs may arrive wrapped in it too.

const (
	cpimContentType = "message/cpim"
	maxCPIMHeaders  = 64 // header lines in each part of an incoming wrapper
)

// cpimPost is a post as the room sends it in message/cpim.
type cpimPost struct {
	nick string
	from string // the sender's URI (userEntity)
	to   string // the room's URI
	at   time.Time
	text string
}

// render is the message/cpim body (RFC 3862 §2): message headers, a blank
// line, the encapsulated text/plain MIME entity.
func (p *cpimPost) render() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s <%s>\r\n", quoteDisplayName(p.nick), p.from)
	fmt.Fprintf(&b, "To: <%s>\r\n", p.to)
	fmt.Fprintf(&b, "DateTime: %s\r\n", p.at.UTC().Format(time.RFC3339))
	b.WriteString("\r\n")
	b.WriteString("Content-Type: " + textPlain + "\r\n")
	b.WriteString("\r\n")
	b.WriteString(p.text)
	return b.Bytes()
}

// quoteDisplayName quotes a nick as an RFC 3862 §3.2 Formal-name.
func quoteDisplayName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	s = strings.ReplaceAll(s, `\`, `\\`)
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

var errCPIM = errors.New("malformed message/cpim")

// unwrapCPIM returns the text of a message/cpim body whose content is
// text/plain (or has no Content-Type, which means text/plain). The
// wrapper's From is not trusted: the sender is who authenticated.
func unwrapCPIM(body []byte) (string, error) {
	rest, err := skipHeaders(body, nil) // message headers
	if err != nil {
		return "", err
	}
	var contentType string
	rest, err = skipHeaders(rest, func(name, value string) {
		if strings.EqualFold(name, "Content-Type") {
			contentType = value
		}
	})
	if err != nil {
		return "", err
	}
	if contentType != "" {
		mt, params, err := mime.ParseMediaType(contentType)
		if err != nil || mt != "text/plain" {
			return "", fmt.Errorf("%w: content %q is not text/plain", errCPIM, contentType)
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
			return "", fmt.Errorf("%w: charset %q", errCPIM, cs)
		}
	}
	if !utf8.Valid(rest) {
		return "", fmt.Errorf("%w: content is not UTF-8", errCPIM)
	}
	return string(rest), nil
}

// skipHeaders reads "Name: value" lines up to an empty line, handing each
// to fn, and returns what follows the empty line.
func skipHeaders(b []byte, fn func(name, value string)) ([]byte, error) {
	for n := 0; ; n++ {
		if n > maxCPIMHeaders {
			return nil, fmt.Errorf("%w: more than %d header lines", errCPIM, maxCPIMHeaders)
		}
		line, rest, found := bytes.Cut(b, []byte("\n"))
		if !found {
			return nil, fmt.Errorf("%w: no empty line after the headers", errCPIM)
		}
		b = rest
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return b, nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(bytes.TrimSpace(name)) == 0 {
			return nil, fmt.Errorf("%w: header line %q", errCPIM, line)
		}
		if fn != nil {
			fn(string(bytes.TrimSpace(name)), string(bytes.TrimSpace(value)))
		}
	}
}

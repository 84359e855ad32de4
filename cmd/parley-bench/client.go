package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xdg-go/scram"
	"golang.org/x/sys/unix"
)

// A minimal XMPP client (RFC 6120): just enough to log in the way real
// clients do (STARTTLS, SASL SCRAM-SHA-256, resource binding, initial
// presence) and then send and read stanzas. It holds one TCP connection,
// one TLS connection over it and one XML decoder per stream; no goroutine of
// its own.

const (
	nsStreams = "http://etherx.jabber.org/streams"
	nsStreamE = "urn:ietf:params:xml:ns:xmpp-streams"
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsPing    = "urn:xmpp:ping"
)

// readBufferSize is the per-connection read buffer. Stanzas here are
// small; a small buffer keeps tens of thousands of idle sessions cheap.
const readBufferSize = 1024

// Login phases, in order; LoginTiming has one duration per phase.
const (
	phaseConnect  = iota // TCP connect
	phaseStartTLS        // stream header, <starttls/>, TLS handshake
	phaseAuth            // stream restart, SASL SCRAM-SHA-256
	phaseBind            // stream restart, resource binding (RFC 6120 §7)
	phaseOnline          // initial presence, confirmed by a ping round trip
	numPhases
)

var phaseNames = [numPhases]string{"connect", "starttls", "auth", "bind", "online"}

// LoginTiming is how long each login phase took.
type LoginTiming [numPhases]time.Duration

// Total is the time from the start of the TCP connect to being online.
func (t LoginTiming) Total() time.Duration {
	var sum time.Duration
	for _, d := range t {
		sum += d
	}
	return sum
}

// ClientConfig says where and as whom a Client logs in.
type ClientConfig struct {
	Addr     string // host:port of the c2s (STARTTLS) listener
	Domain   string // the XMPP domain
	Username string
	Password string
	Resource string
	// Timeout bounds the whole login.
	Timeout time.Duration
	// WriteTimeout bounds each write after login.
	WriteTimeout time.Duration
	// Mech is the SASL mechanism family: "scram" (SCRAM-SHA-256, else
	// SCRAM-SHA-1 when that is all the server offers) or "plain".
	Mech string
	// NoTLS skips STARTTLS (for servers that allow plain-text streams).
	NoTLS bool
	// Source, if set, is the local address the TCP connection comes from
	// (a loopback address 127.0.0.x spreads the per-address limits).
	Source net.IP
	// Register creates the account by in-band registration (XEP-0077)
	// before authenticating; an existing account is not an error.
	Register bool
	// RecvBuffer, if positive, is the TCP receive buffer (SO_RCVBUF) in
	// bytes, set before connecting so that it also bounds the window the
	// server may fill: a client that stops reading then stops the server
	// after that much, as one on a bad link does.
	RecvBuffer int
	// TLSSessions, if set, keeps the TLS sessions (tickets) the server
	// gives, to resume them on the next connection (RFC 8446 §2.2).
	TLSSessions tls.ClientSessionCache
}

// Client is one logged-in XMPP session.
type Client struct {
	JID    string // full JID, as bound by the server
	Timing LoginTiming

	cfg  ClientConfig
	raw  net.Conn // the TCP connection
	conn net.Conn // the TLS connection over raw
	br   *bufio.Reader
	dec  *xml.Decoder // reads the stream header
	// stanzas reads what follows the header (xmlread.go).
	stanzas *stanzaReader
	// features are the stream features already read (no STARTTLS), for
	// the next phase to use instead of restarting the stream.
	features *element

	wmu       sync.Mutex
	closeOnce sync.Once
	// Resumed is set when the TLS handshake resumed an earlier session.
	Resumed bool
}

// phaseError is a login that failed in one phase.
type phaseError struct {
	phase int
	err   error
}

func (e *phaseError) Error() string { return phaseNames[e.phase] + ": " + e.err.Error() }
func (e *phaseError) Unwrap() error { return e.err }

// StreamError is a stream error sent by the server (RFC 6120 §4.9).
type StreamError struct {
	Condition, Text string
	// Other is the address a <see-other-host/> names (§4.9.3.19).
	Other string
}

func (e *StreamError) Error() string {
	if e.Text != "" {
		return "stream error " + e.Condition + " (" + e.Text + ")"
	}
	return "stream error " + e.Condition
}

// saslFailure is a SASL <failure/> (RFC 6120 §6.5).
type saslFailure struct{ condition string }

func (e *saslFailure) Error() string { return "SASL failure " + e.condition }

// stanzaError is an IQ answered with type='error' (RFC 6120 §8.3).
type stanzaError struct{ condition string }

func (e *stanzaError) Error() string { return "stanza error " + e.condition }

// errStreamClosed means the server sent </stream:stream>.
var errStreamClosed = errors.New("server closed the stream")

// Login connects and logs in: TCP, STARTTLS (RFC 6120 §5; the server's
// certificate is not verified, benchmarks run against self-signed ones),
// SCRAM-SHA-256 (RFC 7677), resource binding, initial presence. It returns
// once the server has processed the initial presence, which a ping
// (XEP-0199) sent right after it proves: the server handles one stream's
// stanzas in order.
func Login(ctx context.Context, cfg ClientConfig) (*Client, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	c := &Client{cfg: cfg}
	mark := time.Now()
	step := func(phase int, err error) error {
		now := time.Now()
		c.Timing[phase] = now.Sub(mark)
		mark = now
		if err != nil {
			if ctx.Err() != nil {
				// The login deadline or a cancellation interrupted it.
				err = fmt.Errorf("%w (%v)", ctx.Err(), err)
			}
			return &phaseError{phase: phase, err: err}
		}
		return nil
	}

	raw, err := dial(ctx, cfg)
	if err := step(phaseConnect, err); err != nil {
		return nil, err
	}
	c.raw, c.conn = raw, raw
	if deadline, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(deadline)
	}
	// Cancellation (^C) interrupts a login blocked on the socket.
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if err := step(phaseStartTLS, c.startTLS(ctx, cfg.NoTLS)); err != nil {
		c.Close()
		return nil, err
	}
	if err := step(phaseAuth, c.authenticate()); err != nil {
		c.Close()
		return nil, err
	}
	if err := step(phaseBind, c.bind()); err != nil {
		c.Close()
		return nil, err
	}
	if err := step(phaseOnline, c.goOnline()); err != nil {
		c.Close()
		return nil, err
	}
	if !stop() {
		c.Close()
		return nil, &phaseError{phase: phaseOnline, err: ctx.Err()}
	}
	_ = raw.SetDeadline(time.Time{})
	return c, nil
}

// dial opens the TCP connection of a login, from cfg.Source and with
// cfg.RecvBuffer if set.
func dial(ctx context.Context, cfg ClientConfig) (net.Conn, error) {
	var d net.Dialer
	if cfg.Source != nil {
		d.LocalAddr = &net.TCPAddr{IP: cfg.Source}
	}
	if cfg.RecvBuffer > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, cfg.RecvBuffer)
			}); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("setting SO_RCVBUF: %w", serr)
			}
			return nil
		}
	}
	return d.DialContext(ctx, "tcp", cfg.Addr)
}

// openStream sends our stream header and reads the server's header and
// stream features (RFC 6120 §4.2, §4.3.2) on a fresh decoder, as a stream
// restart requires (§4.3.3).
func (c *Client) openStream() (*element, error) {
	header := fmt.Sprintf("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='%s' to='%s' version='1.0'>",
		nsStreams, escape(c.cfg.Domain))
	if err := c.write([]byte(header)); err != nil {
		return nil, err
	}
	c.dec = xml.NewDecoder(c.br)
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return nil, fmt.Errorf("reading stream header: %w", err)
		}
		if start, ok := tok.(xml.StartElement); ok {
			if start.Name.Space != nsStreams || start.Name.Local != "stream" {
				return nil, fmt.Errorf("expected <stream:stream>, got <%s>", start.Name.Local)
			}
			c.stanzas = newStanzaReader(c.br, start)
			break
		}
	}
	f, err := c.Next()
	if err != nil {
		return nil, fmt.Errorf("reading stream features: %w", err)
	}
	if f.XMLName.Space != nsStreams || f.XMLName.Local != "features" {
		return nil, fmt.Errorf("expected <stream:features>, got <%s>", f.XMLName.Local)
	}
	return f, nil
}

// startTLS negotiates STARTTLS (RFC 6120 §5.4) and the TLS handshake;
// with skip it only opens the stream (and keeps its features for
// authenticate).
func (c *Client) startTLS(ctx context.Context, skip bool) error {
	c.br = bufio.NewReaderSize(c.raw, readBufferSize)
	f, err := c.openStream()
	if err != nil {
		return err
	}
	if skip {
		c.features = f
		return nil
	}
	if f.child(nsTLS, "starttls") == nil {
		return errors.New("server does not offer STARTTLS")
	}
	if err := c.write([]byte("<starttls xmlns='" + nsTLS + "'/>")); err != nil {
		return err
	}
	e, err := c.Next()
	if err != nil {
		return err
	}
	if e.XMLName.Space != nsTLS || e.XMLName.Local != "proceed" {
		return fmt.Errorf("STARTTLS refused: <%s>", e.XMLName.Local)
	}
	if c.br.Buffered() > 0 {
		return errors.New("server sent data after <proceed/>")
	}
	tc := tls.Client(c.raw, &tls.Config{ServerName: c.cfg.Domain, InsecureSkipVerify: true, ClientSessionCache: c.cfg.TLSSessions})
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	c.Resumed = tc.ConnectionState().DidResume
	c.wmu.Lock()
	c.conn = tc
	c.wmu.Unlock()
	c.br = bufio.NewReaderSize(tc, readBufferSize)
	return nil
}

// authenticate logs in with SASL (RFC 6120 §6) on a restarted stream:
// SCRAM-SHA-256 (RFC 7677), or SCRAM-SHA-1 (RFC 5802) when the server
// offers only that, checking the server's signature; or PLAIN (RFC 4616)
// with Mech "plain". With Register it first creates the account by
// in-band registration (XEP-0077) on the same stream.
func (c *Client) authenticate() error {
	f := c.features
	c.features = nil
	if f == nil {
		var err error
		if f, err = c.openStream(); err != nil {
			return err
		}
	}
	if c.cfg.Register {
		if err := c.register(); err != nil {
			return err
		}
	}
	offered := map[string]bool{}
	if mechs := f.child(nsSASL, "mechanisms"); mechs != nil {
		for _, m := range mechs.Children {
			offered[strings.TrimSpace(m.Text)] = true
		}
	}
	if c.cfg.Mech == "plain" {
		if !offered["PLAIN"] {
			return errors.New("server does not offer PLAIN")
		}
		resp := "\x00" + c.cfg.Username + "\x00" + c.cfg.Password
		return c.saslExchange("PLAIN", []byte(resp), nil)
	}
	var hash scram.HashGeneratorFcn
	var mech string
	switch {
	case offered["SCRAM-SHA-256"]:
		hash, mech = scram.SHA256, "SCRAM-SHA-256"
	case offered["SCRAM-SHA-1"]:
		hash, mech = scram.SHA1, "SCRAM-SHA-1"
	default:
		return errors.New("server offers neither SCRAM-SHA-256 nor SCRAM-SHA-1")
	}
	client, err := hash.NewClient(c.cfg.Username, c.cfg.Password, "")
	if err != nil {
		return fmt.Errorf("SCRAM client: %w", err)
	}
	conv := client.NewConversation()
	msg, err := conv.Step("")
	if err != nil {
		return fmt.Errorf("SCRAM first message: %w", err)
	}
	return c.saslExchange(mech, []byte(msg), func(challenge []byte) ([]byte, error) {
		msg, err := conv.Step(string(challenge))
		if err != nil {
			return nil, fmt.Errorf("SCRAM: %w", err)
		}
		if conv.Done() && !conv.Valid() {
			return nil, errors.New("SCRAM: server signature not valid")
		}
		return []byte(msg), nil
	})
}

// saslExchange sends <auth/> with the initial response and answers
// challenges with step until <success/>; step also checks the additional
// data of <success/> (SCRAM's server signature). A nil step is a
// mechanism without challenges.
func (c *Client) saslExchange(mech string, initial []byte, step func([]byte) ([]byte, error)) error {
	out := "<auth xmlns='" + nsSASL + "' mechanism='" + mech + "'>" + base64.StdEncoding.EncodeToString(initial) + "</auth>"
	for {
		if err := c.write([]byte(out)); err != nil {
			return err
		}
		e, err := c.Next()
		if err != nil {
			return err
		}
		if e.XMLName.Space != nsSASL {
			return fmt.Errorf("unexpected <%s> during SASL", e.XMLName.Local)
		}
		text := strings.TrimSpace(e.Text)
		if text == "=" {
			text = ""
		}
		data, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return fmt.Errorf("SASL <%s>: %w", e.XMLName.Local, err)
		}
		switch e.XMLName.Local {
		case "challenge":
			if step == nil {
				return fmt.Errorf("unexpected challenge for %s", mech)
			}
			msg, err := step(data)
			if err != nil {
				return err
			}
			out = "<response xmlns='" + nsSASL + "'>" + base64.StdEncoding.EncodeToString(msg) + "</response>"
		case "success":
			if step != nil {
				// The additional data is SCRAM's server-final-message
				// (some servers send it in a last challenge instead).
				if len(data) > 0 {
					if _, err := step(data); err != nil {
						return fmt.Errorf("server signature: %w", err)
					}
				}
			}
			return nil
		case "failure":
			cond := "unknown"
			if len(e.Children) > 0 {
				cond = e.Children[0].XMLName.Local
			}
			return &saslFailure{condition: cond}
		default:
			return fmt.Errorf("unexpected <%s> during SASL", e.XMLName.Local)
		}
	}
}

// register creates the account by in-band registration (XEP-0077 §3.1)
// on the unauthenticated stream; conflict (it exists) is fine.
func (c *Client) register() error {
	req := "<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>" + escape(c.cfg.Username) +
		"</username><password>" + escape(c.cfg.Password) + "</password></query></iq>"
	if err := c.write([]byte(req)); err != nil {
		return err
	}
	_, err := c.awaitIQ("reg")
	var se *stanzaError
	if errors.As(err, &se) && se.condition == "conflict" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("in-band registration: %w", err)
	}
	return nil
}

// bind restarts the stream and binds a resource (RFC 6120 §7).
func (c *Client) bind() error {
	f, err := c.openStream()
	if err != nil {
		return err
	}
	if f.child(nsBind, "bind") == nil {
		return errors.New("server does not offer resource binding")
	}
	req := "<iq type='set' id='bind'><bind xmlns='" + nsBind + "'><resource>" + escape(c.cfg.Resource) + "</resource></bind></iq>"
	if err := c.write([]byte(req)); err != nil {
		return err
	}
	res, err := c.awaitIQ("bind")
	if err != nil {
		return err
	}
	if b := res.child(nsBind, "bind"); b != nil {
		if j := b.child(nsBind, "jid"); j != nil {
			c.JID = strings.TrimSpace(j.Text)
		}
	}
	if c.JID == "" {
		return errors.New("bind result without a JID")
	}
	return nil
}

// goOnline sends initial presence (RFC 6121 §4.2) and a ping to the server
// behind it, and waits for the ping's answer.
func (c *Client) goOnline() error {
	req := "<presence/><iq type='get' id='online' to='" + escape(c.cfg.Domain) + "'><ping xmlns='" + nsPing + "'/></iq>"
	if err := c.write([]byte(req)); err != nil {
		return err
	}
	_, err := c.awaitIQ("online")
	return err
}

// awaitIQ reads until the answer to the IQ with the given id, dropping
// anything else (presence, roster pushes, offline messages).
func (c *Client) awaitIQ(id string) (*element, error) {
	for {
		e, err := c.Next()
		if err != nil {
			return nil, err
		}
		if e.XMLName.Local != "iq" || e.attr("id") != id {
			continue
		}
		switch e.attr("type") {
		case "result":
			return e, nil
		case "error":
			return nil, &stanzaError{condition: e.errorCondition()}
		}
	}
}

// Next reads the next top-level element of the stream. A stream error
// comes back as *StreamError, the end of the stream as errStreamClosed.
func (c *Client) Next() (*element, error) {
	e, err := c.stanzas.next()
	if err != nil {
		return nil, err
	}
	if e.XMLName.Space == nsStreams && e.XMLName.Local == "error" {
		se := &StreamError{Condition: "undefined-condition"}
		for _, ch := range e.Children {
			switch {
			case ch.XMLName.Space == nsStreamE && ch.XMLName.Local == "text":
				se.Text = strings.TrimSpace(ch.Text)
			case ch.XMLName.Space == nsStreamE:
				se.Condition = ch.XMLName.Local
				if ch.XMLName.Local == "see-other-host" {
					se.Other = strings.TrimSpace(ch.Text)
				}
			}
		}
		return nil, se
	}
	return e, nil
}

// Send writes raw stanza bytes.
func (c *Client) Send(b []byte) error {
	if err := c.write(b); err != nil {
		return fmt.Errorf("%s: sending: %w", c.cfg.Username, err)
	}
	return nil
}

func (c *Client) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.cfg.WriteTimeout > 0 && c.JID != "" {
		_ = c.conn.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	}
	_, err := c.conn.Write(b)
	return err
}

// PeerClosed reports whether the server has closed the TCP connection (a
// FIN or a reset arrived), without reading from it: data the client has
// not read may still wait in the socket. It reads the kernel's TCP state.
func (c *Client) PeerClosed() bool {
	tc, ok := c.raw.(*net.TCPConn)
	if !ok {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return true // already closed here
	}
	var state uint8
	var serr error
	if err := rc.Control(func(fd uintptr) {
		var info *unix.TCPInfo
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if serr == nil {
			state = info.State
		}
	}); err != nil || serr != nil {
		return true
	}
	return state != unix.BPF_TCP_ESTABLISHED
}

// Close ends the stream politely (</stream:stream>) and closes the
// connection without waiting for the server's reply.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		// Skip the closing tag if a write is in progress (and maybe
		// blocked on a server that does not read).
		if c.JID != "" && c.wmu.TryLock() {
			_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.conn.Write([]byte("</stream:stream>"))
			c.wmu.Unlock()
		}
		_ = c.raw.Close()
	})
}

// element is a parsed XML element, generic enough for everything the
// bench reads.
type element struct {
	XMLName  xml.Name
	Attr     []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []element  `xml:",any"`
}

func (e *element) attr(name string) string {
	for _, a := range e.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (e *element) child(space, local string) *element {
	i := slices.IndexFunc(e.Children, func(ch element) bool {
		return ch.XMLName.Space == space && ch.XMLName.Local == local
	})
	if i < 0 {
		return nil
	}
	return &e.Children[i]
}

// errorCondition is the defined condition of a stanza error (RFC 6120
// §8.3.3), or "undefined-condition".
func (e *element) errorCondition() string {
	if er := e.child("jabber:client", "error"); er != nil {
		for _, ch := range er.Children {
			if ch.XMLName.Space == nsStanzas && ch.XMLName.Local != "text" {
				return ch.XMLName.Local
			}
		}
	}
	return "undefined-condition"
}

// escape escapes s for an XML attribute value or text.
func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return strings.ReplaceAll(b.String(), "'", "&apos;")
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// failureReason sums up why a login or a session failed, in a few words
// that can be counted: the phase and the cause, never addresses or ids.
func failureReason(err error) string {
	prefix := ""
	var pe *phaseError
	if errors.As(err, &pe) {
		prefix = phaseNames[pe.phase] + ": "
	}
	var se *StreamError
	var sf *saslFailure
	var ste *stanzaError
	var errno syscall.Errno
	switch {
	case errors.As(err, &se):
		return prefix + se.Error()
	case errors.As(err, &sf):
		return prefix + sf.Error()
	case errors.As(err, &ste):
		return prefix + ste.Error()
	case errors.Is(err, context.Canceled):
		return prefix + "cancelled"
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return prefix + "timeout"
	case errors.Is(err, errStreamClosed):
		return prefix + "stream closed by server"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return prefix + "connection closed by server"
	case errors.As(err, &errno):
		return prefix + errno.Error()
	}
	msg := err.Error()
	if pe != nil {
		msg = pe.err.Error()
	}
	if len(msg) > 80 {
		msg = msg[:80] + "…"
	}
	return prefix + msg
}

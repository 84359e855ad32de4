package xmpp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"hash"
	"strings"
	"time"

	"github.com/xdg-go/scram"

	"github.com/parleychat/parley/protocol/auth"
)

// SASL (RFC 6120 §6) with SCRAM-SHA-1, SCRAM-SHA-256 (RFC 5802, RFC 7677),
// their -PLUS variants with channel binding (tls-exporter, RFC 9266, and
// tls-server-end-point, RFC 5929) and PLAIN (RFC 4616). The SCRAM
// conversations are github.com/xdg-go/scram's: it verifies against the
// stored StoredKey/ServerKey pair, where mellium.im/sasl's server needs the
// salted password, a password equivalent we do not want to store.

const nsSASLCB = "urn:xmpp:sasl-cb:0" // XEP-0440

// maxSASLMessage bounds one decoded SASL message.
const maxSASLMessage = 4096

type scramMech struct {
	name string // without -PLUS
	hash scram.HashGeneratorFcn
}

var scramMechs = map[string]scramMech{
	"SCRAM-SHA-256": {auth.ScramSHA256, scram.SHA256},
	"SCRAM-SHA-1":   {auth.ScramSHA1, scram.SHA1},
}

// saslMechanisms is the <mechanisms/> feature. PLAIN is offered only
// because TLS is always established before SASL here. With a Verifier
// (an LDAP directory) PLAIN is the only one: SCRAM needs stored verifiers.
func (s *Server) saslMechanisms(c *conn) *Element {
	m := NewElement(nsSASL, "mechanisms")
	names := []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}
	if s.cfg.Verifier != nil {
		names = []string{"PLAIN"}
	} else if len(s.channelBindings(c)) > 0 {
		names = append([]string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"}, names...)
	}
	for _, n := range names {
		m.Append(NewElement(nsSASL, "mechanism").AppendText(n))
	}
	return m
}

// channelBindingTypes is the XEP-0440 feature listing the channel-binding
// types this connection supports, or nil.
func (s *Server) channelBindingTypes(c *conn) *Element {
	cbs := s.channelBindings(c)
	if len(cbs) == 0 {
		return nil
	}
	el := NewElement(nsSASLCB, "sasl-channel-binding")
	for _, cb := range cbs {
		el.Append(NewElement(nsSASLCB, "channel-binding", "type", string(cb.Type)))
	}
	return el
}

// channelBindings computes the channel-binding data of the connection's TLS
// session for each type we support.
func (s *Server) channelBindings(c *conn) []scram.ChannelBinding {
	if !c.secure || !s.cfg.ChannelBinding || c.web {
		return nil
	}
	var out []scram.ChannelBinding
	// tls-exporter is defined for TLS 1.3 (RFC 9266 §3; for 1.2 it needs
	// the extended master secret, which we do not check).
	if c.tlsState.Version == tlsVersion13 {
		if data, err := c.tlsState.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32); err == nil {
			out = append(out, scram.ChannelBinding{Type: scram.ChannelBindingTLSExporter, Data: data})
		}
	}
	hash := s.certHash
	if c.servedCert != nil {
		hash = serverEndPointHash(c.servedCert)
	}
	if hash != nil {
		out = append(out, scram.ChannelBinding{Type: scram.ChannelBindingTLSServerEndpoint, Data: hash})
	}
	return out
}

// serverEndPointHash is the tls-server-end-point binding data of our
// certificate (RFC 5929 §4.1): its hash with the signature's hash function,
// SHA-256 for MD5 and SHA-1.
func serverEndPointHash(der []byte) []byte {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = sha512.New()
	case x509.PureEd25519:
		return nil // RFC 5929 does not define it
	default:
		h = sha256.New()
	}
	h.Write(cert.Raw)
	return h.Sum(nil)
}

// saslFailure ends one SASL attempt (RFC 6120 §6.5).
type saslFailure struct {
	condition string
	text      string
}

func (f *saslFailure) Error() string { return "SASL failure: " + f.condition + " " + f.text }

// authenticate runs one SASL exchange that started with auth. ok reports
// success; a non-nil error ends the stream.
func (c *conn) authenticate(ctx context.Context, authEl *Element) (ok bool, err error) {
	mech := authEl.AttrValue("mechanism")
	initial, ferr := decodeSASL(authEl.Text())
	var username string
	var final []byte
	if ferr == nil {
		username, final, ferr = c.runMechanism(ctx, nsSASL, mech, initial)
	}
	if ferr == nil {
		// RFC 6120 §6.4.6: the server's final message (SCRAM's
		// signature) rides on <success/>.
		success := NewElement(nsSASL, "success")
		if final != nil {
			success.AppendText(base64.StdEncoding.EncodeToString(final))
		}
		if err := c.write(success.Bytes()); err != nil {
			return false, err
		}
	}
	return c.saslOutcome(ctx, mech, username, ferr, saslFailureBytes)
}

// runMechanism runs the conversation of one mechanism (PLAIN or SCRAM)
// whose challenges and responses are elements of the profile's namespace
// ns (RFC 6120's SASL or SASL2's): the same mechanisms and channel-binding
// rules whichever profile carries them. It returns the authenticated
// username and the server's final message, if any.
func (c *conn) runMechanism(ctx context.Context, ns, mech string, initial []byte) (username string, final []byte, err error) {
	switch {
	case mech == "PLAIN":
		username, err = c.srv.authPlain(ctx, initial)
		return username, nil, err
	case strings.HasPrefix(mech, "SCRAM-") && c.srv.cfg.Verifier == nil:
		return c.authScram(ctx, ns, mech, initial)
	}
	return "", nil, &saslFailure{condition: "invalid-mechanism"}
}

// saslOutcome ends one SASL attempt in either profile: on success the
// connection is the user's; a failure is counted, delayed (the delay grows
// with the failures from the address) and answered with failure's bytes;
// too many end the stream. ferr that is not a *saslFailure ends the stream.
func (c *conn) saslOutcome(ctx context.Context, mech, username string, ferr error, failure func(*saslFailure) []byte) (ok bool, err error) {
	if ferr == nil {
		c.username = username
		c.srv.limits.authSucceeded(c.remoteIP)
		c.srv.metrics.logins.Inc()
		c.logger().Info("authenticated", "user", username, "mechanism", mech)
		return true, nil
	}
	var f *saslFailure
	if !errors.As(ferr, &f) {
		return false, ferr // the stream broke
	}
	if f.condition == "aborted" {
		return false, c.write(failure(f))
	}
	c.authFails++
	c.srv.metrics.authFailures.Inc()
	c.logger().Info("authentication failed", "mechanism", mech, "condition", f.condition)
	delay := c.srv.limits.authFailed(c.remoteIP, c.srv.limit().AuthFailureDelay)
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if err := c.write(failure(f)); err != nil {
		return false, err
	}
	if c.authFails >= c.srv.limit().MaxAuthFailures {
		return false, &StreamError{Condition: "policy-violation", Text: "too many failed authentication attempts"}
	}
	return false, nil
}

func saslFailureBytes(f *saslFailure) []byte {
	el := NewElement(nsSASL, "failure").Append(NewElement(nsSASL, f.condition))
	if f.text != "" {
		t := NewElement(nsSASL, "text")
		t.Attr = append(t.Attr, xmlLang("en"))
		el.Append(t.AppendText(f.text))
	}
	return el.Bytes()
}

// decodeSASL decodes the base64 payload of auth/response ("=" is empty).
func decodeSASL(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "=" {
		return nil, nil
	}
	if len(s) > maxSASLMessage*4/3+4 {
		return nil, &saslFailure{condition: "malformed-request", text: "SASL message too long"}
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, &saslFailure{condition: "incorrect-encoding"}
	}
	return b, nil
}

// authPlain checks a PLAIN message (RFC 4616) against the stored SCRAM
// credential: it derives the StoredKey from the password and compares.
func (s *Server) authPlain(ctx context.Context, msg []byte) (string, error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", &saslFailure{condition: "malformed-request"}
	}
	user, err := auth.NormalizeUsername(string(parts[1]))
	if err != nil {
		return "", &saslFailure{condition: "not-authorized"}
	}
	if !s.authzidOK(string(parts[0]), user) {
		return "", &saslFailure{condition: "invalid-authzid"}
	}
	password, err := auth.PreparePassword(string(parts[2]))
	if err != nil {
		return "", &saslFailure{condition: "not-authorized"}
	}
	if s.cfg.Verifier != nil {
		return user, s.verifyPlain(ctx, user, password)
	}
	// An account imported from another server (parleyctl import) may
	// have only a SCRAM-SHA-1 credential: PLAIN checks against it, then
	// stores the full set derived from the password, so that SCRAM-SHA-256
	// and SIP digest work for the user from then on.
	mech, err := auth.VerifyStored(ctx, s.cfg.Store, user, password)
	switch {
	case errors.Is(err, auth.ErrNotAuthorized):
		return "", &saslFailure{condition: "not-authorized"}
	case err != nil:
		s.log.Error("PLAIN: reading credential", "err", err)
		return "", &saslFailure{condition: "temporary-auth-failure"}
	}
	if mech != auth.ScramSHA256 {
		if err := s.setPassword(ctx, user, password, false, nil); err != nil {
			s.log.Warn("PLAIN: could not add SCRAM-SHA-256 and digest credentials to an account that had only "+mech, "user", user, "err", err)
		} else {
			s.log.Info("PLAIN: credentials completed from the password", "user", user, "had", mech)
		}
	}
	return user, nil
}

// verifyPlain asks the configured Verifier (the directory) about a PLAIN
// login.
func (s *Server) verifyPlain(ctx context.Context, user, password string) error {
	err := s.cfg.Verifier.Verify(ctx, user, password)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, auth.ErrNotAuthorized):
		s.log.Debug("PLAIN: refused by the directory", "user", user, "err", err)
		return &saslFailure{condition: "not-authorized"}
	}
	s.log.Error("PLAIN: cannot check the password", "user", user, "err", err)
	return &saslFailure{condition: "temporary-auth-failure", text: "the directory cannot be reached; try again later"}
}

// authzidOK allows an empty authorization identity or the user's own bare
// JID (we do not support acting as someone else).
func (s *Server) authzidOK(authzid, user string) bool {
	return authzid == "" || authzid == user+"@"+s.cfg.Domain
}

// authScram runs a SCRAM conversation, its challenges and responses in the
// namespace ns; it returns the user and the server-final message, which
// the caller sends in its profile's success.
func (c *conn) authScram(ctx context.Context, ns, mech string, first []byte) (string, []byte, error) {
	base, plus := strings.CutSuffix(mech, "-PLUS")
	m, ok := scramMechs[base]
	if !ok {
		return "", nil, &saslFailure{condition: "invalid-mechanism"}
	}
	if len(first) == 0 {
		return "", nil, &saslFailure{condition: "malformed-request", text: "SCRAM needs an initial response"}
	}
	// The GS2 header says which channel binding the client wants.
	flag, _, _ := strings.Cut(string(first), ",")
	cbs := c.srv.channelBindings(c)
	var conv *scram.ServerConversation
	var user string
	lookup := func(name string) (scram.StoredCredentials, error) {
		u, err := auth.NormalizeUsername(name)
		if err != nil {
			return scram.StoredCredentials{}, err
		}
		cred, err := c.srv.cfg.Store.ScramCredential(ctx, u, m.name)
		if err != nil {
			return scram.StoredCredentials{}, err
		}
		user = u
		return scram.StoredCredentials{
			KeyFactors: scram.KeyFactors{Salt: string(cred.Salt), Iters: cred.Iterations},
			StoredKey:  cred.StoredKey,
			ServerKey:  cred.ServerKey,
		}, nil
	}
	srv, err := m.hash.NewServer(lookup)
	if err != nil {
		return "", nil, err
	}
	switch {
	case plus:
		cbType, found := strings.CutPrefix(flag, "p=")
		if !found {
			return "", nil, &saslFailure{condition: "malformed-request", text: mech + " requires channel binding"}
		}
		var cb *scram.ChannelBinding
		for i := range cbs {
			if string(cbs[i].Type) == cbType {
				cb = &cbs[i]
			}
		}
		if cb == nil {
			return "", nil, &saslFailure{condition: "malformed-request", text: "unsupported channel-binding type " + cbType}
		}
		conv = srv.NewConversationWithChannelBindingRequired(*cb)
	case strings.HasPrefix(flag, "p="):
		return "", nil, &saslFailure{condition: "malformed-request", text: "channel binding requested with a non-PLUS mechanism"}
	case len(cbs) > 0:
		// Knowing we support channel binding lets the library refuse a
		// client that says "y" (it thinks we do not: a downgrade).
		conv = srv.NewConversationWithChannelBinding(cbs[0])
	default:
		conv = srv.NewConversation()
	}

	msg := string(first)
	for step := 0; ; step++ {
		resp, err := conv.Step(msg)
		if err != nil {
			c.logger().Debug("SCRAM step failed", "err", err)
			return "", nil, &saslFailure{condition: "not-authorized"}
		}
		if conv.Done() {
			if !conv.Valid() {
				return "", nil, &saslFailure{condition: "not-authorized"}
			}
			if !c.srv.authzidOK(conv.AuthzID(), user) {
				return "", nil, &saslFailure{condition: "invalid-authzid"}
			}
			return user, []byte(resp), nil
		}
		if step > 2 {
			return "", nil, &saslFailure{condition: "malformed-request"}
		}
		challenge := NewElement(ns, "challenge").AppendText(base64.StdEncoding.EncodeToString([]byte(resp)))
		if err := c.write(challenge.Bytes()); err != nil {
			return "", nil, err
		}
		next, err := c.readSASLResponse(ns)
		if err != nil {
			return "", nil, err
		}
		msg = string(next)
	}
}

// readSASLResponse reads the client's <response/> (or <abort/>) in the
// profile's namespace ns.
func (c *conn) readSASLResponse(ns string) ([]byte, error) {
	tok, err := nextToken(c.dec, c.br)
	if err != nil {
		return nil, err
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return nil, errors.New("stream closed during SASL")
	}
	el, err := readElement(c.dec, start, c.scope)
	if err != nil {
		return nil, err
	}
	switch {
	case el.Name.Space == ns && el.Name.Local == "response":
		return decodeSASL(el.Text())
	case el.Name.Space == ns && el.Name.Local == "abort":
		return nil, &saslFailure{condition: "aborted"}
	}
	return nil, &StreamError{Condition: "policy-violation", Text: "expected a SASL response"}
}

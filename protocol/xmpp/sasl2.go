package xmpp

import (
	"context"
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// Extensible SASL Profile (XEP-0388), offered next to RFC 6120's SASL on
// the same secure stream. The mechanisms, their conversations and the
// channel-binding rules are sasl.go's (runMechanism): only the framing
// differs. A client sends <authenticate mechanism/> with its
// <initial-response/> and a <user-agent id/> (§2.3); challenges and
// responses follow (§2.4); <success/> carries the server's final message
// as <additional-data/> and the <authorization-identifier/> (§2.6.1), and
// the stream is not restarted: the server sends the features of the
// authenticated stream at once. Inline with the authentication a client
// binds its resource with Bind2 (XEP-0386, bind2.go) and asks for a FAST
// token (XEP-0484, fast.go).
//
// Neither mellium.im/xmpp nor mellium.im/sasl has a SASL2, Bind2 or FAST
// server (their SASL server is RFC 6120's, and it needs the salted
// password we do not store): this is written here around the existing
// SCRAM code.

const nsSASL2 = "urn:xmpp:sasl:2"

// Bounds on what a client says about itself (§2.3).
const (
	maxAgentID   = 128
	maxAgentText = 256
)

// userAgent is the client's <user-agent/> (§2.3): id is stable per
// installation (a UUID, kept opaque here).
type userAgent struct {
	id, software, device string
}

// sasl2Request is one <authenticate/> parsed.
type sasl2Request struct {
	mech    string
	initial []byte
	agent   userAgent
	el      *Element
}

// registerSASL2 offers <authentication/> before authentication and
// handles <authenticate/>. The offer lists the mechanisms of RFC 6120's
// <mechanisms/> (the same rules decide them) and, in <inline/>, what can
// be negotiated with the authentication (sasl2Inline).
func (s *Server) registerSASL2() {
	s.authFeature(nsSASL2, func(c *conn) *Element {
		el := NewElement(nsSASL2, "authentication")
		for _, m := range s.saslMechanisms(c).Elements() {
			el.Append(NewElement(nsSASL2, "mechanism").AppendText(m.Text()))
		}
		inline := NewElement(nsSASL2, "inline")
		inline.Append(s.bind2Offer())
		if fast := s.fastOffer(c); fast != nil {
			inline.Append(fast)
		}
		return el.Append(inline)
	}, map[string]authHandler{"authenticate": s.sasl2Authenticate})
}

// parseSASL2 reads <authenticate/> (§3.3.1). A malformed one is a
// *saslFailure.
func parseSASL2(el *Element) (*sasl2Request, error) {
	r := &sasl2Request{mech: el.AttrValue("mechanism"), el: el}
	if r.mech == "" || len(r.mech) > 20 {
		return nil, &saslFailure{condition: "invalid-mechanism"}
	}
	if ir := el.Child(nsSASL2, "initial-response"); ir != nil {
		b, err := decodeSASL(ir.Text())
		if err != nil {
			return nil, err
		}
		r.initial = b
	}
	if ua := el.Child(nsSASL2, "user-agent"); ua != nil {
		r.agent.id = ua.AttrValue("id")
		if len(r.agent.id) > maxAgentID || !utf8.ValidString(r.agent.id) {
			return nil, &saslFailure{condition: "malformed-request", text: "user-agent id too long"}
		}
		for _, f := range []struct {
			name string
			to   *string
		}{{"software", &r.agent.software}, {"device", &r.agent.device}} {
			if e := ua.Child(nsSASL2, f.name); e != nil {
				t := strings.TrimSpace(e.Text())
				if len(t) > maxAgentText {
					return nil, &saslFailure{condition: "malformed-request", text: "user-agent " + f.name + " too long"}
				}
				*f.to = t
			}
		}
	}
	return r, nil
}

// sasl2Authenticate runs one SASL2 exchange (§2.3-2.6) and, on success,
// what was asked inline: a FAST token, the binding of a resource.
func (s *Server) sasl2Authenticate(ctx context.Context, c *conn, el *Element) (bound bool, err error) {
	req, ferr := parseSASL2(el)
	mech := el.AttrValue("mechanism")
	var username string
	var final []byte
	var fast *fastLogin
	if ferr == nil {
		if isFASTMechanism(req.mech) {
			username, final, fast, ferr = c.fastAuthenticate(ctx, req)
		} else {
			username, final, ferr = c.runMechanism(ctx, nsSASL2, req.mech, req.initial)
		}
	}
	ok, err := c.saslOutcome(ctx, mech, username, ferr, sasl2FailureBytes)
	if !ok || err != nil {
		return false, err
	}
	success := NewElement(nsSASL2, "success")
	if final != nil {
		success.Append(NewElement(nsSASL2, "additional-data").AppendText(base64.StdEncoding.EncodeToString(final)))
	}
	// FAST (XEP-0484): a new token when asked for, the used one
	// recorded, or dropped when the client says so.
	token, err := c.fastAfterLogin(ctx, req, fast)
	if err != nil {
		c.logger().Error("FAST: storing the token", "user", username, "err", err)
		c.username = ""
		return false, c.write(sasl2FailureBytes(&saslFailure{condition: "temporary-auth-failure", text: "cannot issue a token now"}))
	}
	ident := username + "@" + s.cfg.Domain
	var sess *session
	if b := el.Child(nsBind2, "bind"); b != nil {
		var bound *Element
		sess, bound, ferr = c.bind2(b, req.agent)
		if ferr != nil {
			// Authenticated but not bound: the client may try again.
			c.username = ""
			return false, c.write(sasl2FailureBytes(ferr.(*saslFailure)))
		}
		ident = sess.jid.String()
		success.Append(NewElement(nsSASL2, "authorization-identifier").AppendText(ident))
		success.Append(bound)
	} else {
		success.Append(NewElement(nsSASL2, "authorization-identifier").AppendText(ident))
	}
	if token != nil {
		success.Append(token)
	}
	// No stream restart (§2.6.1): the features of the authenticated
	// stream follow at once.
	out := success.Bytes()
	if sess != nil {
		c.writeMu.Lock()
		c.sess = sess // the features depend on what was enabled inline
		c.writeMu.Unlock()
		out = append(out, c.boundFeatures().Bytes()...)
	} else {
		out = append(out, c.features().Bytes()...)
	}
	if err := c.write(out); err != nil {
		if sess != nil {
			c.writeMu.Lock()
			c.sess = nil
			c.writeMu.Unlock()
			s.router.unbind(sess)
			s.sm.remove(sess.sm.id, sess)
		}
		return false, err
	}
	if sess == nil {
		return false, nil
	}
	c.startSession(sess)
	return true, nil
}

// sasl2FailureBytes is SASL2's <failure/> (§2.6.2): the RFC 6120
// condition in its namespace, and text.
func sasl2FailureBytes(f *saslFailure) []byte {
	el := NewElement(nsSASL2, "failure").Append(NewElement(nsSASL, f.condition))
	if f.text != "" {
		el.Append(NewElement(nsSASL2, "text").AppendText(f.text))
	}
	return el.Bytes()
}

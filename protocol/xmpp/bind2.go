package xmpp

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"time"

	"mellium.im/xmpp/jid"
)

// Bind 2 (XEP-0386), inline with SASL2's <authenticate/>: the resource is
// bound in the same round trip as the authentication, and the features a
// session starts with are enabled with it (§3: carbons, stream management,
// client state; each registers with bind2Feature in its own file). The
// server picks the resource (§3.2): the client's <tag/> and a suffix
// derived from the account and the client's user-agent id, so a device
// gets back its own resource each time it logs in; a session that still
// holds that resource is the same device's and is replaced (RFC 6120
// §7.7.2.2, "override the existing session"). Without a user-agent id the
// suffix is random.

const nsBind2 = "urn:xmpp:bind:0"

// maxBind2Tag bounds the client's tag (it becomes part of the resource).
const maxBind2Tag = 64

// bind2Offer is the <bind/> offered inside SASL2's <inline/> (§2), with
// the features that can be enabled with it.
func (s *Server) bind2Offer() *Element {
	inline := NewElement(nsBind2, "inline")
	for _, v := range s.features.bind2Vars {
		inline.Append(NewElement(nsBind2, "feature", "var", v))
	}
	return NewElement(nsBind2, "bind").Append(inline)
}

// bind2Resource is the resource Bind2 binds for a client (§3.2): tag, a
// dot, and 8 characters that depend only on the account and the
// user-agent id; random when there is no id.
func bind2Resource(bare, tag, agentID string) string {
	suffix := strings.ToLower(randomID(5))
	if agentID != "" {
		h := sha256.Sum256([]byte(bare + "\x00" + agentID))
		suffix = strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:5]))
	}
	if tag == "" {
		tag = "parley"
	}
	return tag + "." + suffix
}

// bind2 binds a resource for c's user as req asks (§3) and applies the
// inline features it names; it returns the session, bound but not started,
// and the <bound/> to put in SASL2's success. A refusal is a *saslFailure.
func (c *conn) bind2(req *Element, agent userAgent) (*session, *Element, error) {
	account, err := jid.New(c.username, c.srv.cfg.Domain, "")
	if err != nil {
		return nil, nil, &saslFailure{condition: "temporary-auth-failure"}
	}
	tag := ""
	if t := req.Child(nsBind2, "tag"); t != nil {
		tag = strings.TrimSpace(t.Text())
		if _, err := account.WithResource(tag); tag != "" && (err != nil || len(tag) > maxBind2Tag || strings.Contains(tag, "/")) {
			return nil, nil, &saslFailure{condition: "malformed-request", text: "invalid Bind2 tag"}
		}
	}
	bare := account.String()
	res := bind2Resource(bare, tag, agent.id)
	c.srv.bind2Replace(bare, res)

	s := c.newSession()
	s.bare = bare
	bound := NewElement(nsBind2, "bound")
	for _, el := range req.Elements() {
		if h := c.srv.features.bind2[el.Name]; h != nil {
			if out := h(c, s, el); out != nil {
				bound.Append(out)
			}
		}
	}
	ok, err := c.srv.router.bind(s, account, res, c.srv.limit().MaxResourcesPerUser)
	if err != nil || !ok {
		c.srv.sm.remove(s.sm.id, s)
		text := "too many sessions for this account"
		if err != nil {
			text = "invalid resource"
		}
		return nil, nil, &saslFailure{condition: "not-authorized", text: text}
	}
	return s, bound, nil
}

// bind2Replace ends the session that holds bare/res, if any: it is the
// same device's (same user-agent id), whose connection is dead or about to
// be. A detached resumable session ends at once (what it holds goes
// offline); a live one is told conflict and given a moment to go.
func (s *Server) bind2Replace(bare, res string) {
	old := s.router.session(bare, res)
	if old == nil {
		return
	}
	old.mu.Lock()
	detached, kill := old.sm.detached, old.kill
	old.mu.Unlock()
	if detached {
		s.smExpire(old)
		return
	}
	kill(&StreamError{Condition: "conflict", Text: "replaced by a new session of the same client"})
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s.router.session(bare, res) != old {
			return
		}
	}
}

// boundFeatures are the features of a stream bound by Bind2: what is
// registered for bound streams (the resource is bound already).
func (c *conn) boundFeatures() *Element {
	f := NewElement(nsStreams, "features")
	c.srv.appendBoundFeatures(c, f)
	return f
}

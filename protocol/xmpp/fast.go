package xmpp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/xdg-go/scram"

	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
)

// FAST (XEP-0484): a client that logged in with its password asks, inline
// with SASL2, for a token (<request-token mechanism/>, §3.2) and logs in
// with it next time in one round trip and without a PBKDF2, with the HT
// mechanisms (draft-schmaus-kitten-sasl-ht): the initial response is the
// username, a NUL and HMAC-SHA-256(token, "Initiator" || cb-data), the
// server's final message HMAC-SHA-256(token, "Responder" || cb-data).
// HT-SHA-256-NONE binds to nothing; -EXPR binds to tls-exporter and -ENDP
// to tls-server-end-point, offered when the connection has them (the same
// rules as SCRAM's -PLUS, sasl.go). A token belongs to one device (the
// SASL2 user-agent id, which FAST requires).
//
// Tokens are stored hashed: the database holds SHA-256(token), never the
// token. Tokens are longer than SHA-256's block (64 bytes), and HMAC hashes
// such a key before use (RFC 2104 §2), so HMAC(token, m) equals
// HMAC(SHA-256(token), m) and the server computes the HT proofs from the
// hash. (That hash is what the HT mechanism needs to check a login, so it
// is as sensitive as any verifier; what is gained is that the database
// never holds what the client stores.)
//
// Rotation (§3.5): a login that asks for a token gets a new one; the one
// before stays valid until the new one is first used, so a client that
// missed the new token is not locked out. <fast invalidate='true'/>
// (§3.6) ends the token used, and count (§3.4) must grow from one login to
// the next. `parleyctl user tokens list|revoke` lists and revokes them.

const nsFAST = "urn:xmpp:fast:0"

// fastTokenBytes is the random part of a token: 60 bytes, 80 base64
// characters, longer than SHA-256's 64-byte block (see above).
const fastTokenBytes = 60

// fastMechs are the HT mechanisms, by name, with the channel binding
// their cb-data comes from ("" for none).
var fastMechs = map[string]scram.ChannelBindingType{
	"HT-SHA-256-NONE": "",
	"HT-SHA-256-EXPR": scram.ChannelBindingTLSExporter,
	"HT-SHA-256-ENDP": scram.ChannelBindingTLSServerEndpoint,
}

func isFASTMechanism(mech string) bool { return strings.HasPrefix(mech, "HT-") }

// fastLogin is a login with a token, kept for what follows its success.
type fastLogin struct {
	tok  storage.FastToken
	prev bool // the token before the last rotation was used
	// key and expires are the hash and expiry of the token used.
	key     []byte
	expires time.Time
	count   int64
	counted bool
}

// fastMechanisms are the HT mechanisms this connection can offer, in
// order of preference, with their cb-data.
func (c *conn) fastMechanisms() (names []string, cbData map[string][]byte) {
	cbData = map[string][]byte{"HT-SHA-256-NONE": nil}
	for _, cb := range c.srv.channelBindings(c) {
		for name, typ := range fastMechs {
			if typ == cb.Type {
				cbData[name] = cb.Data
				names = append(names, name)
			}
		}
	}
	return append(names, "HT-SHA-256-NONE"), cbData
}

// fastOffer is <fast/> in SASL2's <inline/> (§2). Not with a password
// Verifier: a token would outlive what the directory says of the account.
func (s *Server) fastOffer(c *conn) *Element {
	if s.cfg.Verifier != nil {
		return nil
	}
	el := NewElement(nsFAST, "fast")
	names, _ := c.fastMechanisms()
	for _, n := range names {
		el.Append(NewElement(nsFAST, "mechanism").AppendText(n))
	}
	return el
}

// htProof is HMAC-SHA-256 keyed by the token's hash (equal to keyed by the
// token, see above) over label and cb-data.
func htProof(hash []byte, label string, cbData []byte) []byte {
	m := hmac.New(sha256.New, hash)
	m.Write([]byte(label))
	m.Write(cbData)
	return m.Sum(nil)
}

// fastAuthenticate checks an HT login (§3.3): the user-agent's token (the
// current one or, until the current one is used, the one before), not
// expired, the proof computed over this connection's channel binding, and
// a count above the last one. It returns the user, the server's final
// message and the login.
func (c *conn) fastAuthenticate(ctx context.Context, req *sasl2Request) (string, []byte, *fastLogin, error) {
	names, cbData := c.fastMechanisms()
	if c.srv.cfg.Verifier != nil || !strings.Contains(" "+strings.Join(names, " ")+" ", " "+req.mech+" ") {
		return "", nil, nil, &saslFailure{condition: "invalid-mechanism"}
	}
	name, proof, ok := bytes.Cut(req.initial, []byte{0})
	if !ok || len(proof) != sha256.Size {
		return "", nil, nil, &saslFailure{condition: "malformed-request", text: "HT wants username NUL proof"}
	}
	user, err := auth.NormalizeUsername(string(name))
	if err != nil || req.agent.id == "" {
		return "", nil, nil, &saslFailure{condition: "not-authorized"}
	}
	tok, err := c.srv.cfg.Store.FastToken(ctx, user, req.agent.id)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil, nil, &saslFailure{condition: "not-authorized"}
	}
	if err != nil {
		c.logger().Error("FAST: reading the token", "user", user, "err", err)
		return "", nil, nil, &saslFailure{condition: "temporary-auth-failure"}
	}
	login := &fastLogin{tok: tok}
	now := time.Now()
	cb := cbData[req.mech]
	switch {
	case tok.Mechanism == req.mech && now.Before(tok.Expires) &&
		subtle.ConstantTimeCompare(htProof(tok.Hash, "Initiator", cb), proof) == 1:
		login.key, login.expires = tok.Hash, tok.Expires
	case len(tok.PrevHash) > 0 && tok.Mechanism == req.mech && now.Before(tok.PrevExpires) &&
		subtle.ConstantTimeCompare(htProof(tok.PrevHash, "Initiator", cb), proof) == 1:
		login.key, login.expires, login.prev = tok.PrevHash, tok.PrevExpires, true
	default:
		return "", nil, nil, &saslFailure{condition: "not-authorized"}
	}
	if f := req.el.Child(nsFAST, "fast"); f != nil && f.AttrValue("count") != "" {
		n, err := strconv.ParseInt(f.AttrValue("count"), 10, 64)
		if err != nil || n <= tok.Count {
			// §3.4: a replayed (or not increasing) count.
			return "", nil, nil, &saslFailure{condition: "not-authorized", text: "count must increase"}
		}
		login.count, login.counted = n, true
	}
	c.srv.metrics.fastLogins.Inc()
	return user, htProof(login.key, "Responder", cb), login, nil
}

// fastAfterLogin does what a successful SASL2 login asks of FAST: records
// the use of a token (its count; the token before it is dropped once the
// new one is used), invalidates it (<fast invalidate='true'/>), or issues
// a new one (<request-token/>), which it returns as <token/> for the
// success.
func (c *conn) fastAfterLogin(ctx context.Context, req *sasl2Request, login *fastLogin) (*Element, error) {
	store := c.srv.cfg.Store
	user := c.username
	if login != nil {
		if f := req.el.Child(nsFAST, "fast"); f != nil && (f.AttrValue("invalidate") == "true" || f.AttrValue("invalidate") == "1") {
			_, err := store.DeleteFastTokens(ctx, user, req.agent.id)
			return nil, err
		}
	}
	rt := req.el.Child(nsFAST, "request-token")
	if rt == nil {
		if login == nil {
			return nil, nil
		}
		t := login.tok
		if login.counted {
			t.Count = login.count
		}
		if !login.prev {
			t.PrevHash, t.PrevExpires = nil, time.Time{}
		}
		t.Used = time.Now()
		return nil, store.PutFastToken(ctx, t)
	}
	mech := rt.AttrValue("mechanism")
	if _, ok := fastMechs[mech]; !ok || req.agent.id == "" || c.srv.cfg.Verifier != nil {
		return nil, nil // §3.2: nothing to give (an unknown mechanism, no user-agent id)
	}
	raw := make([]byte, fastTokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	hash := sha256.Sum256([]byte(token))
	now := time.Now()
	t := storage.FastToken{Owner: user, AgentID: req.agent.id, Mechanism: mech, Hash: hash[:],
		Expires: now.Add(c.srv.cfg.FastTokenLifetime), Software: req.agent.software, Device: req.agent.device, Created: now, Used: now}
	if login != nil {
		// The token just used stays valid until the new one is used
		// (count starts again with the new token).
		t.Created, t.PrevHash, t.PrevExpires = login.tok.Created, login.key, login.expires
	} else if old, err := store.FastToken(ctx, user, req.agent.id); err == nil {
		t.Created = old.Created // a password login replaces the token
	}
	if err := store.PutFastToken(ctx, t); err != nil {
		return nil, err
	}
	c.srv.metrics.fastTokens.Inc()
	return NewElement(nsFAST, "token", "token", token, "expiry", t.Expires.UTC().Format(time.RFC3339)), nil
}

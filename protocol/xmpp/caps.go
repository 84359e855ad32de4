package xmpp

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"slices"
	"strings"
	"sync"
	"time"
)

// Entity capabilities (XEP-0115) of local client sessions, for what PEP
// needs of them: which nodes a resource wants notifications of (a
// "NODE+notify" feature, XEP-0163 §4.3.2). A client's presence names its
// capabilities by a verification string; the server asks the client once
// per unknown string (disco#info on node#ver, §6.3), checks the answer
// hashes to it (§5.4) and keeps the answer for every session that names the
// same string. A session holds a pointer to the shared entry, not a copy.

const (
	nsCaps     = "http://jabber.org/protocol/caps"
	notifySufx = "+notify"
	// maxCapsEntries bounds the cache; maxCapsQueries the queries in
	// flight (a flood of made-up strings costs one query each, no more
	// than this many at once).
	maxCapsEntries = 4096
	maxCapsQueries = 1024
)

// capsEntry is what one verification string says a client wants: the
// nodes of its +notify features, sorted.
type capsEntry struct {
	notify []string
}

func (c *capsEntry) wants(node string) bool {
	if c == nil {
		return false
	}
	_, ok := slices.BinarySearch(c.notify, node)
	return ok
}

// capsQuery is one disco#info query in flight for a verification string,
// and the sessions waiting for its answer (the first is the one asked).
type capsQuery struct {
	ver, hash string
	sent      time.Time
	waiting   []*session
}

// capsCache is the server's cache: verified entries by verification
// string, and the queries in flight.
type capsCache struct {
	mu      sync.Mutex
	known   map[string]*capsEntry
	queries map[string]*capsQuery // by verification string
}

func newCapsCache() *capsCache {
	return &capsCache{known: make(map[string]*capsEntry), queries: make(map[string]*capsQuery)}
}

// registerCaps watches sessions' presence for their capabilities; the
// answers to the server's queries come back through serveriq.go.
func (s *Server) registerCaps() {
	s.presenceHooks = append(s.presenceHooks, s.capsPresence)
}

// capsPresence notes the capabilities a session's broadcast presence names
// (XEP-0115 §4). A new verification string is looked up, or asked of the
// client; once known, PEP sends the session the last items it wants
// (pep.go).
func (s *Server) capsPresence(ctx context.Context, sess *session, p *Element, available bool) {
	ver, hash, node := "", "", ""
	if c := p.Child(nsCaps, "c"); c != nil && available {
		ver, hash, node = c.AttrValue("ver"), c.AttrValue("hash"), c.AttrValue("node")
	}
	sess.mu.Lock()
	same := sess.capsVer == ver
	sess.capsVer = ver
	if !same {
		sess.caps = nil
	}
	sess.mu.Unlock()
	if same || ver == "" {
		return
	}
	s.caps.mu.Lock()
	if e := s.caps.known[ver]; e != nil {
		s.caps.mu.Unlock()
		s.capsKnown(ctx, sess, ver, e)
		return
	}
	if q := s.caps.queries[ver]; q != nil && time.Since(q.sent) < serverIQTimeout {
		q.waiting = append(q.waiting, sess)
		s.caps.mu.Unlock()
		return
	}
	// A query never answered (its session went) is asked again of this
	// session.
	delete(s.caps.queries, ver)
	if len(s.caps.queries) >= maxCapsQueries {
		s.caps.mu.Unlock()
		return
	}
	q := &capsQuery{ver: ver, hash: hash, sent: time.Now(), waiting: []*session{sess}}
	s.caps.queries[ver] = q
	s.caps.mu.Unlock()
	asked := s.askSession(sess, NewElement(nsClient, "iq", "type", "get").Append(NewElement(nsDiscoInfo, "query", "node", node+"#"+ver)),
		func(ctx context.Context, r *request) { s.capsAnswer(ctx, q, r) })
	if !asked {
		s.caps.mu.Lock()
		delete(s.caps.queries, ver)
		s.caps.mu.Unlock()
	}
}

// capsAnswer takes a client's answer to a capabilities query: a result is
// checked against the verification string and, if it matches, kept for
// every session naming that string.
func (s *Server) capsAnswer(ctx context.Context, q *capsQuery, r *request) {
	s.caps.mu.Lock()
	if s.caps.queries[q.ver] == q {
		delete(s.caps.queries, q.ver)
	}
	s.caps.mu.Unlock()
	if r.typ != "result" || r.payload == nil || r.payload.Name != (xml.Name{Space: nsDiscoInfo, Local: "query"}) {
		return
	}
	e := &capsEntry{}
	for _, f := range r.payload.Elements() {
		if f.Name.Local == "feature" {
			if node, ok := strings.CutSuffix(f.AttrValue("var"), notifySufx); ok {
				e.notify = append(e.notify, node)
			}
		}
	}
	slices.Sort(e.notify)
	e.notify = slices.Compact(e.notify)
	verified := q.hash == "sha-1" && capsVer(r.payload) == q.ver
	if verified {
		s.caps.mu.Lock()
		if len(s.caps.known) >= maxCapsEntries {
			for k := range s.caps.known { // evict one, any
				delete(s.caps.known, k)
				break
			}
		}
		s.caps.known[q.ver] = e
		s.caps.mu.Unlock()
	}
	for i, sess := range q.waiting {
		// An answer that does not hash to the string is believed for
		// the session that gave it only (§5.4: not cached).
		if verified || i == 0 {
			s.capsKnown(ctx, sess, q.ver, e)
		}
	}
}

// capsKnown sets a session's capabilities if it still names ver, and
// sends it the last PEP items it wants.
func (s *Server) capsKnown(ctx context.Context, sess *session, ver string, e *capsEntry) {
	sess.mu.Lock()
	ok := sess.capsVer == ver && !sess.closed
	if ok {
		sess.caps = e
	}
	sess.mu.Unlock()
	if ok && len(e.notify) > 0 {
		s.sendLastItems(ctx, sess, e.notify)
	}
}

// wantsNotify reports whether a session's capabilities ask for node's
// notifications.
func (sess *session) wantsNotify(node string) bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.available && sess.caps.wants(node)
}

// capsVer computes the verification string of a disco#info answer
// (XEP-0115 §5.1, SHA-1): identities, features and extended forms, each
// sorted, joined with '<'.
func capsVer(q *Element) string {
	var ids, feats []string
	type form struct {
		typ    string
		fields []string
	}
	var forms []form
	for _, c := range q.Elements() {
		switch {
		case c.Name.Local == "identity":
			ids = append(ids, c.AttrValue("category")+"/"+c.AttrValue("type")+"/"+langOf(c)+"/"+c.AttrValue("name"))
		case c.Name.Local == "feature":
			feats = append(feats, c.AttrValue("var"))
		case c.Name.Space == nsDataForms && c.Name.Local == "x":
			var f form
			for _, fl := range c.Elements() {
				if fl.Name.Local != "field" {
					continue
				}
				var vals []string
				for _, v := range fl.Elements() {
					if v.Name.Local == "value" {
						vals = append(vals, v.Text())
					}
				}
				if fl.AttrValue("var") == "FORM_TYPE" {
					if len(vals) > 0 {
						f.typ = vals[0]
					}
					continue
				}
				slices.Sort(vals)
				entry := fl.AttrValue("var") + "<"
				for _, v := range vals {
					entry += v + "<"
				}
				f.fields = append(f.fields, entry)
			}
			slices.Sort(f.fields)
			forms = append(forms, f)
		}
	}
	slices.Sort(ids)
	slices.Sort(feats)
	slices.SortFunc(forms, func(a, b form) int { return strings.Compare(a.typ, b.typ) })
	var b strings.Builder
	for _, s := range ids {
		b.WriteString(s + "<")
	}
	for _, s := range feats {
		b.WriteString(s + "<")
	}
	for _, f := range forms {
		b.WriteString(f.typ + "<")
		for _, fl := range f.fields {
			b.WriteString(fl)
		}
	}
	sum := sha1.Sum([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func langOf(e *Element) string {
	for _, a := range e.Attr {
		if (a.Name.Space == nsXML || a.Name.Space == "xml") && a.Name.Local == "lang" {
			return a.Value
		}
	}
	return ""
}

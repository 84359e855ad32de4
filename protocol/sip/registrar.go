package sip

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Binding is one registered contact of an address of record (RFC 3261
// §10.3).
type Binding struct {
	// AOR is the address of record, sip:user@DOMAIN.
	AOR string
	// Contact is the Contact header value as registered, without expires.
	Contact string
	// URI is the contact URI requests for the user are sent to.
	URI string
	// Instance and RegID identify an RFC 5626 outbound flow, when given.
	Instance, RegID string
	CallID          string
	CSeq            uint32
	Expires         time.Time
	// Transport and Source are where the REGISTER came from: the flow to
	// reuse for an outbound client (RFC 5626 §5.3).
	Transport, Source string
	// CPIM is set when the REGISTER's Accept listed message/cpim: room
	// posts then reach this contact wrapped in it (RFC 3862).
	CPIM bool
}

func (b Binding) key() string {
	if b.Instance != "" && b.RegID != "" {
		return "instance " + b.Instance + " " + b.RegID
	}
	return "uri " + b.URI
}

// registrar holds the bindings in memory.
type registrar struct {
	min, max, def time.Duration
	maxContacts   int
	clock         atomic.Pointer[func() time.Time] // swappable in tests while serving

	mu    sync.Mutex
	byAOR map[string][]Binding
}

// count returns the unexpired bindings of every address of record.
func (r *registrar) count() int {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, bs := range r.byAOR {
		for _, b := range bs {
			if b.Expires.After(now) {
				n++
			}
		}
	}
	return n
}

func newRegistrar(cfg Config, now func() time.Time) *registrar {
	r := &registrar{min: cfg.MinExpires, max: cfg.MaxExpires, def: cfg.DefaultExpires,
		maxContacts: cfg.MaxContacts, byAOR: make(map[string][]Binding)}
	r.setNow(now)
	return r
}

// now is the registrar's clock.
func (r *registrar) now() time.Time { return (*r.clock.Load())() }

// setNow replaces the clock (tests move time forward with it).
func (r *registrar) setNow(f func() time.Time) { r.clock.Store(&f) }

// bindings returns aor's unexpired bindings.
func (r *registrar) bindings(aor string) []Binding {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Binding
	for _, b := range r.byAOR[aor] {
		if b.Expires.After(now) {
			out = append(out, b)
		}
	}
	return out
}

func (r *registrar) prune(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for aor, bs := range r.byAOR {
		bs = slices.DeleteFunc(bs, func(b Binding) bool { return !b.Expires.After(now) })
		if len(bs) == 0 {
			delete(r.byAOR, aor)
		} else {
			r.byAOR[aor] = bs
		}
	}
}

// register processes an authenticated REGISTER (RFC 3261 §10.3 steps 6-8):
// a query without Contact, a removal of every binding with "Contact: *"
// and "Expires: 0", or adding, refreshing and removing contacts, all or
// nothing.
func (s *Server) register(req *sip.Request) *sip.Response {
	to := req.To().Address
	if !strings.EqualFold(to.Host, s.cfg.Domain) || to.User == "" {
		return s.response(req, sip.StatusNotFound, "Not Found")
	}
	aor := s.aor(to.User)
	r := s.reg
	headerExpires := -1
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			return s.response(req, sip.StatusBadRequest, "Bad Request: Expires")
		}
		headerExpires = int(n)
	}
	var contacts []*sip.ContactHeader
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return s.response(req, sip.StatusBadRequest, "Bad Request: Contact")
		}
		contacts = append(contacts, c)
	}
	callID, cseq := req.CallID().Value(), req.CSeq().SeqNo
	now := r.now()
	cpim := accepts(req, cpimContentType)

	var updates []Binding // Expires in the past: removal
	wildcard := false
	for _, c := range contacts {
		if c.Address.Wildcard {
			wildcard = true
			continue
		}
		secs := headerExpires
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return s.response(req, sip.StatusBadRequest, "Bad Request: Contact expires")
			}
			secs = int(n)
		}
		d := r.def
		if secs >= 0 {
			d = time.Duration(secs) * time.Second
		}
		if d > 0 && d < r.min {
			// RFC 3261 §10.3 step 7: too brief, say how long at least.
			res := s.response(req, sip.StatusIntervalToBrief, "Interval Too Brief")
			res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(r.min/time.Second))))
			return res
		}
		d = min(d, r.max)
		b := Binding{AOR: aor, URI: c.Address.String(), CallID: callID, CSeq: cseq,
			Expires: now.Add(d), Transport: req.Transport(), Source: req.Source(), CPIM: cpim}
		b.Instance, _ = c.Params.Get("+sip.instance")
		b.RegID, _ = c.Params.Get("reg-id")
		clean := c.Clone()
		clean.Params.Remove("expires")
		b.Contact = clean.Value()
		updates = append(updates, b)
	}
	if wildcard && (len(contacts) != 1 || headerExpires != 0) {
		// RFC 3261 §10.2.2: "*" only alone and with Expires: 0.
		return s.response(req, sip.StatusBadRequest, "Bad Request: Contact * needs Expires: 0 and no other contact")
	}

	// The access log: one line per contact that logs in (a new binding)
	// or out (removed), none for a refresh; written once the request is
	// accepted.
	var access [][]any
	r.mu.Lock()
	defer r.mu.Unlock()
	current := slices.DeleteFunc(slices.Clone(r.byAOR[aor]), func(b Binding) bool { return !b.Expires.After(now) })
	// §10.3 step 7: a binding from the same Call-ID is only changed by a
	// higher CSeq; otherwise the whole request fails.
	outOfOrder := func(old Binding) bool { return old.CallID == callID && cseq <= old.CSeq }
	if wildcard {
		for _, old := range current {
			if outOfOrder(old) {
				return s.response(req, sip.StatusInternalServerError, "Server Internal Error: CSeq out of order")
			}
		}
		for _, old := range current {
			access = append(access, []any{"logout", old.URI})
		}
		current = nil
	}
	for _, u := range updates {
		i := slices.IndexFunc(current, func(b Binding) bool { return b.key() == u.key() })
		switch {
		case i >= 0 && outOfOrder(current[i]):
			return s.response(req, sip.StatusInternalServerError, "Server Internal Error: CSeq out of order")
		case i >= 0 && !u.Expires.After(now):
			current = slices.Delete(current, i, i+1)
			access = append(access, []any{"logout", u.URI})
		case i >= 0:
			current[i] = u // a refresh: no access line
		case u.Expires.After(now):
			current = append(current, u)
			access = append(access, []any{"login", u.URI})
		}
	}
	if len(current) > r.maxContacts {
		return s.response(req, sip.StatusForbidden, fmt.Sprintf("Forbidden: at most %d contacts", r.maxContacts))
	}
	if len(current) == 0 {
		delete(r.byAOR, aor)
	} else {
		r.byAOR[aor] = current
	}
	for _, a := range access {
		s.log.Info(a[0].(string), "proto", "sip", "aor", aor, "contact", a[1], "source", req.Source(), "transport", req.Transport())
	}

	res := s.response(req, sip.StatusOK, "OK")
	outbound := false
	for _, b := range current {
		secs := int((b.Expires.Sub(now) + time.Second - 1) / time.Second)
		res.AppendHeader(sip.NewHeader("Contact", b.Contact+";expires="+strconv.Itoa(secs)))
		if b.RegID != "" && b.Source == req.Source() {
			outbound = true
		}
	}
	if outbound && hasOption(req, "Supported", "outbound") {
		// RFC 5626 §6: the registrar supports outbound for this flow.
		res.AppendHeader(sip.NewHeader("Require", "outbound"))
	}
	return res
}

// accepts reports whether the request's Accept lists the media type mt
// (parameters aside).
func accepts(req *sip.Request, mt string) bool {
	for _, h := range req.GetHeaders("Accept") {
		for _, v := range strings.Split(h.Value(), ",") {
			t, _, _ := strings.Cut(v, ";")
			if strings.EqualFold(strings.TrimSpace(t), mt) {
				return true
			}
		}
	}
	return false
}

// hasOption reports whether a header like Supported lists tag.
func hasOption(req *sip.Request, header, tag string) bool {
	for _, h := range req.GetHeaders(header) {
		for _, t := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(t), tag) {
				return true
			}
		}
	}
	return false
}

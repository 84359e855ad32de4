package xmpp

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Contact Addresses for XMPP Services (XEP-0157): the addresses the
// operator configured (Config.ContactAddresses) as a XEP-0128 extension
// form of the server's disco#info, FORM_TYPE
// http://jabber.org/network/serverinfo, one list-multi field per kind.

const nsServerInfo = "http://jabber.org/network/serverinfo"

// ContactKinds are the kinds of address XEP-0157 §2 registers (each is
// the field KIND-addresses).
var ContactKinds = []string{"abuse", "admin", "feedback", "sales", "security", "status", "support"}

// registerContactAddresses adds the form to the server's disco#info. It
// runs after registerServerDisco, which declares the server entity.
func (s *Server) registerContactAddresses() {
	if len(s.cfg.ContactAddresses) == 0 {
		return
	}
	form, err := contactForm(s.cfg.ContactAddresses)
	if err != nil {
		s.mux.errs = append(s.mux.errs, err)
		return
	}
	e := s.mux.entities[toServer]
	if e == nil {
		s.mux.errs = append(s.mux.errs, fmt.Errorf("xmpp: contact addresses: the server declares no disco entity"))
		return
	}
	prev := e.about
	e.about = func(ctx context.Context, r *request) (entityState, error) {
		var st entityState
		if prev != nil {
			var err error
			if st, err = prev(ctx, r); err != nil {
				return st, err
			}
		}
		st.forms = append(st.forms, form)
		return st, nil
	}
}

// contactForm builds the serverinfo form from KIND=URI entries, kinds in
// XEP-0157's order, addresses in the order given.
func contactForm(entries []string) (*Element, error) {
	byKind := map[string][]string{}
	for _, a := range entries {
		kind, uri, ok := strings.Cut(a, "=")
		if !ok || !slices.Contains(ContactKinds, kind) || uri == "" {
			return nil, fmt.Errorf("xmpp: contact address %q: want KIND=URI, KIND one of %s", a, strings.Join(ContactKinds, ", "))
		}
		byKind[kind] = append(byKind[kind], uri)
	}
	f := newForm("result", nsServerInfo)
	for _, kind := range ContactKinds {
		if uris := byKind[kind]; len(uris) > 0 {
			f.add(kind+"-addresses", "list-multi", "", uris...)
		}
	}
	return f.el, nil
}

package xmpp

import (
	"context"
	"errors"

	"mellium.im/xmpp/bookmarks"

	"github.com/parleychat/parley/storage"
)

// Private XML storage (XEP-0049): an account keeps any element, by its
// name and namespace, for itself alone. Older clients keep their
// bookmarks here (XEP-0048's storage:bookmarks, bookmarks.go keeps it in
// step with the PEP forms).

const nsPrivate = "jabber:iq:private"

// A privateHook runs after an account stored an element under its key
// (bookmarks.go keeps XEP-0048 in step with XEP-0402).
type privateHook func(ctx context.Context, r *request, stored *Element)

func (s *Server) registerPrivate() {
	s.mux.iq(toAccount, "get", nsPrivate, "query", s.privateGet, advertise(nsPrivate))
	// Storing XEP-0048 bookmarks here converts them (bookmarks.go):
	// XEP-0402 §5.3's compat and XEP-0411's conversion.
	s.mux.iq(toAccount, "set", nsPrivate, "query", s.privateSet, advertise(nsPrivate, bookmarks.NSCompat, nsBookmarksConversion))
}

// privateKey is the key an element is stored under: {namespace}name.
func privateKey(el *Element) string { return "{" + el.Name.Space + "}" + el.Name.Local }

// privateTarget checks a private storage request (XEP-0049 §2, §3): the
// account's own, with one child element in a namespace of its own.
func privateTarget(r *request) (*Element, error) {
	if r.to.String() != r.from.bareJID() {
		return nil, errForbidden("private storage is the account's own")
	}
	kids := r.payload.Elements()
	if len(kids) != 1 {
		return nil, errNotAcceptable("one element at a time")
	}
	el := kids[0]
	if el.Name.Space == "" || el.Name.Space == nsPrivate || el.Name.Space == nsClient {
		return nil, errNotAcceptable("the element needs a namespace of its own")
	}
	return el, nil
}

// privateGet returns the stored element, or the empty element asked for
// when nothing is stored (XEP-0049 §2.2).
func (s *Server) privateGet(ctx context.Context, r *request) (*Element, error) {
	el, err := privateTarget(r)
	if err != nil {
		return nil, err
	}
	out := NewElement(el.Name.Space, el.Name.Local)
	b, err := s.cfg.Store.PrivateXML(ctx, r.to.Localpart(), privateKey(el))
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if stored := parseStored(b); stored != nil {
			out = stored
		}
	}
	return NewElement(nsPrivate, "query").Append(out), nil
}

// privateSet stores the element (XEP-0049 §2.1), replacing what was there.
func (s *Server) privateSet(ctx context.Context, r *request) (*Element, error) {
	el, err := privateTarget(r)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Store.PutPrivateXML(ctx, r.to.Localpart(), privateKey(el), el.Bytes()); err != nil {
		return nil, err
	}
	if h := s.privateHooks[privateKey(el)]; h != nil {
		h(ctx, r, el)
	}
	return nil, nil
}

package xmpp

import (
	"bytes"
	"context"
	"errors"

	"mellium.im/xmpp/bookmarks"
	"mellium.im/xmpp/pubsub"

	"github.com/parleychat/parley/pep"
	"github.com/parleychat/parley/storage"
)

// Room bookmarks in the three places clients keep them, kept in step by
// the server so that old and new clients of one account see one list:
//
//   - PEP native bookmarks (XEP-0402): one item per room in the
//     urn:xmpp:bookmarks:1 node, item id the room's JID;
//   - XEP-0048 in private XML storage (XEP-0049): one storage:bookmarks
//     element with every room (urls too);
//   - XEP-0048 in PEP (XEP-0223), the storage:bookmarks node with one
//     item, which XEP-0411 converts to and from private storage.
//
// A change to any of them is written to the other two (XEP-0402 §5.3
// "compat", XEP-0411 §3), and notified to the account's resources that ask
// for those nodes. Namespaces are mellium.im/xmpp/bookmarks'; its
// functions are a client's, so the conversion is written here.

const (
	nsBookmarksLegacy = "storage:bookmarks"
	// nsBookmarksConversion is XEP-0411's feature.
	nsBookmarksConversion = "urn:xmpp:bookmarks-conversion:0"
	// legacyItem is the one item of XEP-0048's PEP node (XEP-0223 §…).
	legacyItem = "current"
)

// A pepHook runs after the account's own client changed one of its nodes
// (published or retracted an item): bookmarks.go and vcard.go keep other
// representations of the same data in step.
type pepHook func(ctx context.Context, owner, publisher string)

// bookmarkOptions are XEP-0402 §3's node configuration (and XEP-0223's for
// the legacy node): private, persistent, as many items as rooms.
var bookmarkOptions = map[string][]string{
	pep.FieldAccessModel:  {storage.AccessWhitelist},
	pep.FieldPersistItems: {"true"},
	pep.FieldMaxItems:     {"max"},
	pep.FieldSendLast:     {storage.SendLastNever},
}

func (s *Server) registerBookmarks() {
	s.privateHooks[privateKey(NewElement(nsBookmarksLegacy, "storage"))] = func(ctx context.Context, r *request, stored *Element) {
		s.bookmarksFromLegacy(ctx, r.to.Localpart(), r.from.fullJID().String(), stored, true)
	}
	s.pepHooks[bookmarks.NS] = s.bookmarksFromNative
	s.pepHooks[nsBookmarksLegacy] = func(ctx context.Context, owner, publisher string) {
		items, err := s.cfg.Store.PubSubItems(ctx, owner, nsBookmarksLegacy, nil, 1)
		if err != nil || len(items) == 0 {
			return
		}
		if st := parseStored(items[0].Payload); st != nil && st.Name.Space == nsBookmarksLegacy {
			s.bookmarksFromLegacy(ctx, owner, publisher, st, false)
		}
	}
}

// legacyConference turns a XEP-0402 item into XEP-0048's <conference/>.
func legacyConference(id string, c *Element) *Element {
	out := NewElement(nsBookmarksLegacy, "conference", "jid", id, "name", c.AttrValue("name"))
	if a := c.AttrValue("autojoin"); a == "true" || a == "1" {
		out.SetAttr("autojoin", "true")
	}
	for _, k := range []string{"nick", "password"} {
		if v := c.Child(bookmarks.NS, k); v != nil {
			out.Append(NewElement(nsBookmarksLegacy, k).AppendText(v.Text()))
		}
	}
	return out
}

// nativeConference turns XEP-0048's <conference/> into a XEP-0402 item's
// payload, keeping the extensions an earlier item had.
func nativeConference(c *Element, before *Element) *Element {
	out := NewElement(bookmarks.NS, "conference", "name", c.AttrValue("name"))
	if a := c.AttrValue("autojoin"); a == "true" || a == "1" {
		out.SetAttr("autojoin", "true")
	}
	for _, k := range []string{"nick", "password"} {
		if v := c.Child(nsBookmarksLegacy, k); v != nil {
			out.Append(NewElement(bookmarks.NS, k).AppendText(v.Text()))
		}
	}
	if before != nil {
		if ext := before.Child(bookmarks.NS, "extensions"); ext != nil {
			out.Append(ext)
		}
	}
	return out
}

// nativeItems returns the account's XEP-0402 items by room JID.
func (s *Server) nativeItems(ctx context.Context, owner string) (map[string]storage.PubSubItem, error) {
	items, err := s.cfg.Store.PubSubItems(ctx, owner, bookmarks.NS, nil, 0)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	out := make(map[string]storage.PubSubItem, len(items))
	for _, it := range items {
		out[it.ID] = it
	}
	return out, nil
}

// bookmarkPublish publishes one bookmark node item with XEP-0402's
// options (pep.go's serverPublish).
func (s *Server) bookmarkPublish(ctx context.Context, owner, publisher, node, id string, payload []byte) error {
	return s.serverPublish(ctx, owner, publisher, node, id, payload, bookmarkOptions)
}

// bookmarksFromLegacy writes a XEP-0048 list to the XEP-0402 node (new and
// changed rooms published, missing ones retracted) and to the other
// XEP-0048 place: the PEP node when it came from private storage
// (fromPrivate), private storage when it came from the PEP node.
func (s *Server) bookmarksFromLegacy(ctx context.Context, owner, publisher string, st *Element, fromPrivate bool) {
	have, err := s.nativeItems(ctx, owner)
	if err != nil {
		s.log.Error("bookmarks: reading native bookmarks", "owner", owner, "err", err)
		return
	}
	keep := make(map[string]bool)
	for _, c := range st.Elements() {
		id := c.AttrValue("jid")
		if c.Name.Local != "conference" || id == "" {
			continue
		}
		keep[id] = true
		var before *Element
		if it, ok := have[id]; ok {
			before = parseStored(it.Payload)
		}
		payload := nativeConference(c, before).Bytes()
		if it, ok := have[id]; ok && bytes.Equal(it.Payload, payload) {
			continue
		}
		if err := s.bookmarkPublish(ctx, owner, publisher, bookmarks.NS, id, payload); err != nil {
			s.log.Error("bookmarks: publishing a native bookmark", "owner", owner, "room", id, "err", err)
		}
	}
	for id := range have {
		if !keep[id] {
			if n, err := s.pep.Retract(ctx, owner, bookmarks.NS, id); err == nil {
				s.pepChanged(ctx, n, NewElement(pubsub.NSEvent, "items", "node", bookmarks.NS).Append(NewElement(pubsub.NSEvent, "retract", "id", id)))
			}
		}
	}
	if fromPrivate {
		err = s.bookmarkPublish(ctx, owner, publisher, nsBookmarksLegacy, legacyItem, st.Bytes())
	} else {
		err = s.cfg.Store.PutPrivateXML(ctx, owner, privateKey(st), st.Bytes())
	}
	if err != nil {
		s.log.Error("bookmarks: writing XEP-0048 bookmarks", "owner", owner, "err", err)
	}
}

// bookmarksFromNative writes the XEP-0402 list to both XEP-0048 places,
// keeping the URL bookmarks private storage had (XEP-0402 has none).
func (s *Server) bookmarksFromNative(ctx context.Context, owner, publisher string) {
	items, err := s.cfg.Store.PubSubItems(ctx, owner, bookmarks.NS, nil, 0)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.Error("bookmarks: reading native bookmarks", "owner", owner, "err", err)
		return
	}
	st := NewElement(nsBookmarksLegacy, "storage")
	for i := len(items) - 1; i >= 0; i-- { // oldest first
		if c := parseStored(items[i].Payload); c != nil && c.Name.Space == bookmarks.NS {
			st.Append(legacyConference(items[i].ID, c))
		}
	}
	if b, err := s.cfg.Store.PrivateXML(ctx, owner, privateKey(st)); err == nil {
		if old := parseStored(b); old != nil {
			for _, u := range old.Elements() {
				if u.Name.Local == "url" {
					st.Append(u)
				}
			}
		}
	}
	if err := s.cfg.Store.PutPrivateXML(ctx, owner, privateKey(st), st.Bytes()); err != nil {
		s.log.Error("bookmarks: writing private bookmarks", "owner", owner, "err", err)
	}
	if err := s.bookmarkPublish(ctx, owner, publisher, nsBookmarksLegacy, legacyItem, st.Bytes()); err != nil {
		s.log.Error("bookmarks: publishing XEP-0048 bookmarks", "owner", owner, "err", err)
	}
}

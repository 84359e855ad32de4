package xmpp

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"github.com/parleychat/parley/storage"
)

// vCards (XEP-0054 vcard-temp), their avatar hash in presence (XEP-0153),
// and one avatar for old and new clients (XEP-0398): a vCard PHOTO set by
// an old client is published as the account's PEP avatar (XEP-0084,
// urn:xmpp:avatar:data and :metadata), and a PEP avatar published by a new
// client becomes the vCard's PHOTO.

const (
	nsVCard           = "vcard-temp"
	nsVCardUpdate     = "vcard-temp:x:update"
	nsAvatarData      = "urn:xmpp:avatar:data"
	nsAvatarMetadata  = "urn:xmpp:avatar:metadata"
	nsVCardConversion = "urn:xmpp:pep-vcard-conversion:0"
)

// avatarOptions publish the avatar to anyone, as the vCard is (XEP-0084
// leaves the access model to the publisher; Conversations and Dino
// publish open).
var avatarOptions = map[string][]string{"pubsub#access_model": {storage.AccessOpen}}

func (s *Server) registerVCard() {
	s.mux.iq(toAccount, "get", nsVCard, "vCard", s.vcardGet, advertise(nsVCard))
	s.mux.iq(toAccount, "set", nsVCard, "vCard", s.vcardSet, advertise(nsVCard, nsVCardConversion))
	s.presenceHooks = append(s.presenceHooks, s.vcardPresence)
	s.pepHooks[nsAvatarMetadata] = s.avatarToVCard
}

// vcardGet returns an account's vCard to anyone (XEP-0054 §3.2), an empty
// one if it has none (§3.1's "empty vCard" answer).
func (s *Server) vcardGet(ctx context.Context, r *request) (*Element, error) {
	b, err := s.cfg.Store.VCard(ctx, r.to.Localpart())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return NewElement(nsVCard, "vCard"), nil
	case err != nil:
		return nil, err
	}
	if v := parseStored(b); v != nil {
		return v, nil
	}
	return NewElement(nsVCard, "vCard"), nil
}

// vcardSet stores the account's own vCard (XEP-0054 §3.3) and publishes
// its PHOTO as the PEP avatar (XEP-0398 §3).
func (s *Server) vcardSet(ctx context.Context, r *request) (*Element, error) {
	if r.to.String() != r.from.bareJID() {
		return nil, errForbidden("only the account sets its vCard")
	}
	owner := r.to.Localpart()
	if err := s.cfg.Store.PutVCard(ctx, owner, r.payload.Bytes()); err != nil {
		return nil, err
	}
	s.vcardToAvatar(ctx, owner, r.from.fullJID().String(), r.payload)
	return nil, nil
}

// vcardPhoto is the vCard's PHOTO: its type and its bytes, nil if none.
func vcardPhoto(v *Element) (typ string, data []byte) {
	photo := v.Child(nsVCard, "PHOTO")
	if photo == nil {
		return "", nil
	}
	bin := photo.Child(nsVCard, "BINVAL")
	if bin == nil {
		return "", nil
	}
	data, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(bin.Text()), ""))
	if err != nil || len(data) == 0 {
		return "", nil
	}
	if t := photo.Child(nsVCard, "TYPE"); t != nil {
		typ = strings.TrimSpace(t.Text())
	}
	return typ, data
}

// avatarID is XEP-0084's and XEP-0153's hash of an image: SHA-1, in hex.
func avatarID(data []byte) string {
	sum := sha1.Sum(data)
	return hex.EncodeToString(sum[:])
}

// currentAvatar is the id the account's avatar metadata names, "" if none.
func (s *Server) currentAvatar(ctx context.Context, owner string) (id, typ string) {
	items, err := s.cfg.Store.PubSubItems(ctx, owner, nsAvatarMetadata, nil, 1)
	if err != nil || len(items) == 0 {
		return "", ""
	}
	m := parseStored(items[0].Payload)
	if m == nil {
		return "", ""
	}
	if info := m.Child(nsAvatarMetadata, "info"); info != nil {
		return info.AttrValue("id"), info.AttrValue("type")
	}
	return "", ""
}

// vcardToAvatar publishes a vCard's PHOTO as the PEP avatar (data, then
// metadata, XEP-0084 §4.1–4.2), or an empty metadata item when the PHOTO
// went (§4.5), unless the PEP avatar is already that.
func (s *Server) vcardToAvatar(ctx context.Context, owner, publisher string, v *Element) {
	typ, data := vcardPhoto(v)
	current, _ := s.currentAvatar(ctx, owner)
	meta := NewElement(nsAvatarMetadata, "metadata")
	id := ""
	switch {
	case data == nil && current == "":
		return
	case data != nil:
		id = avatarID(data)
		if id == current {
			return
		}
		if typ == "" {
			typ = "image/png"
		}
		if err := s.serverPublish(ctx, owner, publisher, nsAvatarData, id,
			NewElement(nsAvatarData, "data").AppendText(base64.StdEncoding.EncodeToString(data)).Bytes(), avatarOptions); err != nil {
			s.log.Error("vcard: publishing the avatar", "owner", owner, "err", err)
			return
		}
		meta.Append(NewElement(nsAvatarMetadata, "info", "bytes", strconv.Itoa(len(data)), "id", id, "type", typ))
	default:
		id = "none"
	}
	if err := s.serverPublish(ctx, owner, publisher, nsAvatarMetadata, id, meta.Bytes(), avatarOptions); err != nil {
		s.log.Error("vcard: publishing the avatar metadata", "owner", owner, "err", err)
	}
}

// avatarToVCard puts the PEP avatar the account published into its vCard's
// PHOTO, or takes the PHOTO out when the avatar was disabled (XEP-0398 §4).
func (s *Server) avatarToVCard(ctx context.Context, owner, _ string) {
	id, typ := s.currentAvatar(ctx, owner)
	v := NewElement(nsVCard, "vCard")
	if b, err := s.cfg.Store.VCard(ctx, owner); err == nil {
		if stored := parseStored(b); stored != nil {
			v = stored
		}
	}
	if _, data := vcardPhoto(v); data != nil && avatarID(data) == id {
		return
	}
	kept := v.Children[:0]
	for _, c := range v.Children {
		if e, ok := c.(*Element); !ok || e.Name.Space != nsVCard || e.Name.Local != "PHOTO" {
			kept = append(kept, c)
		}
	}
	v.Children = kept
	if id != "" {
		items, err := s.cfg.Store.PubSubItems(ctx, owner, nsAvatarData, []string{id}, 1)
		if err != nil || len(items) == 0 {
			return // the data is published first (XEP-0084 §4.1); not there: nothing to convert
		}
		d := parseStored(items[0].Payload)
		if d == nil {
			return
		}
		if typ == "" {
			typ = "image/png"
		}
		v.Append(NewElement(nsVCard, "PHOTO").Append(
			NewElement(nsVCard, "TYPE").AppendText(typ),
			NewElement(nsVCard, "BINVAL").AppendText(strings.TrimSpace(d.Text()))))
	}
	if err := s.cfg.Store.PutVCard(ctx, owner, v.Bytes()); err != nil {
		s.log.Error("vcard: storing the avatar in the vCard", "owner", owner, "err", err)
	}
}

// vcardPresence adds the vCard avatar's hash to a session's available
// presence (XEP-0153 §3.2, XEP-0398 §5) when the client did not say it.
func (s *Server) vcardPresence(ctx context.Context, sess *session, p *Element, available bool) {
	if !available || p.Child(nsVCardUpdate, "x") != nil {
		return
	}
	b, err := s.cfg.Store.VCard(ctx, sess.jid.Localpart())
	if err != nil {
		return
	}
	v := parseStored(b)
	if v == nil {
		return
	}
	if _, data := vcardPhoto(v); data != nil {
		p.Append(NewElement(nsVCardUpdate, "x").Append(NewElement(nsVCardUpdate, "photo").AppendText(avatarID(data))))
	}
}

package check

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/parleychat/parley/storage"
)

// maxShortLength bounds, in characters, the short settings stored in
// VARCHAR(64) columns (Room.WhoIs, HistoryMessage.Kind, OutboxEvent.Type, …).
const maxShortLength = 64

// RoomName checks a room name that is (part of) a key.
func RoomName(name string) error {
	return key("room name", name, storage.MaxRoomNameLength)
}

// CategoryName checks a category name that is (part of) a key.
func CategoryName(name string) error {
	return key("category name", name, storage.MaxCategoryNameLength)
}

// text checks a free-text value: any length, valid UTF-8 (MySQL refuses
// anything else in a utf8mb4 column; SQLite would keep it).
func text(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %q is not valid UTF-8", what, s)
	}
	return nil
}

// short checks a value stored in a VARCHAR column of max characters; it
// may be empty.
func short(what, s string, max int) error {
	if err := text(what, s); err != nil {
		return err
	}
	if utf8.RuneCountInString(s) > max {
		return fmt.Errorf("%s is longer than %d characters", what, max)
	}
	return nil
}

func texts(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := text(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// Category checks a category before it is stored.
// MaxRetentionDays bounds Category.RetentionDays (about 1000 years), so
// that the cut-off time never overflows.
const MaxRetentionDays = 365_000

func Category(c storage.Category) error {
	if err := CategoryName(c.Name); err != nil {
		return err
	}
	if err := text("description", c.Description); err != nil {
		return err
	}
	if c.RetentionDays < 0 || c.RetentionDays > MaxRetentionDays {
		return fmt.Errorf("retention of %d days is out of range 0-%d", c.RetentionDays, MaxRetentionDays)
	}
	for _, list := range []struct {
		what string
		jids []string
	}{{"allowed member", c.AllowedMembers}, {"denied member", c.DeniedMembers}, {"creator", c.Creators}} {
		for _, j := range list.jids {
			if err := key(list.what, j, storage.MaxJIDLength); err != nil {
				return err
			}
		}
	}
	return nil
}

// Room checks a room before it is stored.
func Room(r storage.Room) error {
	if err := RoomName(r.Name); err != nil {
		return err
	}
	if err := CategoryName(r.Category); err != nil {
		return err
	}
	if err := texts("title", r.Title, "description", r.Description, "subject", r.Subject,
		"subject nick", r.SubjectNick, "password", r.Password, "add-in URL", r.AddInURL, "creator", r.Creator); err != nil {
		return err
	}
	for _, s := range [][2]string{{"whois", r.WhoIs}, {"change subject", r.ChangeSubject}, {"allow PM", r.AllowPM}} {
		if err := short(s[0], s[1], maxShortLength); err != nil {
			return err
		}
	}
	if r.MaxUsers < 0 {
		return fmt.Errorf("max users %d is negative", r.MaxUsers)
	}
	return PresenceBroadcast(r.PresenceBroadcast)
}

// PresenceBroadcast checks a Room.PresenceBroadcast: "", "none", or
// roles from moderator, participant and visitor, each once, in that
// order, comma separated.
func PresenceBroadcast(v string) error {
	if v == "" || v == "none" {
		return nil
	}
	next := 0
	for role := range strings.SplitSeq(v, ",") {
		i := slices.Index(broadcastRoles, role)
		if i < next {
			return fmt.Errorf("presence broadcast %q: want roles from %s, each once, in that order, comma separated, or none", v, strings.Join(broadcastRoles, ", "))
		}
		next = i + 1
	}
	return nil
}

var broadcastRoles = []string{"moderator", "participant", "visitor"}

// Affiliation checks an affiliation before it is stored; none is allowed
// only where the caller means "remove".
func Affiliation(a storage.Affiliation, noneAllowed bool) error {
	if err := RoomName(a.Room); err != nil {
		return err
	}
	if err := JID(a.JID); err != nil {
		return err
	}
	switch a.Affiliation {
	case storage.AffiliationOwner, storage.AffiliationAdmin, storage.AffiliationMember, storage.AffiliationOutcast:
	case storage.AffiliationNone:
		if !noneAllowed {
			return fmt.Errorf("affiliation of %s is none: a stored affiliation is owner, admin, member or outcast", a.JID)
		}
	default:
		return fmt.Errorf("affiliation %q is not one of owner, admin, member, outcast, none (XEP-0045 §5.2)", a.Affiliation)
	}
	return text("reason", a.Reason)
}

// History checks a message before it is appended.
func History(h *storage.HistoryMessage) error {
	if err := RoomName(h.Room); err != nil {
		return err
	}
	if err := key("stanza-id", h.StanzaID, storage.MaxIDLength); err != nil {
		return err
	}
	switch h.Kind {
	case storage.KindPost, storage.KindCorrection, storage.KindRetraction, storage.KindModeration, storage.KindSubject:
	default:
		return fmt.Errorf("message kind %q is not one of post, correction, retraction, moderation, subject", h.Kind)
	}
	if err := short("nick", h.Nick, storage.MaxNickLength); err != nil {
		return err
	}
	if err := short("real JID", h.RealJID, storage.MaxJIDLength); err != nil {
		return err
	}
	if err := short("target", h.Target, storage.MaxIDLength); err != nil {
		return err
	}
	if err := short("front door", h.FrontDoor, maxShortLength); err != nil {
		return err
	}
	return texts("origin-id", h.OriginID, "occupant-id", h.OccupantID, "body", h.Body)
}

// Body checks a message body (a tombstone's, say) on its own.
func Body(body string) error { return text("body", body) }

// Tombstone checks a post's tombstone: the room it applies to (the
// post's) and the target's stanza-id are keys, the body is text.
func Tombstone(room string, t storage.TombstoneWrite) error {
	if err := RoomName(room); err != nil {
		return fmt.Errorf("tombstone: %w", err)
	}
	if err := key("tombstone target", t.StanzaID, storage.MaxIDLength); err != nil {
		return err
	}
	return Body(t.Body)
}

// Event checks a compliance event before it is written.
func Event(ev storage.OutboxEvent) error {
	if err := key("event id", ev.EventID, storage.MaxIDLength); err != nil {
		return err
	}
	if err := key("event type", ev.Type, maxShortLength); err != nil {
		return err
	}
	if err := short("event room", ev.Room, storage.MaxRoomNameLength); err != nil {
		return err
	}
	if err := text("event actor", ev.Actor); err != nil {
		return err
	}
	if len(ev.Payload) > 0 && !json.Valid(ev.Payload) {
		return fmt.Errorf("event %s: payload is not JSON", ev.EventID)
	}
	return nil
}

// HistoryQuery checks a query.
func HistoryQuery(q storage.HistoryQuery) error {
	switch {
	case q.Limit <= 0:
		return fmt.Errorf("history query limit %d is not positive", q.Limit)
	case q.AfterSeq < 0 || q.BeforeSeq < 0:
		return fmt.Errorf("history query seq bounds %d, %d: negative", q.AfterSeq, q.BeforeSeq)
	}
	return nil
}

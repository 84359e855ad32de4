package compliance

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleychat/parley/storage"
)

// The XML format of the compliance files and of `parleyctl compliance
// export --format xml`, modelled on the seed product's compliance export and
// described by schema/parley-compliance.xsd:
//
//	<Conversations version="1" fromSeq="…" toSeq="…">
//	  <Conversation>
//	    <Channel>room</Channel>            (empty: events outside rooms)
//	    <Participants>
//	      <Participant events="3">alice@example.org</Participant>
//	    </Participants>
//	    <Messages>
//	      <Message type="CHAT" event="post" id="…" seq="42" time="…" from="alice@example.org"
//	               nick="alice" frontDoor="xmpp" detail="{…payload…}">Hello</Message>
//	    </Messages>
//	  </Conversation>
//	</Conversations>
//
// One Conversation per room, rooms in name order, messages in the order
// they happened. A Message's type is the engine event's type mapped by
// messageTypes (unknown types are EVENT; the event attribute always keeps
// the engine's own type); its text is what was said, searched or named
// (body, subject, search text, file name); detail is the event's JSON
// payload, complete.

// messageTypes maps the room engine's event types (package muc) to Message
// types.
var messageTypes = map[string]string{
	"post":            "CHAT",
	"correction":      "EDIT",
	"retraction":      "RETRACT",
	"moderation":      "MODERATE",
	"private":         "PRIVATE",
	"direct":          "DIRECT",
	"subject":         "SUBJECT",
	"join":            "JOIN",
	"leave":           "PART",
	"nick":            "NICK",
	"kick":            "KICK",
	"ban":             "BAN",
	"evict":           "EVICT",
	"role":            "ROLE",
	"affiliation":     "AFFILIATION",
	"presenter":       "PRESENTER",
	"invitation":      "INVITE",
	"history.read":    "BACKCHAT",
	"search":          "SEARCH",
	"file.upload":     "FILEUPLOAD",
	"file.download":   "FILEDOWNLOAD",
	"follow":          "FOLLOW",
	"unfollow":        "UNFOLLOW",
	"room.create":     "ROOMCREATE",
	"room.config":     "ROOMCONFIG",
	"room.delete":     "ROOMDELETE",
	"category.put":    "CATEGORY",
	"category.delete": "CATEGORYDELETE",
	EventEnable:       "COMPLIANCEON",
	EventDisable:      "COMPLIANCEOFF",
}

// MessageType returns the Message type of an engine event type: EVENT for
// one it does not know.
func MessageType(eventType string) string {
	if t, ok := messageTypes[eventType]; ok {
		return t
	}
	return "EVENT"
}

// messageText picks what an event's Message says from its payload: the
// body of a post, the subject, the search text, the file name.
func messageText(payload []byte) string {
	var p struct {
		Body    *string `json:"body"`
		Subject *string `json:"subject"`
		Text    *string `json:"text"`
		Name    *string `json:"name"`
	}
	if len(payload) == 0 || json.Unmarshal(payload, &p) != nil {
		return ""
	}
	for _, s := range []*string{p.Body, p.Subject, p.Text, p.Name} {
		if s != nil {
			return *s
		}
	}
	return ""
}

// messageAttrs picks the optional attributes of a Message from its
// payload.
func messageAttrs(payload []byte) (nick, to, frontDoor string) {
	var p struct {
		Nick      any `json:"nick"`
		To        any `json:"to"`
		FrontDoor any `json:"front_door"`
	}
	if len(payload) == 0 || json.Unmarshal(payload, &p) != nil {
		return "", "", ""
	}
	str := func(v any) string { s, _ := v.(string); return s }
	return str(p.Nick), str(p.To), str(p.FrontDoor)
}

// xmlTime is the time format of the XML (xs:dateTime, UTC).
const xmlTime = "2006-01-02T15:04:05.000000Z"

// xmlWriter writes the XML format to w, streaming: a Conversation at a
// time, a Message at a time. The first error sticks and is returned by
// end.
type xmlWriter struct {
	w   *bufio.Writer
	err error
}

func newXMLWriter(w io.Writer) *xmlWriter {
	if bw, ok := w.(*bufio.Writer); ok {
		return &xmlWriter{w: bw}
	}
	return &xmlWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (x *xmlWriter) str(s string) {
	if x.err == nil {
		_, x.err = x.w.WriteString(s)
	}
}

// text writes s escaped, for text and attribute values alike;
// characters XML 1.0 does not allow become U+FFFD.
func (x *xmlWriter) text(s string) {
	if x.err == nil {
		x.err = xml.EscapeText(x.w, []byte(s))
	}
}

func (x *xmlWriter) attr(name, value string) {
	x.str(" " + name + `="`)
	x.text(value)
	x.str(`"`)
}

// begin writes the declaration and the opening Conversations tag with its
// attributes (name, value pairs; empty values left out).
func (x *xmlWriter) begin(attrs ...string) {
	x.str(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Conversations")
	x.attr("version", "1")
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] != "" {
			x.attr(attrs[i], attrs[i+1])
		}
	}
	x.str(">\n")
}

// participant is an actor of a Conversation with their events in it.
type participant struct {
	actor  string
	events int64
}

func (x *xmlWriter) beginConversation(room string, participants []participant) {
	x.str("  <Conversation>\n    <Channel>")
	x.text(room)
	x.str("</Channel>\n    <Participants>\n")
	for _, p := range participants {
		x.str("      <Participant")
		x.attr("events", strconv.FormatInt(p.events, 10))
		x.str(">")
		x.text(p.actor)
		x.str("</Participant>\n")
	}
	x.str("    </Participants>\n    <Messages>\n")
}

func (x *xmlWriter) message(ev storage.ComplianceEvent) {
	x.str("      <Message")
	x.attr("type", MessageType(ev.Type))
	x.attr("event", ev.Type)
	x.attr("id", ev.EventID)
	x.attr("seq", strconv.FormatInt(ev.Seq, 10))
	x.attr("time", ev.Time.UTC().Format(xmlTime))
	x.attr("from", ev.Actor)
	nick, to, frontDoor := messageAttrs(ev.Payload)
	if to == "" {
		to = ev.Target // the kicked, banned, promoted user; the file's owner
	}
	for _, a := range [][2]string{{"nick", nick}, {"to", to}, {"frontDoor", frontDoor}, {"detail", string(ev.Payload)}} {
		if a[1] != "" {
			x.attr(a[0], a[1])
		}
	}
	x.str(">")
	x.text(messageText(ev.Payload))
	x.str("</Message>\n")
}

func (x *xmlWriter) endConversation() { x.str("    </Messages>\n  </Conversation>\n") }

// end closes the document and flushes it.
func (x *xmlWriter) end() error {
	x.str("</Conversations>\n")
	if x.err == nil {
		x.err = x.w.Flush()
	}
	return x.err
}

// conversations groups a window's events by room, rooms in name order,
// each room's events in (Time, Seq) order, as an export orders them.
func conversations(evs []storage.ComplianceEvent) (rooms []string, byRoom map[string][]storage.ComplianceEvent) {
	byRoom = map[string][]storage.ComplianceEvent{}
	for _, ev := range evs {
		if _, ok := byRoom[ev.Room]; !ok {
			rooms = append(rooms, ev.Room)
		}
		byRoom[ev.Room] = append(byRoom[ev.Room], ev)
	}
	slices.Sort(rooms)
	for _, room := range rooms {
		slices.SortStableFunc(byRoom[room], func(a, b storage.ComplianceEvent) int {
			if c := a.Time.Compare(b.Time); c != 0 {
				return c
			}
			return int(a.Seq - b.Seq)
		})
	}
	return rooms, byRoom
}

// participantsOf counts the events of each actor in evs, actors in name
// order.
func participantsOf(evs []storage.ComplianceEvent) []participant {
	counts := map[string]int64{}
	for _, ev := range evs {
		counts[ev.Actor]++
	}
	out := make([]participant, 0, len(counts))
	for actor, n := range counts {
		out = append(out, participant{actor, n})
	}
	slices.SortFunc(out, func(a, b participant) int { return strings.Compare(a.actor, b.actor) })
	return out
}

// XMLAdapter writes each window as an XML file (or one per room) in Dir.
type XMLAdapter struct {
	// Dir receives the files; it is created if missing.
	Dir string
	// PerRoom writes one file per room of a window instead of one.
	PerRoom bool
}

// Name implements Adapter.
func (a *XMLAdapter) Name() string { return "xml" }

// Write implements Adapter: files named
// parley-compliance-TIME-FIRSTSEQ-LASTSEQ.xml (with -room-NAME before .xml
// per room), each written atomically. Events outside rooms go in a
// Conversation whose Channel is empty (per room: in the -room- file with
// no name, "-norooms").
func (a *XMLAdapter) Write(ctx context.Context, w Window, evs []storage.ComplianceEvent) (string, error) {
	if err := os.MkdirAll(a.Dir, 0o750); err != nil {
		return "", fmt.Errorf("compliance output directory: %w", err)
	}
	rooms, byRoom := conversations(evs)
	if !a.PerRoom {
		path := filepath.Join(a.Dir, windowFileName("parley-compliance", w, ".xml"))
		return path, a.writeFile(path, w, rooms, byRoom)
	}
	last := ""
	for _, room := range rooms {
		if err := ctx.Err(); err != nil {
			return last, err
		}
		path := filepath.Join(a.Dir, windowFileName("parley-compliance", w, "-room-"+fileSafe(room)+".xml"))
		if err := a.writeFile(path, w, []string{room}, byRoom); err != nil {
			return last, err
		}
		last = path
	}
	return last, nil
}

func (a *XMLAdapter) writeFile(path string, w Window, rooms []string, byRoom map[string][]storage.ComplianceEvent) error {
	f, err := createAtomic(path)
	if err != nil {
		return fmt.Errorf("compliance file: %w", err)
	}
	x := newXMLWriter(f.Writer)
	x.begin("fromSeq", strconv.FormatInt(w.AfterSeq+1, 10), "toSeq", strconv.FormatInt(w.LastSeq, 10),
		"capturedFrom", w.First.UTC().Format(xmlTime), "capturedTo", w.Last.UTC().Format(xmlTime))
	for _, room := range rooms {
		x.beginConversation(room, participantsOf(byRoom[room]))
		for _, ev := range byRoom[room] {
			x.message(ev)
		}
		x.endConversation()
	}
	if err := x.end(); err != nil {
		f.abort()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.commit()
}

// fileSafe turns a room name into a file name part: letters, digits, '.',
// '_' and '-' kept, anything else replaced, with a hash of the name
// appended when something was, so that two rooms never share a file.
func fileSafe(room string) string {
	if room == "" {
		return "norooms"
	}
	var b strings.Builder
	changed := false
	for _, r := range room {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
			changed = true
		}
	}
	if changed || strings.HasPrefix(room, ".") || room == "norooms" {
		sum := sha256.Sum256([]byte(room))
		b.WriteString("-" + hex.EncodeToString(sum[:4]))
	}
	return b.String()
}

// timeAttr formats t for the XML, or "" for a zero time.
func timeAttr(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(xmlTime)
}

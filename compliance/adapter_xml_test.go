package compliance

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

// xmlDocument decodes the XML format, for tests.
type xmlDocument struct {
	XMLName       xml.Name `xml:"Conversations"`
	Version       string   `xml:"version,attr"`
	Conversations []struct {
		Channel      string `xml:"Channel"`
		Participants []struct {
			Events int64  `xml:"events,attr"`
			Actor  string `xml:",chardata"`
		} `xml:"Participants>Participant"`
		Messages []struct {
			Type      string `xml:"type,attr"`
			Event     string `xml:"event,attr"`
			ID        string `xml:"id,attr"`
			Seq       int64  `xml:"seq,attr"`
			Time      string `xml:"time,attr"`
			From      string `xml:"from,attr"`
			Nick      string `xml:"nick,attr"`
			To        string `xml:"to,attr"`
			FrontDoor string `xml:"frontDoor,attr"`
			Detail    string `xml:"detail,attr"`
			Text      string `xml:",chardata"`
		} `xml:"Messages>Message"`
	} `xml:"Conversation"`
}

func decodeXML(r io.Reader, doc *xmlDocument) error { return xml.NewDecoder(r).Decode(doc) }

func TestXMLAdapterFile(t *testing.T) {
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var evs []storage.ComplianceEvent
	for i, ev := range engineEvents("x", base, 15) {
		evs = append(evs, storage.ComplianceEvent{Seq: int64(i + 101), OutboxID: ev.ID, EventID: ev.EventID, Type: ev.Type,
			Room: ev.Room, Actor: ev.Actor, Time: ev.Time, Payload: ev.Payload, CapturedAt: ev.Time.Add(time.Minute)})
	}
	evs[1].Payload = []byte(`{"body":"bell \u0007 and ]]> end","nick":"alice","front_door":"sip"}`)
	dir := t.TempDir()
	w := Window{AfterSeq: 100, LastSeq: 115, First: evs[0].CapturedAt, Last: evs[14].CapturedAt}
	a := &XMLAdapter{Dir: dir}
	name := filepath.Join(dir, "parley-compliance-20260301T090114.000000Z-101-115.xml")
	if file, err := a.Write(t.Context(), w, evs); err != nil || file != name {
		t.Fatalf("Write = %q, %v; want %q", file, err, name)
	}
	validateXML(t, name)
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var doc xmlDocument
	if err := decodeXML(f, &doc); err != nil {
		t.Fatal(err)
	}
	var channels []string
	types := map[string]string{}
	for _, c := range doc.Conversations {
		channels = append(channels, c.Channel)
		for _, m := range c.Messages {
			types[m.Event] = m.Type
			if m.Event == "post" {
				if m.Text != "bell \uFFFD and ]]> end" || m.Nick != "alice" || m.FrontDoor != "sip" || m.From != "bob@example.org" || m.Time != "2026-03-01T09:00:01.000000Z" {
					t.Errorf("post message = %+v", m)
				}
			}
			if m.Event == "search" && m.Text != "bonds" {
				t.Errorf("search message text %q", m.Text)
			}
		}
	}
	if strings.Join(channels, ",") != ",lobby,ops é,trading" {
		t.Errorf("channels %q, want rooms in name order, the events outside rooms first", channels)
	}
	for event, want := range map[string]string{"join": "JOIN", "leave": "PART", "post": "CHAT", "history.read": "BACKCHAT",
		"file.upload": "FILEUPLOAD", "file.download": "FILEDOWNLOAD", "something.new": "EVENT", "kick": "KICK"} {
		if types[event] != want {
			t.Errorf("%s: Message type %q, want %q", event, types[event], want)
		}
	}
	// Per room, the room names make safe, distinct file names.
	per := &XMLAdapter{Dir: t.TempDir(), PerRoom: true}
	if _, err := per.Write(t.Context(), w, evs); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(per.Dir, "*"))
	if len(files) != 4 {
		t.Errorf("per-room files %v, want 4", files)
	}
	for _, f := range files {
		validateXML(t, f)
	}
}

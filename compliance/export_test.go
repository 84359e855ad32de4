package compliance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

func TestExport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ contentStore, openCompliance func() storage.ComplianceStore) {
		store := openCompliance()
		base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		evs := engineEvents("e", base, 10_000)
		capture(t, store, evs)
		at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }

		for _, tc := range []struct {
			name string
			q    storage.ComplianceQuery
			keep func(ev storage.OutboxEvent) bool
		}{
			{"all", storage.ComplianceQuery{}, func(storage.OutboxEvent) bool { return true }},
			{"range", storage.ComplianceQuery{From: at(1000), To: at(7000)}, func(ev storage.OutboxEvent) bool {
				return !ev.Time.Before(at(1000)) && ev.Time.Before(at(7000))
			}},
			{"room", storage.ComplianceQuery{Room: "trading", To: at(5000)}, func(ev storage.OutboxEvent) bool {
				return ev.Room == "trading" && ev.Time.Before(at(5000))
			}},
			{"user", storage.ComplianceQuery{Actor: "bob@example.org"}, func(ev storage.OutboxEvent) bool {
				return ev.Actor == "bob@example.org"
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var want []string
				rooms := map[string]bool{}
				for _, ev := range evs {
					if tc.keep(ev) {
						want = append(want, ev.EventID)
						if ev.Room != "" {
							rooms[ev.Room] = true
						}
					}
				}
				// JSON lines: every event once, in time order.
				var out bytes.Buffer
				var calls int
				sum, err := Export(t.Context(), store, &out, ExportOptions{Query: tc.q, Format: FormatJSON, PageSize: 700,
					Progress: func(done, total int64) {
						calls++
						if total != int64(len(want)) || done > total {
							t.Errorf("progress %d/%d, want of %d", done, total, len(want))
						}
					}})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				sc := bufio.NewScanner(&out)
				sc.Buffer(nil, 1<<20)
				for sc.Scan() {
					var ev jsonEvent
					if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
						t.Fatal(err)
					}
					got = append(got, ev.EventID)
				}
				if !slices.Equal(got, want) {
					t.Errorf("JSON export has %d events, want %d in time order", len(got), len(want))
				}
				if sum.Events != int64(len(want)) || sum.Rooms != len(rooms) || sum.Bytes == 0 || calls < 2 {
					t.Errorf("summary %+v after %d progress calls; want %d events in %d rooms", sum, calls, len(want), len(rooms))
				}
				// XML: valid, and the same events.
				path := filepath.Join(t.TempDir(), "export.xml")
				f, err := os.Create(path)
				if err != nil {
					t.Fatal(err)
				}
				xsum, err := Export(t.Context(), store, f, ExportOptions{Query: tc.q, Format: FormatXML, PageSize: 700})
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				if err != nil {
					t.Fatal(err)
				}
				validateXML(t, path)
				xmlIDs := xmlEventIDs(t, path)
				if xsum.Events != sum.Events || len(xmlIDs) != len(want) {
					t.Errorf("XML export has %d events (summary %d), want %d", len(xmlIDs), xsum.Events, len(want))
				}
				slices.Sort(xmlIDs)
				sorted := slices.Sorted(slices.Values(want))
				if !slices.Equal(xmlIDs, sorted) {
					t.Error("XML export does not hold the same events as the JSON export")
				}
				// Reading room by room gives the same document as
				// spooling a single pass.
				spooled, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				var byRoom bytes.Buffer
				if _, err := Export(t.Context(), store, &byRoom, ExportOptions{Query: tc.q, Format: FormatXML, PageSize: 700, roomByRoom: true}); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(spooled, byRoom.Bytes()) {
					t.Errorf("the spooled XML export (%d bytes) differs from the room-by-room one (%d bytes)", len(spooled), byRoom.Len())
				}
			})
		}
		if _, err := Export(t.Context(), store, &bytes.Buffer{}, ExportOptions{Format: "csv"}); err == nil {
			t.Error("format csv: no error")
		}
	})
}

// TestExportManyRooms: an XML export of more rooms than the spool keeps
// files open (spoolMaxOpen) closes and reopens them, and still writes
// each room's events in time order, as reading room by room does; the
// spool leaves nothing behind.
func TestExportManyRooms(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ contentStore, openCompliance func() storage.ComplianceStore) {
		store := openCompliance()
		base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		var evs []storage.OutboxEvent
		for i := range 3000 {
			evs = append(evs, storage.OutboxEvent{ID: int64(i + 1), EventID: fmt.Sprintf("m-%05d", i), Type: "post",
				Room: fmt.Sprintf("room-%03d", (i*7)%150), Actor: "alice@example.org",
				Time: base.Add(time.Duration(i%1000) * time.Second), Payload: []byte(fmt.Sprintf(`{"body":"post %d"}`, i))})
		}
		capture(t, store, evs)
		tmp := t.TempDir()
		path := filepath.Join(t.TempDir(), "export.xml")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := Export(t.Context(), store, f, ExportOptions{Format: FormatXML, PageSize: 100, TempDir: tmp})
		f.Close()
		if err != nil || sum.Events != 3000 || sum.Rooms != 150 {
			t.Fatalf("Export = %+v, %v; want 3000 events in 150 rooms", sum, err)
		}
		validateXML(t, path)
		var byRoom bytes.Buffer
		if _, err := Export(t.Context(), store, &byRoom, ExportOptions{Format: FormatXML, PageSize: 100, roomByRoom: true}); err != nil {
			t.Fatal(err)
		}
		if spooled, _ := os.ReadFile(path); !bytes.Equal(spooled, byRoom.Bytes()) {
			t.Errorf("the spooled XML export differs from the room-by-room one")
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("the spool left %v behind", left)
		}
	})
}

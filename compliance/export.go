package compliance

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/parleychat/parley/storage"
)

// Export formats.
const (
	FormatXML  = "xml"
	FormatJSON = "json"
)

// DefaultExportPageSize is how many events an export reads at a time.
const DefaultExportPageSize = 1000

// ExportOptions selects and formats an export.
type ExportOptions struct {
	// From, To, Room, Actor and User select the events (storage.ComplianceQuery;
	// its cursor and Limit are the export's own).
	Query storage.ComplianceQuery
	// Format is FormatXML or FormatJSON.
	Format string
	// PageSize is how many events are read at a time: the export's
	// memory, whatever the number of events.
	PageSize int
	// Progress, if not nil, is called after each page with the events
	// written so far and the total to write.
	Progress func(done, total int64)
	// TempDir is where an XML export of several rooms spools each room's
	// Messages while it reads the events once, in time order ("" for the
	// system's temporary directory): it needs about the export's size.
	TempDir string

	// roomByRoom makes an XML export read the database room by room
	// instead of spooling (tests compare the two).
	roomByRoom bool
}

// ExportSummary describes a finished export.
type ExportSummary struct {
	Events int64
	// Rooms counts the rooms with events in the export (events outside
	// rooms not counted).
	Rooms    int
	Bytes    int64
	Duration time.Duration
}

// Export writes the events that opt selects to w, streaming: it holds one
// page of events at a time. The XML format has one Conversation per room
// (rooms in name order, each room's events in time order) and needs the
// room's participants first: it tallies them in the database
// (TallyComplianceEvents), then reads the events once in time order,
// spooling each room's Messages to a temporary file (roomSpool), and
// writes the rooms one after the other. The JSON-lines
// format has every selected event in time order.
func Export(ctx context.Context, store storage.ComplianceStore, w io.Writer, opt ExportOptions) (ExportSummary, error) {
	start := time.Now()
	if opt.Format != FormatXML && opt.Format != FormatJSON {
		return ExportSummary{}, fmt.Errorf("compliance: export: unknown format %q, want xml or json", opt.Format)
	}
	if opt.PageSize <= 0 {
		opt.PageSize = DefaultExportPageSize
	}
	q := opt.Query
	q.AfterTime, q.AfterSeq, q.Limit = time.Time{}, 0, opt.PageSize
	tally, err := store.TallyComplianceEvents(ctx, q)
	if err != nil {
		return ExportSummary{}, fmt.Errorf("compliance: export: %w", err)
	}
	var (
		sum    ExportSummary
		total  int64
		rooms  []string
		people = map[string][]participant{}
	)
	for _, t := range tally {
		total += t.Events
		if _, ok := people[t.Room]; !ok {
			rooms = append(rooms, t.Room) // tally is ordered by room
			if t.Room != "" {
				sum.Rooms++
			}
		}
		people[t.Room] = append(people[t.Room], participant{t.Actor, t.Events})
	}
	cw := &countingWriter{w: w}
	progress := func() {
		if opt.Progress != nil {
			opt.Progress(sum.Events, total)
		}
	}
	progress()

	// page streams the events of q to emit, a page at a time.
	page := func(q storage.ComplianceQuery, emit func(storage.ComplianceEvent) error) error {
		for {
			evs, err := store.QueryComplianceEvents(ctx, q)
			if err != nil {
				return err
			}
			for _, ev := range evs {
				if err := emit(ev); err != nil {
					return err
				}
			}
			sum.Events += int64(len(evs))
			progress()
			if len(evs) < q.Limit {
				return nil
			}
			last := evs[len(evs)-1]
			q.AfterTime, q.AfterSeq = last.Time, last.Seq
		}
	}

	switch opt.Format {
	case FormatXML:
		x := newXMLWriter(cw)
		x.begin("from", timeAttr(q.From), "to", timeAttr(q.To), "room", q.Room, "user", cmp.Or(q.User, q.Actor))
		if len(rooms) > 1 && !opt.roomByRoom {
			// One pass over the selection, each room's Messages
			// spooled to its own file (see roomSpool).
			sp, err := newRoomSpool(opt.TempDir)
			if err != nil {
				return sum, fmt.Errorf("compliance: export: %w", err)
			}
			defer sp.remove()
			if err := page(q, sp.add); err != nil {
				return sum, fmt.Errorf("compliance: export: %w", err)
			}
			// Events captured or purged since the tally may add a
			// room or empty one: write what was read.
			for _, room := range sp.rooms() {
				if _, ok := people[room]; !ok {
					rooms = append(rooms, room)
				}
			}
			slices.Sort(rooms)
			for _, room := range rooms {
				if !sp.has(room) {
					continue
				}
				x.beginConversation(room, people[room])
				if err := sp.copyTo(room, x); err != nil {
					return sum, fmt.Errorf("compliance: export of %q: %w", room, err)
				}
				x.endConversation()
			}
		} else {
			for _, room := range rooms {
				rq := q
				rq.Room, rq.OutsideRooms = room, room == ""
				x.beginConversation(room, people[room])
				err := page(rq, func(ev storage.ComplianceEvent) error {
					x.message(ev)
					return x.err
				})
				if err != nil {
					return sum, fmt.Errorf("compliance: export of %q: %w", room, err)
				}
				x.endConversation()
			}
		}
		if err := x.end(); err != nil {
			return sum, fmt.Errorf("compliance: export: %w", err)
		}
	case FormatJSON:
		j := newJSONWriter(cw)
		if err := page(q, j.event); err != nil {
			return sum, fmt.Errorf("compliance: export: %w", err)
		}
	}
	sum.Bytes, sum.Duration = cw.n, time.Since(start)
	return sum, nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

package compliance

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/parleychat/parley/storage"
)

// spoolMaxOpen bounds the room files a roomSpool keeps open at once (and
// so its buffers: 64 kB each).
const spoolMaxOpen = 64

// roomSpool collects the XML Messages of an export of several rooms, one
// temporary file per room, while the export reads the selection once in
// time order. Reading the selection room by room instead makes the
// database read its table once per room when the table does not fit in
// its cache (every room's events are spread over the whole time range):
// on MariaDB with a 128 MB buffer pool a 1M-event export of 50 rooms took
// 93 s that way. Memory stays bounded: at most spoolMaxOpen files are
// open, the least recently used closed first.
type roomSpool struct {
	dir   string
	paths map[string]string // room -> its file
	open  map[string]*spoolFile
	clock int64 // orders uses, for closing the least recently used
}

type spoolFile struct {
	f    *os.File
	x    *xmlWriter
	used int64
}

// newRoomSpool makes the spool's directory in dir ("" for the system's
// temporary directory).
func newRoomSpool(dir string) (*roomSpool, error) {
	d, err := os.MkdirTemp(dir, ".parley-export-*")
	if err != nil {
		return nil, fmt.Errorf("spool directory: %w", err)
	}
	return &roomSpool{dir: d, paths: map[string]string{}, open: map[string]*spoolFile{}}, nil
}

// add writes ev's Message to its room's file.
func (s *roomSpool) add(ev storage.ComplianceEvent) error {
	sf, err := s.file(ev.Room)
	if err != nil {
		return err
	}
	sf.x.message(ev)
	return sf.x.err
}

// file returns the open file of room, opening (or creating) it and closing
// the least recently used one when too many are open.
func (s *roomSpool) file(room string) (*spoolFile, error) {
	s.clock++
	if sf := s.open[room]; sf != nil {
		sf.used = s.clock
		return sf, nil
	}
	if len(s.open) >= spoolMaxOpen {
		oldest := ""
		for r, sf := range s.open {
			if oldest == "" || sf.used < s.open[oldest].used {
				oldest = r
			}
		}
		if err := s.closeFile(oldest); err != nil {
			return nil, err
		}
	}
	path, ok := s.paths[room]
	if !ok {
		path = filepath.Join(s.dir, strconv.Itoa(len(s.paths)))
		s.paths[room] = path
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool file: %w", err)
	}
	sf := &spoolFile{f: f, x: &xmlWriter{w: bufio.NewWriterSize(f, 64<<10)}, used: s.clock}
	s.open[room] = sf
	return sf, nil
}

func (s *roomSpool) closeFile(room string) error {
	sf := s.open[room]
	delete(s.open, room)
	err := sf.x.err
	if err == nil {
		err = sf.x.w.Flush()
	}
	if cerr := sf.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool file: %w", err)
	}
	return nil
}

// rooms returns the rooms with events in the spool, in no order.
func (s *roomSpool) rooms() []string {
	out := make([]string, 0, len(s.paths))
	for r := range s.paths {
		out = append(out, r)
	}
	return out
}

// has reports whether room has events in the spool.
func (s *roomSpool) has(room string) bool {
	_, ok := s.paths[room]
	return ok
}

// copyTo writes room's Messages, in the order added, to x.
func (s *roomSpool) copyTo(room string, x *xmlWriter) error {
	if _, ok := s.open[room]; ok {
		if err := s.closeFile(room); err != nil {
			return err
		}
	}
	path, ok := s.paths[room]
	if !ok || x.err != nil {
		return x.err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("spool file: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(x.w, f); err != nil {
		x.err = err
	}
	return x.err
}

// remove closes and deletes every file of the spool.
func (s *roomSpool) remove() {
	for _, sf := range s.open {
		sf.f.Close()
	}
	os.RemoveAll(s.dir)
}

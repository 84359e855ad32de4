package compliance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/parleychat/parley/storage"
)

// jsonEvent is one line of the JSON-lines format (the JSON-lines adapter's
// files and `parleyctl compliance export --format json`): an event as the
// compliance database keeps it, with its Message type as in the XML.
type jsonEvent struct {
	Seq         int64           `json:"seq"`
	EventID     string          `json:"event_id"`
	Type        string          `json:"type"`
	MessageType string          `json:"message_type"`
	Room        string          `json:"room"`
	Actor       string          `json:"actor"`
	Target      string          `json:"target,omitempty"`
	Time        string          `json:"time"`
	CapturedAt  string          `json:"captured_at"`
	OutboxID    int64           `json:"outbox_id"`
	Payload     json.RawMessage `json:"payload,omitempty"`
}

// jsonWriter writes events as JSON lines to w.
type jsonWriter struct {
	enc *json.Encoder
}

func newJSONWriter(w io.Writer) *jsonWriter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonWriter{enc: enc}
}

func (j *jsonWriter) event(ev storage.ComplianceEvent) error {
	line := jsonEvent{
		Seq: ev.Seq, EventID: ev.EventID, Type: ev.Type, MessageType: MessageType(ev.Type),
		Room: ev.Room, Actor: ev.Actor, Target: ev.Target, Time: ev.Time.UTC().Format(xmlTime),
		CapturedAt: ev.CapturedAt.UTC().Format(xmlTime), OutboxID: ev.OutboxID,
	}
	if json.Valid(ev.Payload) {
		line.Payload = ev.Payload
	}
	return j.enc.Encode(line)
}

// JSONLinesAdapter writes each window as a file of JSON lines, one event per
// line in Seq order, in Dir.
type JSONLinesAdapter struct {
	// Dir receives the files; it is created if missing.
	Dir string
}

// Name implements Adapter.
func (a *JSONLinesAdapter) Name() string { return "jsonl" }

// Write implements Adapter: a file named
// parley-compliance-TIME-FIRSTSEQ-LASTSEQ.jsonl, written atomically.
func (a *JSONLinesAdapter) Write(ctx context.Context, w Window, evs []storage.ComplianceEvent) (string, error) {
	if err := os.MkdirAll(a.Dir, 0o750); err != nil {
		return "", fmt.Errorf("compliance output directory: %w", err)
	}
	path := filepath.Join(a.Dir, windowFileName("parley-compliance", w, ".jsonl"))
	f, err := createAtomic(path)
	if err != nil {
		return "", fmt.Errorf("compliance file: %w", err)
	}
	j := newJSONWriter(f.Writer)
	for _, ev := range evs {
		if err := j.event(ev); err != nil {
			f.abort()
			return "", fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return path, f.commit()
}

package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/parleychat/parley/compliance"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/backend"
)

// ComplianceStatus is compliance capture as the node sees it: the setting
// (Setting, the configured or recorded one described for people), the
// compliance database (its DSN without the password) and its status.
type ComplianceStatus struct {
	Setting string
	Storage string
	compliance.Status
	Lag time.Duration
}

// openCompliance opens the compliance database for one operation.
func (s *Service) openCompliance(ctx context.Context) (storage.ComplianceStore, error) {
	if err := os.MkdirAll(s.cfg.Data, 0o750); err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	cstore, err := backend.OpenCompliance(ctx, s.cfg.ComplianceStorage)
	if err != nil {
		return nil, fmt.Errorf("opening the compliance database: %w", err)
	}
	return cstore, nil
}

// ComplianceStatus shows whether compliance copy is on, which node
// copies now (the lease), the lag and what waits in the outbox, how many
// events the compliance database holds, and each adapter's last run
// (shared/DESIGN.md §6). Off never stops capture: every action still
// writes its outbox event before it is acknowledged; off only means no
// worker on that node copies the outbox.
func (b *bound) ComplianceStatus(ctx context.Context) (ComplianceStatus, error) {
	outbox, ok := b.s.cfg.Store.(storage.ComplianceOutbox)
	if !ok {
		return ComplianceStatus{}, errors.New("the content store has no compliance outbox")
	}
	cstore, err := b.s.openCompliance(ctx)
	if err != nil {
		return ComplianceStatus{}, err
	}
	defer cstore.Close()
	st, err := compliance.ReadStatus(ctx, outbox, cstore)
	if err != nil {
		return ComplianceStatus{}, err
	}
	setting, err := complianceSetting(b.s.cfg.Data, b.s.cfg.Compliance)
	if err != nil {
		return ComplianceStatus{}, err
	}
	return ComplianceStatus{Setting: setting, Storage: b.s.cfg.ComplianceStorageShown, Status: st, Lag: st.Lag(b.s.cfg.Now())}, nil
}

// complianceSetting describes the compliance setting: the one parleyd
// last started with on this data directory (compliance.RecordedSetting),
// saying so when this configuration differs, or this configuration's when
// parleyd never started here.
func complianceSetting(data string, configured bool) (string, error) {
	describe := func(on bool) string {
		if on {
			return "on"
		}
		return "off (capture goes on: events wait in the outbox; no worker copies them from this node)"
	}
	recorded, err := compliance.RecordedSetting(filepath.Join(data, compliance.StateFile))
	if err != nil {
		return "", err
	}
	if recorded == "" || (recorded == "on") == configured {
		return describe(configured), nil
	}
	return fmt.Sprintf("%s, as parleyd last started on this data directory (this configuration says %s)",
		describe(recorded == "on"), describe(configured)), nil
}

// HoldTarget names a legal hold: exactly one of User and Room.
type HoldTarget struct {
	User   string `json:"user,omitempty"`
	Room   string `json:"room,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func (b *bound) holdTarget(h HoldTarget) (kind, name string, err error) {
	switch {
	case (h.User == "") == (h.Room == ""):
		return "", "", &BadRequest{"give exactly one of --user and --room"}
	case h.User != "":
		j, err := b.s.UserJID(h.User)
		return storage.HoldUser, j, err
	}
	name, err = RoomName(h.Room)
	return storage.HoldRoom, name, err
}

// AddHold places a legal hold: nothing it covers is purged.
func (b *bound) AddHold(ctx context.Context, h HoldTarget) (storage.Hold, error) {
	kind, name, err := b.holdTarget(h)
	if err != nil {
		return storage.Hold{}, err
	}
	e, err := b.engine(ctx)
	if err != nil {
		return storage.Hold{}, err
	}
	hold := storage.Hold{Kind: kind, Name: name, Reason: h.Reason}
	return hold, e.PutHold(ctx, b.actor, hold)
}

// RemoveHold lifts a legal hold.
func (b *bound) RemoveHold(ctx context.Context, h HoldTarget) (storage.Hold, error) {
	kind, name, err := b.holdTarget(h)
	if err != nil {
		return storage.Hold{}, err
	}
	e, err := b.engine(ctx)
	if err != nil {
		return storage.Hold{}, err
	}
	return storage.Hold{Kind: kind, Name: name, Reason: h.Reason}, e.DeleteHold(ctx, b.actor, kind, name, h.Reason)
}

func (b *bound) Holds(ctx context.Context) ([]storage.Hold, error) {
	e, err := b.engine(ctx)
	if err != nil {
		return nil, err
	}
	holds, err := e.Holds(ctx)
	if holds == nil {
		holds = []storage.Hold{}
	}
	return holds, err
}

// ExportQuery is a compliance export: the events of [From, To), of one
// room or user if given, as xml or json (JSON lines).
type ExportQuery struct {
	From, To time.Time
	Room     string
	User     string
	Format   string
	// TempDir is where the XML export spools (default $TMPDIR).
	TempDir string `json:"-"`
}

// Check reports a bad query before anything is opened.
func (q ExportQuery) Check() error {
	if q.From.IsZero() || q.To.IsZero() {
		return &BadRequest{"--from and --to are required"}
	}
	if !q.To.After(q.From) {
		return &BadRequest{"--to must be after --from"}
	}
	if !slices.Contains([]string{compliance.FormatXML, compliance.FormatJSON}, q.Format) {
		return fieldError("format", &BadRequest{fmt.Sprintf("want xml or json, not %q", q.Format)})
	}
	return nil
}

// Export writes the compliance events q asks for to w, streaming. The
// export itself is recorded, with its query, as a compliance event.
func (b *bound) Export(ctx context.Context, q ExportQuery, w io.Writer, progress func(done, total int64)) (compliance.ExportSummary, error) {
	if err := q.Check(); err != nil {
		return compliance.ExportSummary{}, err
	}
	cstore, err := b.s.openCompliance(ctx)
	if err != nil {
		return compliance.ExportSummary{}, err
	}
	defer cstore.Close()
	if b.actor != "" && Recorded(b.actor) != b.actor {
		// A named administrator's export (through the API) is itself
		// an action compliance keeps.
		if err := b.record(ctx, "compliance.export", q.User, map[string]any{"from": q.From, "to": q.To, "room": q.Room, "format": q.Format}); err != nil {
			return compliance.ExportSummary{}, err
		}
	}
	return compliance.Export(ctx, cstore, w, compliance.ExportOptions{
		Query:    storage.ComplianceQuery{From: q.From, To: q.To, Room: q.Room, User: q.User},
		Format:   q.Format,
		Progress: progress,
		TempDir:  q.TempDir,
	})
}

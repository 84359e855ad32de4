package compliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/parleychat/parley/storage"
)

// Retention (issue 5 item 5): every Interval, on the node that holds the
// worker lease, the retention runner purges each room's history older than
// its category's RetentionDays, the accounts' own archives of 1:1
// messages older than ArchiveRetention, and compliance events older than
// ComplianceRetention, in batches of Batch rows with a Pause between them,
// so that posting is never locked out. Legal holds (storage.Hold) stop both
// purges for what they cover. Each history batch is captured, in its own
// transaction, as a "retention.purge" event; each compliance batch as a
// "compliance.purge" event (appended to the outbox after the batch: the two
// databases share no transaction).

// Defaults of RetentionConfig.
const (
	DefaultRetentionInterval = time.Hour
	DefaultRetentionBatch    = 1000
	DefaultRetentionPause    = 100 * time.Millisecond
	// RetentionActor is the actor of the purge events.
	RetentionActor = "parleyd:retention"
)

// RetentionContent is what the runner needs of the content database.
type RetentionContent interface {
	Categories(ctx context.Context) ([]storage.Category, error)
	Rooms(ctx context.Context) ([]storage.Room, error)
	AppendOutbox(ctx context.Context, evs ...storage.OutboxEvent) error
	storage.RetentionStore
	// PurgeArchives is storage.UserArchives' purge.
	PurgeArchives(ctx context.Context, p storage.ArchivePurge) (int, error)
}

// RetentionConfig configures a RetentionRunner.
type RetentionConfig struct {
	Content RetentionContent // required
	// Compliance is the compliance database; with
	// ComplianceRetention > 0 it must implement
	// storage.ComplianceRetention. Its lease decides whether this node
	// runs (Holder); nil runs on every node (tests, single node).
	Compliance          storage.ComplianceStore
	ComplianceRetention time.Duration // 0 keeps compliance events forever
	// ArchiveRetention is how long the accounts' own archives keep a
	// message (0: forever). Domain is the accounts' XMPP domain: a hold
	// on user@Domain keeps that account's archive, a hold on any user
	// their messages in everyone's archive.
	ArchiveRetention time.Duration
	Domain           string
	Holder           string
	Interval         time.Duration
	Batch            int
	Pause            time.Duration
	Now              func() time.Time
	Logger           *slog.Logger
}

// RetentionRunner purges what retention allows. Create it with
// NewRetentionRunner; Run owns its goroutine.
type RetentionRunner struct {
	cfg RetentionConfig
	log *slog.Logger
}

// RetentionResult is what one pass purged.
type RetentionResult struct {
	History          int // history rows
	Archive          int // messages of the accounts' own archives
	ComplianceEvents int
}

// NewRetentionRunner checks cfg and fills in defaults.
func NewRetentionRunner(cfg RetentionConfig) (*RetentionRunner, error) {
	if cfg.Content == nil {
		return nil, errors.New("compliance: retention config: Content is required")
	}
	if cfg.ComplianceRetention > 0 {
		if _, ok := cfg.Compliance.(storage.ComplianceRetention); !ok {
			return nil, errors.New("compliance: retention config: the compliance database cannot purge")
		}
	}
	if cfg.Compliance != nil && cfg.Holder == "" {
		return nil, errors.New("compliance: retention config: Holder is required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultRetentionInterval
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultRetentionBatch
	}
	if cfg.Pause < 0 {
		cfg.Pause = 0
	} else if cfg.Pause == 0 {
		cfg.Pause = DefaultRetentionPause
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &RetentionRunner{cfg: cfg, log: cfg.Logger.With("component", "compliance-retention")}, nil
}

// Run runs a pass every Interval while this node holds the worker lease,
// until ctx ends; then it returns nil. Errors are logged, and the next
// pass tries again.
func (r *RetentionRunner) Run(ctx context.Context) error {
	t := time.NewTimer(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if held, err := r.leaseHeld(ctx); err != nil || !held {
			if err != nil && ctx.Err() == nil {
				r.log.Warn("reading the compliance lease", "err", err)
			}
		} else if res, err := r.RunOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.log.Error("retention pass failed", "err", err, "history", res.History, "archive", res.Archive, "compliance_events", res.ComplianceEvents)
		} else if res != (RetentionResult{}) {
			r.log.Info("retention pass", "history", res.History, "archive", res.Archive, "compliance_events", res.ComplianceEvents)
		}
		t.Reset(r.cfg.Interval)
	}
}

func (r *RetentionRunner) leaseHeld(ctx context.Context) (bool, error) {
	if r.cfg.Compliance == nil {
		return true, nil
	}
	l, now, err := r.cfg.Compliance.Lease(ctx, LeaseName)
	if err != nil {
		return false, fmt.Errorf("compliance: retention: %w", err)
	}
	return l.Held(r.cfg.Holder, now), nil
}

// RunOnce runs one pass: history of every room whose category has a
// retention, then compliance events.
func (r *RetentionRunner) RunOnce(ctx context.Context) (RetentionResult, error) {
	var res RetentionResult
	now := r.cfg.Now()
	cats, err := r.cfg.Content.Categories(ctx)
	if err != nil {
		return res, fmt.Errorf("compliance: retention: %w", err)
	}
	days := map[string]int{}
	for _, c := range cats {
		days[c.Name] = c.RetentionDays
	}
	rooms, err := r.cfg.Content.Rooms(ctx)
	if err != nil {
		return res, fmt.Errorf("compliance: retention: %w", err)
	}
	for _, room := range rooms {
		d := days[room.Category]
		if d <= 0 {
			continue
		}
		n, err := r.purgeRoom(ctx, room.Name, now.AddDate(0, 0, -d))
		res.History += n
		if err != nil {
			return res, err
		}
	}
	if r.cfg.ArchiveRetention > 0 {
		n, err := r.purgeArchives(ctx, now.Add(-r.cfg.ArchiveRetention))
		res.Archive += n
		if err != nil {
			return res, err
		}
	}
	if r.cfg.ComplianceRetention > 0 {
		n, err := r.purgeCompliance(ctx, now.Add(-r.cfg.ComplianceRetention))
		res.ComplianceEvents += n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func (r *RetentionRunner) purgeRoom(ctx context.Context, room string, before time.Time) (int, error) {
	total := 0
	for {
		n, err := r.cfg.Content.PurgeHistory(ctx, storage.HistoryPurge{Room: room, Before: before, Limit: r.cfg.Batch,
			Event: func(n int, newest time.Time) storage.OutboxEvent {
				return retentionEvent("retention.purge", room, map[string]any{
					"before": before.UTC(), "deleted": n, "through": newest})
			}})
		total += n
		if err != nil {
			return total, fmt.Errorf("compliance: retention of %s: %w", room, err)
		}
		if n < r.cfg.Batch {
			return total, nil
		}
		if err := r.pause(ctx); err != nil {
			return total, err
		}
	}
}

// purgeArchives purges the accounts' own archives as purgeRoom purges a
// room, keeping what legal holds on users cover: a held account's whole
// archive, a held user's messages in every archive. Each batch is an
// "archive.purge" event.
func (r *RetentionRunner) purgeArchives(ctx context.Context, before time.Time) (int, error) {
	holds, err := r.cfg.Content.Holds(ctx)
	if err != nil {
		return 0, fmt.Errorf("compliance: archive retention: %w", err)
	}
	p := storage.ArchivePurge{Before: before, Limit: r.cfg.Batch,
		Event: func(n int, newest time.Time) storage.OutboxEvent {
			return retentionEvent("archive.purge", "", map[string]any{"before": before.UTC(), "deleted": n, "through": newest})
		}}
	for _, h := range holds {
		if h.Kind != storage.HoldUser {
			continue
		}
		p.KeepWith = append(p.KeepWith, h.Name)
		if user, ok := strings.CutSuffix(h.Name, "@"+r.cfg.Domain); ok && r.cfg.Domain != "" {
			p.KeepOwners = append(p.KeepOwners, user)
		}
	}
	total := 0
	for {
		n, err := r.cfg.Content.PurgeArchives(ctx, p)
		total += n
		if err != nil {
			return total, fmt.Errorf("compliance: archive retention: %w", err)
		}
		if n < p.Limit {
			return total, nil
		}
		if err := r.pause(ctx); err != nil {
			return total, err
		}
	}
}

func (r *RetentionRunner) purgeCompliance(ctx context.Context, before time.Time) (int, error) {
	holds, err := r.cfg.Content.Holds(ctx)
	if err != nil {
		return 0, fmt.Errorf("compliance: retention: %w", err)
	}
	p := storage.ComplianceEventPurge{Before: before, Limit: r.cfg.Batch}
	for _, h := range holds {
		if h.Kind == storage.HoldRoom {
			p.KeepRooms = append(p.KeepRooms, h.Name)
		} else {
			p.KeepActors = append(p.KeepActors, h.Name)
		}
	}
	cr := r.cfg.Compliance.(storage.ComplianceRetention)
	total := 0
	for {
		n, newest, err := cr.PurgeComplianceEvents(ctx, p)
		total += n
		if err != nil {
			return total, fmt.Errorf("compliance: compliance retention: %w", err)
		}
		if n > 0 {
			ev := retentionEvent("compliance.purge", "", map[string]any{"before": before.UTC(), "deleted": n, "through": newest})
			if err := r.cfg.Content.AppendOutbox(ctx, ev); err != nil {
				return total, fmt.Errorf("compliance: recording compliance retention: %w", err)
			}
		}
		if n < p.Limit {
			return total, nil
		}
		if err := r.pause(ctx); err != nil {
			return total, err
		}
	}
}

func (r *RetentionRunner) pause(ctx context.Context) error {
	t := time.NewTimer(r.cfg.Pause)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func retentionEvent(typ, room string, detail any) storage.OutboxEvent {
	payload, err := json.Marshal(detail)
	if err != nil {
		payload = []byte(`{}`)
	}
	return storage.OutboxEvent{EventID: newEventID(), Type: typ, Room: room, Actor: RetentionActor,
		Time: time.Now().UTC(), Payload: payload}
}

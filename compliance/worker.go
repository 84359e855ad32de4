// Package compliance is Parley's compliance service (shared/DESIGN.md §6):
// the worker that copies the content database's outbox, where the room
// engine records every event in the transaction of the change itself, into
// the compliance database, exactly once and in order.
//
// One worker is active per pool: Worker.Run takes a lease in the compliance
// database (LeaseName) and copies only while it holds it. Copying is
// idempotent by event id, so a worker that dies between copying a batch and
// deleting it from the outbox (or two workers that briefly overlap while a
// lease changes hands) store nothing twice; and a batch is deleted from the
// outbox only after the compliance database committed it, so nothing is
// lost.
package compliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/storage"
)

// LeaseName is the compliance database lease that the active worker of a
// pool holds.
const LeaseName = "compliance-worker"

// Defaults of WorkerConfig. A holder renews its lease every 10 s and the
// lease lapses 30 s after the last renewal, so a holder that dies is
// replaced at most LeaseTTL + RetryInterval (32 s) after its last renewal.
const (
	DefaultBatchSize     = 500
	DefaultLeaseTTL      = 30 * time.Second
	DefaultRenewInterval = 10 * time.Second
	DefaultRetryInterval = 2 * time.Second
	DefaultPollInterval  = time.Second
)

// releaseTimeout bounds giving the lease up when Run stops.
const releaseTimeout = 5 * time.Second

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	// Outbox is the content database (required).
	Outbox storage.ComplianceOutbox
	// Store is the compliance database (required).
	Store storage.ComplianceStore
	// Holder names this node in the lease, e.g. "host:/var/lib/parley"
	// (required). Two nodes must not share it; a node that restarts under
	// the same name gets its unexpired lease back at once.
	Holder string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the worker's metrics; nil means none.
	Registerer prometheus.Registerer

	// BatchSize is how many outbox events one pass copies.
	BatchSize int
	// LeaseTTL is how long the lease lasts after each renewal;
	// RenewInterval how often the holder renews it (well under LeaseTTL);
	// RetryInterval how often a node that does not hold it, or whose
	// copy failed, tries again; PollInterval how often the holder looks
	// at an outbox it found empty.
	LeaseTTL      time.Duration
	RenewInterval time.Duration
	RetryInterval time.Duration
	PollInterval  time.Duration
}

// Worker copies the outbox into the compliance database while it holds the
// lease. Create it with NewWorker and run it with Run.
type Worker struct {
	cfg WorkerConfig
	log *slog.Logger
	m   *metrics
}

// NewWorker checks cfg, fills in defaults and registers the metrics.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	switch {
	case cfg.Outbox == nil:
		return nil, errors.New("compliance: worker config: Outbox is required")
	case cfg.Store == nil:
		return nil, errors.New("compliance: worker config: Store is required")
	case cfg.Holder == "":
		return nil, errors.New("compliance: worker config: Holder is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.RenewInterval <= 0 {
		cfg.RenewInterval = DefaultRenewInterval
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.RenewInterval >= cfg.LeaseTTL {
		return nil, fmt.Errorf("compliance: worker config: RenewInterval %v must be shorter than LeaseTTL %v",
			cfg.RenewInterval, cfg.LeaseTTL)
	}
	m, err := newMetrics(cfg.Registerer, cfg.Outbox)
	if err != nil {
		return nil, fmt.Errorf("compliance: metrics: %w", err)
	}
	return &Worker{cfg: cfg, log: cfg.Logger.With("component", "compliance", "holder", cfg.Holder), m: m}, nil
}

// Run takes the lease whenever it is free and, while it holds it, copies
// the outbox into the compliance database. It returns nil when ctx ends,
// after giving the lease up so that another node can take over at once.
// Database errors are logged and retried, never returned.
func (w *Worker) Run(ctx context.Context) error {
	var (
		held      bool
		heldUntil time.Time // by our clock: the lease's end at the latest
		nextLease time.Time // when to take or renew the lease next
		failing   bool      // the last copy failed (log the next failure quietly)
	)
	defer func() {
		if !held {
			return
		}
		w.m.leaseHeld.Set(0)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if err := w.cfg.Store.ReleaseLease(rctx, LeaseName, w.cfg.Holder); err != nil {
			w.log.Warn("giving up the compliance lease; it lapses by itself", "err", err)
			return
		}
		w.log.Info("compliance worker stopped; lease released")
	}()

	for {
		if now := time.Now(); !now.Before(nextLease) {
			l, ok, err := w.cfg.Store.AcquireLease(ctx, LeaseName, w.cfg.Holder, w.cfg.LeaseTTL)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				w.log.Warn("taking the compliance lease", "err", err)
				nextLease = now.Add(w.cfg.RetryInterval)
			case ok:
				heldUntil, nextLease = now.Add(w.cfg.LeaseTTL), now.Add(w.cfg.RenewInterval)
				if !held {
					w.log.Info("compliance worker active: lease taken", "expires", l.Expires)
				}
			default:
				if held {
					w.log.Warn("compliance lease lost", "holder", l.Holder)
				}
				heldUntil, nextLease = time.Time{}, now.Add(w.cfg.RetryInterval)
			}
		}
		// If renewing failed for longer than the lease lasts, another
		// node may hold it now.
		w.setHeld(&held, time.Now().Before(heldUntil))

		wait := time.Until(nextLease)
		if held {
			copied, full, err := w.pass(ctx)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				if failing {
					w.log.Debug("copying the compliance outbox, still failing", "err", err)
				} else {
					w.log.Warn("copying the compliance outbox; retrying", "err", err)
				}
				failing = true
				wait = min(wait, w.cfg.RetryInterval)
			default:
				if failing {
					w.log.Info("copying the compliance outbox works again")
				}
				failing = false
				if copied > 0 {
					w.log.Debug("compliance events copied", "events", copied)
				}
				if full {
					continue // more waiting: no pause
				}
				wait = min(wait, w.cfg.PollInterval)
			}
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// setHeld records a change of whether the lease is held.
func (w *Worker) setHeld(held *bool, now bool) {
	if *held == now {
		return
	}
	*held = now
	if now {
		w.m.leaseHeld.Set(1)
	} else {
		w.m.leaseHeld.Set(0)
	}
}

// Drain copies the outbox into the compliance database until it is empty
// and returns how many events were new to the compliance database. It does
// not take the lease (Run does): copying is idempotent, so it is safe to
// run beside an active worker, just redundant.
func (w *Worker) Drain(ctx context.Context) (int, error) {
	total := 0
	for {
		copied, full, err := w.pass(ctx)
		total += copied
		if err != nil || !full {
			return total, err
		}
	}
}

// pass copies one batch: the first BatchSize events of the outbox, read
// from the start every time (events commit out of ID order, see
// storage.RoomStore.ReadOutbox), stored in the compliance database in the
// order read, then deleted from the outbox by exactly their IDs. full
// reports a full batch: more may be waiting.
func (w *Worker) pass(ctx context.Context) (copied int, full bool, err error) {
	evs, err := w.cfg.Outbox.ReadOutbox(ctx, 0, w.cfg.BatchSize)
	if err != nil {
		w.m.errors.Inc()
		return 0, false, fmt.Errorf("compliance: reading the outbox: %w", err)
	}
	if len(evs) > 0 {
		for i := range evs {
			evs[i].Target = EventTarget(evs[i].Type, evs[i].Payload)
		}
		copied, err = w.cfg.Store.CaptureEvents(ctx, evs)
		if err != nil {
			w.m.errors.Inc()
			return 0, false, fmt.Errorf("compliance: storing %d events: %w", len(evs), err)
		}
		w.m.copied.Add(float64(copied))
		if skipped := len(evs) - copied; skipped > 0 {
			// Copied before by a worker that did not get to delete
			// them, or by one whose lease had just lapsed.
			w.log.Info("compliance events already captured, deleting them from the outbox", "events", skipped)
		}
		ids := make([]int64, len(evs))
		for i, ev := range evs {
			ids[i] = ev.ID
		}
		if err := w.cfg.Outbox.DeleteOutbox(ctx, ids...); err != nil {
			// They are in the compliance database: the next pass
			// finds them there and only deletes them.
			w.m.errors.Inc()
			return copied, false, fmt.Errorf("compliance: deleting %d copied events from the outbox: %w", len(ids), err)
		}
	}
	w.m.lastRun.SetToCurrentTime()
	return copied, len(evs) == w.cfg.BatchSize, nil
}

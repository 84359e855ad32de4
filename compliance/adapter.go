package compliance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/storage"
)

// Adapter delivers the events of the compliance database somewhere else,
// the XML and JSON-lines files of an archiving or e-discovery system
// (shared/DESIGN.md §6). An AdapterRunner hands it the events in Seq order,
// a Window at a time, and remembers in the compliance database how far it
// got.
type Adapter interface {
	// Name identifies the adapter's position in the compliance
	// database: two adapters must not share it.
	Name() string
	// Write delivers evs, the events of w in Seq order, completely or
	// not at all (an error), and says where: the file written (the last
	// one, when it writes several), shown by parleyctl compliance status.
	// A window that failed is written again, identical, so Write must
	// make a second delivery of the same window replace the first, not
	// add to it: the XML and JSON-lines adapters name their files after
	// the window.
	Write(ctx context.Context, w Window, evs []storage.ComplianceEvent) (string, error)
}

// Window is a run's range of the compliance database: the events with
// AfterSeq < Seq <= LastSeq.
type Window struct {
	AfterSeq, LastSeq int64
	// First and Last are when the first and the last event of the
	// window were captured: a window's files are named after Last, so
	// that writing a window again produces the same names.
	First, Last time.Time
}

// Defaults of AdapterRunnerConfig.
const (
	DefaultAdapterInterval = 15 * time.Minute
	DefaultAdapterMaxBatch = 100_000
	// maxAdapterRetry bounds the wait before a failed adapter tries
	// again.
	maxAdapterRetry = time.Minute
)

// AdapterRunnerConfig configures an AdapterRunner.
type AdapterRunnerConfig struct {
	// Store is the compliance database (required).
	Store storage.ComplianceStore
	// Adapters are run one after the other, each from its own position.
	Adapters []Adapter
	// Holder is this node's name in the worker lease (required): the
	// runner writes only while the node holds it, so that one node of a
	// pool writes the files.
	Holder string
	// Interval is how often the adapters run: one window (one file per
	// adapter, or per room) per Interval.
	Interval time.Duration
	// MaxBatch bounds the events of one window; a backlog larger than
	// that is written as several windows in one run.
	MaxBatch int
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the runner's metrics (per adapter: last run,
	// last success, events written, failures); nil means none.
	Registerer prometheus.Registerer
}

// AdapterRunner runs adapters on the node that holds the worker lease, every
// interval, each from the position it stored in the compliance database.
// Create it with NewAdapterRunner; Run owns its goroutine.
type AdapterRunner struct {
	cfg AdapterRunnerConfig
	log *slog.Logger
	m   *adapterMetrics
}

// NewAdapterRunner checks cfg and fills in defaults.
func NewAdapterRunner(cfg AdapterRunnerConfig) (*AdapterRunner, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("compliance: adapter runner config: Store is required")
	case cfg.Holder == "":
		return nil, errors.New("compliance: adapter runner config: Holder is required")
	}
	seen := map[string]bool{}
	for _, a := range cfg.Adapters {
		if seen[a.Name()] {
			return nil, fmt.Errorf("compliance: adapter runner config: two adapters called %q", a.Name())
		}
		seen[a.Name()] = true
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultAdapterInterval
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultAdapterMaxBatch
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m, err := newAdapterMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("compliance: adapter metrics: %w", err)
	}
	return &AdapterRunner{cfg: cfg, log: cfg.Logger.With("component", "compliance-adapters"), m: m}, nil
}

// Run runs the adapters every Interval while this node holds the worker
// lease, until ctx ends; then it returns nil. A failed adapter is retried
// sooner (within a minute) from the same position; errors are logged,
// never returned.
func (r *AdapterRunner) Run(ctx context.Context) error {
	wait := r.cfg.Interval
	failing := false
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		held, err := r.leaseHeld(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil || !held {
			if err != nil {
				r.log.Warn("reading the compliance lease", "err", err)
			}
			wait = r.cfg.Interval
			continue
		}
		err = r.RunOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			if failing {
				r.log.Debug("compliance adapters, still failing", "err", err)
			} else {
				r.log.Warn("compliance adapters failed; retrying from the same position", "err", err)
			}
			failing, wait = true, min(r.cfg.Interval, maxAdapterRetry)
		default:
			if failing {
				r.log.Info("compliance adapters work again")
			}
			failing, wait = false, r.cfg.Interval
		}
	}
}

// leaseHeld reports whether this node holds the worker lease, by the
// compliance database's clock.
func (r *AdapterRunner) leaseHeld(ctx context.Context) (bool, error) {
	l, now, err := r.cfg.Store.Lease(ctx, LeaseName)
	if err != nil {
		return false, err
	}
	return l.Held(r.cfg.Holder, now), nil
}

// RunOnce runs every adapter until it has written all the events captured
// so far, whether or not this node holds the lease (Run checks it), and
// records each adapter's run (when, how many events, the last file, the
// error) with its position. One adapter's failure does not stop the
// others; the errors are joined.
func (r *AdapterRunner) RunOnce(ctx context.Context) error {
	var errs []error
	for _, a := range r.cfg.Adapters {
		run, err := r.runAdapter(ctx, a)
		if err != nil {
			err = fmt.Errorf("compliance: adapter %s: %w", a.Name(), err)
			errs = append(errs, err)
			run.Error = err.Error()
		}
		if rerr := r.recordRun(ctx, a.Name(), run); rerr != nil && ctx.Err() == nil {
			errs = append(errs, fmt.Errorf("compliance: adapter %s: recording its run: %w", a.Name(), rerr))
		}
	}
	return errors.Join(errs...)
}

// recordRun counts run in the metrics and stores it as the adapter's last,
// beside its position.
func (r *AdapterRunner) recordRun(ctx context.Context, name string, run storage.AdapterRun) error {
	run.At = time.Now()
	r.m.observe(name, run)
	p, err := r.cfg.Store.AdapterPosition(ctx, name)
	if err != nil {
		return err
	}
	run.File, run.Error = cut(run.File, storage.MaxAdapterRunText), cut(run.Error, storage.MaxAdapterRunText)
	p.LastRun = run
	return r.cfg.Store.SetAdapterPosition(ctx, p)
}

// cut shortens s to at most n characters.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// runAdapter writes windows for a until it is up to date and returns what
// it wrote (Events, File; also when it fails part way). Before writing a
// window it stores the window's end as pending, and afterwards moves its
// position there: a run that fails or dies in between leaves the pending
// end, and the next run writes exactly that window again, so files already
// delivered by the failed run are replaced by identical ones, never
// followed by a shifted window that repeats some of their events.
func (r *AdapterRunner) runAdapter(ctx context.Context, a Adapter) (run storage.AdapterRun, err error) {
	for {
		p, err := r.cfg.Store.AdapterPosition(ctx, a.Name())
		if err != nil {
			return run, err
		}
		evs, err := r.cfg.Store.ComplianceEvents(ctx, p.Seq, r.cfg.MaxBatch)
		if err != nil {
			return run, err
		}
		if p.Pending > p.Seq {
			n := 0
			for n < len(evs) && evs[n].Seq <= p.Pending {
				n++
			}
			evs = evs[:n]
			if n == 0 {
				// The pending window's events are gone (purged):
				// nothing left to write of it.
				p.Seq = p.Pending
				if err := r.cfg.Store.SetAdapterPosition(ctx, p); err != nil {
					return run, err
				}
				continue
			}
		}
		if len(evs) == 0 {
			return run, nil
		}
		w := Window{AfterSeq: p.Seq, LastSeq: evs[len(evs)-1].Seq, First: evs[0].CapturedAt, Last: evs[len(evs)-1].CapturedAt}
		if p.Pending != w.LastSeq {
			p.Pending = w.LastSeq
			if err := r.cfg.Store.SetAdapterPosition(ctx, p); err != nil {
				return run, err
			}
		}
		file, err := a.Write(ctx, w, evs)
		if err != nil {
			return run, fmt.Errorf("writing events %d to %d: %w", w.AfterSeq+1, w.LastSeq, err)
		}
		p.Seq = w.LastSeq
		if err := r.cfg.Store.SetAdapterPosition(ctx, p); err != nil {
			return run, err
		}
		run.Events += int64(len(evs))
		run.File = file
		r.log.Debug("compliance events written", "adapter", a.Name(), "events", len(evs), "last_seq", w.LastSeq, "file", file)
		if len(evs) < r.cfg.MaxBatch {
			return run, nil
		}
	}
}

// atomicFile is a file written under a temporary name in its final
// directory and renamed into place only when complete and synced: readers
// of the directory see the whole file or none of it.
type atomicFile struct {
	*bufio.Writer
	f    *os.File
	path string
}

// createAtomic starts writing path.
func createAtomic(path string) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	return &atomicFile{Writer: bufio.NewWriterSize(f, 64<<10), f: f, path: path}, nil
}

// commit flushes, syncs and renames the file into place, then syncs the
// directory so that the rename survives a crash.
func (a *atomicFile) commit() error {
	err := a.Flush()
	if err == nil {
		err = a.f.Sync()
	}
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(a.f.Name(), a.path)
	}
	if err != nil {
		os.Remove(a.f.Name())
		return fmt.Errorf("writing %s: %w", a.path, err)
	}
	if d, err := os.Open(filepath.Dir(a.path)); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("syncing the directory of %s: %w", a.path, err)
		}
	}
	return nil
}

// abort throws the unfinished file away.
func (a *atomicFile) abort() {
	a.f.Close()
	os.Remove(a.f.Name())
}

// windowFileName names a window's file: the capture time of its last
// event and its Seq range, so that writing the window again replaces the
// file, and the names sort in order.
func windowFileName(prefix string, w Window, suffix string) string {
	return fmt.Sprintf("%s-%s-%d-%d%s", prefix, w.Last.UTC().Format("20060102T150405.000000Z"), w.AfterSeq+1, w.LastSeq, suffix)
}

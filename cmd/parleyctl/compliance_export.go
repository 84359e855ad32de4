package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/parleychat/parley/admin"
	"github.com/parleychat/parley/compliance"
)

func complianceExportFlags(fs *flag.FlagSet) {
	fs.String("from", "", "export the events that happened at or after `T` (RFC 3339, or YYYY-MM-DD[THH:MM] in UTC)")
	fs.String("to", "", "export the events that happened before `T`")
	fs.String("room", "", "export room `R`'s events only")
	fs.String("user", "", "export only the events that concern user `U`: those U caused and those done to U (kicked, banned, invited, sent a private message, their file downloaded)")
	fs.String("format", compliance.FormatXML, "write `F`: xml (the compliance schema) or json (JSON lines)")
	fs.String("out", "", "write to `FILE` (replaced when complete) instead of standard output")
}

// exportTime parses a --from or --to time.
func exportTime(flagName, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, usageError{fmt.Sprintf("--%s: want a time like 2026-03-01T09:00:00Z or 2026-03-01, not %q", flagName, v)}
}

// complianceExport writes the compliance events of a time range, of one
// room or user if asked, as XML or JSON lines (shared/DESIGN.md §6),
// streaming: it reads a page of events at a time, so it runs in the same
// memory for a thousand events as for millions. On a terminal it shows its
// progress on stderr; it ends with a summary.
func complianceExport(ctx context.Context, c *ctl, fs *flag.FlagSet, _ []string) error {
	get := func(name string) string { return fs.Lookup(name).Value.String() }
	if get("from") == "" || get("to") == "" {
		return usageError{"--from and --to are required"}
	}
	from, err := exportTime("from", get("from"))
	if err != nil {
		return err
	}
	to, err := exportTime("to", get("to"))
	if err != nil {
		return err
	}
	if !to.After(from) {
		return usageError{"--to must be after --from"}
	}
	q := admin.ExportQuery{From: from, To: to, Room: get("room"), User: get("user"), Format: strings.ToLower(get("format"))}
	if err := q.Check(); err != nil {
		return err
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}

	var (
		out    io.Writer = c.stdout
		commit           = func() error { return nil }
		abort            = func() {}
		report           = c.stderr // the summary, away from the data
		spool            = ""       // the XML export's spool: next to --out, else $TMPDIR
	)
	if path := get("out"); path != "" {
		spool = filepath.Dir(path)
		f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		out, report = f, c.stdout
		abort = func() { f.Close(); os.Remove(f.Name()) }
		commit = func() error {
			if err := f.Sync(); err != nil {
				abort()
				return fmt.Errorf("--out %s: %w", path, err)
			}
			if err := f.Close(); err != nil {
				os.Remove(f.Name())
				return fmt.Errorf("--out %s: %w", path, err)
			}
			if err := os.Rename(f.Name(), path); err != nil {
				os.Remove(f.Name())
				return fmt.Errorf("--out %s: %w", path, err)
			}
			return nil
		}
	}
	bar := newProgressBar(c.stderr)
	q.TempDir = spool
	sum, err := api.Export(ctx, q, out, bar.show)
	bar.done()
	if err != nil {
		abort()
		return err
	}
	if err := commit(); err != nil {
		return err
	}
	fmt.Fprintf(report, "exported %d events from %d rooms, %s in %s\n",
		sum.Events, sum.Rooms, byteSize(sum.Bytes), sum.Duration.Round(time.Millisecond))
	return nil
}

// progressBar draws an export's progress on a terminal, at most five times
// a second; on anything else it draws nothing.
type progressBar struct {
	w    io.Writer // nil: not a terminal
	last time.Time
	drew bool
}

func newProgressBar(stderr io.Writer) *progressBar {
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &progressBar{w: f}
	}
	return &progressBar{}
}

func (p *progressBar) show(done, total int64) {
	if p.w == nil || (time.Since(p.last) < 200*time.Millisecond && done < total) {
		return
	}
	p.last = time.Now()
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	filled := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %d/%d events", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		frac*100, done, total)
	p.drew = true
}

func (p *progressBar) done() {
	if p.drew {
		fmt.Fprintln(p.w)
	}
}

// byteSize writes n bytes for people: 512 B, 3.4 MiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

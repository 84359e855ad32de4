package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/parleychat/parley/cmd/internal/config"
	"github.com/parleychat/parley/cmd/internal/version"
	"github.com/parleychat/parley/storage/backend"
)

// A backup file is a gzip-compressed tar archive: backup.json (the
// manifest) first, then one snapshot per database, named by what it holds
// and its kind: content.sqlite (an SQLite database file) or content.mysql
// (JSON lines: each table's CREATE TABLE, then its rows), and the same for
// compliance when it was asked for.
const manifestName = "backup.json"

// manifest says what a backup holds.
type manifest struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
	Version string    `json:"parley_version"`
	// Databases maps "content" and "compliance" to their kind.
	Databases map[string]string `json:"databases"`
}

func backupFlags(fs *flag.FlagSet) {
	fs.String("out", "", "write the backup to `FILE` (must not exist; written whole or not at all)")
	fs.Bool("compliance", false, "include the compliance database (--compliance-storage)")
}

func restoreFlags(fs *flag.FlagSet) {
	fs.String("in", "", "read the backup from `FILE`")
}

// backup writes a consistent online snapshot of the content database (and
// with --compliance of the compliance database) into one file, while
// parleyd serves.
func backup(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	out := fs.Lookup("out").Value.String()
	if out == "" {
		return usageError{"--out FILE is required"}
	}
	withCompliance := fs.Lookup("compliance").Value.String() == "true"
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s exists; give a new file", out)
	}
	dbs := []struct{ name, dsn string }{{"content", c.cfg.Storage}}
	if withCompliance {
		dbs = append(dbs, struct{ name, dsn string }{"compliance", c.cfg.ComplianceStorage})
	}
	// Snapshots are made next to the output, then packed; the archive is
	// renamed into place only once complete.
	work, err := os.MkdirTemp(filepath.Dir(out), ".parley-backup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	m := manifest{Format: 1, Created: time.Now().UTC(), Version: version.Number(), Databases: map[string]string{}}
	files := map[string]string{}
	for _, db := range dbs {
		file := filepath.Join(work, db.name)
		kind, err := backend.Snapshot(ctx, db.dsn, file)
		if err != nil {
			return fmt.Errorf("%s database %s: %w", db.name, config.RedactDSN(db.dsn), err)
		}
		m.Databases[db.name] = kind
		files[db.name] = file
	}
	tmp := filepath.Join(work, "backup.tar.gz")
	if err := writeArchive(tmp, m, dbs, files); err != nil {
		return err
	}
	if err := os.Link(tmp, out); err != nil { // fails if out appeared meanwhile
		return err
	}
	st, _ := os.Stat(out)
	fmt.Fprintf(c.stdout, "backup of %s written to %s (%d bytes, %s)\n", describeDBs(m), out, st.Size(), m.Created.Format(time.RFC3339))
	return nil
}

func describeDBs(m manifest) string {
	s := "content (" + m.Databases["content"] + ")"
	if k, ok := m.Databases["compliance"]; ok {
		s += " and compliance (" + k + ")"
	}
	return s
}

func writeArchive(path string, m manifest, dbs []struct{ name, dsn string }, files map[string]string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600) // it holds credentials
	if err != nil {
		return err
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	head, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(head)), ModTime: m.Created}); err != nil {
		return err
	}
	if _, err := tw.Write(head); err != nil {
		return err
	}
	for _, db := range dbs {
		if err := addFile(tw, db.name+"."+m.Databases[db.name], files[db.name], m.Created); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

func addFile(tw *tar.Writer, name, path string, mod time.Time) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: st.Size(), ModTime: mod}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// restore loads a backup into the configured content database (and the
// compliance database, if the backup has it), which must be empty: a new
// data directory or database. Start parleyd afterwards: it migrates the
// schema if the backup came from an older version.
func restore(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	in := fs.Lookup("in").Value.String()
	if in == "" {
		return usageError{"--in FILE is required"}
	}
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s is not a Parley backup: %w", in, err)
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil || h.Name != manifestName {
		return fmt.Errorf("%s is not a Parley backup (no %s first)", in, manifestName)
	}
	var m manifest
	if err := json.NewDecoder(tr).Decode(&m); err != nil || m.Format != 1 {
		return fmt.Errorf("%s: unreadable manifest (format %d): %v", in, m.Format, err)
	}
	targets := map[string]string{"content": c.cfg.Storage, "compliance": c.cfg.ComplianceStorage}
	restored := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
		for name, kind := range m.Databases {
			if h.Name != name+"."+kind {
				continue
			}
			if err := backend.Load(ctx, targets[name], kind, tr); err != nil {
				return fmt.Errorf("restoring the %s database into %s: %w", name, config.RedactDSN(targets[name]), err)
			}
			fmt.Fprintf(c.stdout, "restored the %s database (%s) into %s\n", name, kind, config.RedactDSN(targets[name]))
			restored++
		}
	}
	if restored != len(m.Databases) {
		return fmt.Errorf("%s: %d of the %d databases its manifest lists are in it", in, restored, len(m.Databases))
	}
	fmt.Fprintf(c.stdout, "backup of %s made %s by parley %s restored; start parleyd\n", describeDBs(m), m.Created.Format(time.RFC3339), m.Version)
	return nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/parleychat/parley/cmd/parleyctl/internal/importer"
	"github.com/parleychat/parley/muc"
)

// importFlags defines the flags of import prosody|ejabberd|openfire.
func importFlags(fs *flag.FlagSet) {
	fs.String("from", "", "the other server's data: a `PATH` (Prosody's data directory) or a DSN, sqlite:FILE or mysql:USER:PASSWORD@tcp(HOST:PORT)/DB")
	fs.String("host", "", "the other server's `DOMAIN` (its users' JIDs become USER@--domain; default: found in the data where it can be)")
	fs.String("muc-host", "", "the other server's MUC service `DOMAIN` (its rooms become ROOM@conference.--domain; default: found in the data, else conference.--host)")
	fs.String("category", muc.DefaultCategory, "put the imported rooms in category `C` (created with the default category's policy if missing)")
	fs.Int("batch", 1000, "import `N` messages per transaction")
}

// importCommand runs an import from one kind of server.
func importCommand(kind string) func(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	return func(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
		from := fs.Lookup("from").Value.String()
		if from == "" {
			return usageError{"--from is required"}
		}
		src, err := importer.Open(kind, from)
		if err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		defer src.Close()
		e, err := c.engine(ctx)
		if err != nil {
			return err
		}
		batch := fs.Lookup("batch").Value.(flag.Getter).Get().(int)
		o := importer.Options{
			Store: c.store, Engine: e, Domain: c.cfg.Domain, MUCDomain: "conference." + c.cfg.Domain,
			Host: fs.Lookup("host").Value.String(), MUCHost: fs.Lookup("muc-host").Value.String(),
			Category: fs.Lookup("category").Value.String(), Batch: batch, Log: c.stdout,
		}
		if isTerminal(c.stderr) {
			o.Progress = c.stderr
		}
		fmt.Fprintf(c.stdout, "importing from %s\n", src.Describe())
		sum, err := importer.Run(ctx, src, o)
		fmt.Fprintln(c.stdout, sum)
		if errors.Is(err, context.Canceled) {
			return errors.New("interrupted: what was imported is kept; run the same command again to go on")
		}
		return err
	}
}

// isTerminal reports whether w is a character device (a terminal), where
// a progress line that redraws itself makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

package importer

import (
	"fmt"

	_ "modernc.org/sqlite" // the "sqlite" driver, for sources on SQLite
)

// Open opens another server's data: kind is prosody, ejabberd or
// openfire; from a directory (Prosody's internal store) or a DSN,
// sqlite:FILE or mysql:DSN.
func Open(kind, from string) (Source, error) {
	switch kind {
	case "prosody":
		return OpenProsody(from)
	case "ejabberd":
		return OpenEjabberd(from)
	case "openfire":
		return OpenOpenfire(from)
	}
	return nil, fmt.Errorf("cannot import from %q", kind)
}

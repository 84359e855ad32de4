// Package version says which build of Parley a binary is: the release
// number given at build time, the version control revision the Go
// toolchain recorded, and the Go version.
package version

import (
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

// release is the release number, set when a release is built:
//
//	go build -ldflags "-X github.com/parleychat/parley/cmd/internal/version.release=1.0.0" ./cmd/...
//
// (make build VERSION=1.0.0 does that). The linker writes it; nothing
// else does.
var release string

// revision is the git revision, "0123456789ab" or "0123456789ab+modified",
// which make build sets the same way: the go command records it by itself
// (vcs.revision in the build information) in a clone, but not in a git
// worktree, nor with -buildvcs=false.
var revision string

// dev is the number of a build that names none: a work tree.
const dev = "0.1.0-dev"

// pseudo matches the pseudo-versions the go command gives an untagged
// commit (v0.0.0-20261202134500-0123456789ab): not a release number.
var pseudo = regexp.MustCompile(`\d{14}-[0-9a-f]{12}`)

// Number returns the version number: the release set at build time, else
// the module's tagged version (go install …@v1.0.0), else 0.1.0-dev.
func Number() string {
	if release != "" {
		return release
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		if v != "" && v != "(devel)" && !pseudo.MatchString(v) {
			return strings.TrimPrefix(v, "v")
		}
	}
	return dev
}

// String is what --version prints for the command name: the number, then
// the revision it was built from (with "+modified" when the work tree had
// changes) and its commit time, and the Go version, e.g.
//
//	parleyd 1.0.0 (revision 0123456789ab, 2026-12-02T13:45:00Z, go1.26.8)
func String(name string) string {
	settings := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
	}
	var details []string
	if rev := settings["vcs.revision"]; rev != "" {
		rev = rev[:min(12, len(rev))]
		if settings["vcs.modified"] == "true" {
			rev += "+modified"
		}
		details = append(details, "revision "+rev)
		if t := settings["vcs.time"]; t != "" {
			details = append(details, t)
		}
	} else if revision != "" {
		details = append(details, "revision "+revision)
	}
	details = append(details, runtime.Version())
	return name + " " + Number() + " (" + strings.Join(details, ", ") + ")"
}

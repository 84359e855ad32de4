package config

import (
	"flag"
	"fmt"
	"strings"
)

// Markdown returns the reference table of every key, as README.md shows it
// between the config-keys markers. TestReadmeKeys keeps the two in sync.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| Flag / file key | Default | Meaning |\n")
	b.WriteString("|---|---|---|\n")
	b.WriteString("| `--config FILE` | none | read settings from FILE: TOML if it ends in `.toml`, YAML if `.yaml` or `.yml` (not a file key) |\n")
	b.WriteString("| `--version` | | print the version (release, revision built from, Go version) and exit (not a file key) |\n")
	for _, k := range keys {
		arg, usage := argName(k.usage)
		def := "`" + k.def + "`"
		if k.def == "" {
			// A derived default is described in the usage text as
			// "(default ...)"; show it in the default column instead.
			def = "none"
			if i := strings.Index(usage, " (default "); i >= 0 && strings.HasSuffix(usage, ")") {
				def = usage[i+len(" (default ") : len(usage)-1]
				usage = usage[:i]
			}
		}
		if k.set.live {
			usage += " (changes on SIGHUP)"
		}
		flagText := "--" + k.name + " " + arg
		if k.set.boolean {
			flagText = "--" + k.name
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", flagText, def, strings.ReplaceAll(usage, "|", `\|`))
	}
	return b.String()
}

// argName splits a usage text the way flag.UnquoteUsage does: the word in
// back quotes names the flag's argument.
func argName(usage string) (arg, text string) {
	start := strings.IndexByte(usage, '`')
	if start < 0 {
		return "VALUE", usage
	}
	end := strings.IndexByte(usage[start+1:], '`')
	if end < 0 {
		return "VALUE", usage
	}
	end += start + 1
	return usage[start+1 : end], usage[:start] + usage[start+1:end] + usage[end+1:]
}

// PrintFlags writes the usage of every flag of fs to its output, like
// fs.PrintDefaults but in the --name ARG form the documentation uses.
func PrintFlags(fs *flag.FlagSet) {
	w := fs.Output()
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if arg != "" {
			fmt.Fprintf(w, " %s", arg)
		}
		fmt.Fprintf(w, "\n    \t%s", usage)
		// Like package flag, say nothing of an empty default or of a
		// boolean that is off by default.
		b, isBool := f.Value.(interface{ IsBoolFlag() bool })
		offBool := isBool && b.IsBoolFlag() && f.DefValue == "false"
		if f.DefValue != "" && !offBool {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

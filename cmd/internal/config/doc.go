package config

import (
	"flag"
	"fmt"
	"strconv"
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

// TOML returns a config file that documents every key: its meaning, its
// default and whether a reload (SIGHUP) applies it, each key commented
// out with its default value, except the keys in set, which are given the
// value there (as the text a flag would carry). header opens the file, as
// comment lines. Packages ship it (dist/debian/parley.toml, checked by
// TestPackageConfig), so the file cannot drift from the key table.
func TOML(header string, set map[string]string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
	}
	for _, k := range keys {
		_, usage := argName(k.usage)
		b.WriteString("\n")
		if k.set.live {
			usage += " (changes on SIGHUP)"
		}
		for _, line := range wrap(usage, 76) {
			b.WriteString("# " + line + "\n")
		}
		if v, ok := set[k.name]; ok {
			fmt.Fprintf(&b, "# default: %s\n%s = %s\n", tomlValue(k, k.def), k.name, tomlValue(k, v))
			continue
		}
		fmt.Fprintf(&b, "#%s = %s\n", k.name, tomlValue(k, k.def))
	}
	return b.String()
}

// tomlValue writes v as the TOML value the file loader turns back into v:
// a boolean or an integer bare, anything else a string.
func tomlValue(k key, v string) string {
	if k.set.boolean && (v == "true" || v == "false") {
		return v
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return v
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// wrap breaks text into lines of at most width bytes, at spaces (a longer
// word stays whole).
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) > width:
			lines = append(lines, line)
			line = w
		default:
			line += " " + w
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// Live reports whether a reload (SIGHUP) applies key without a restart.
func Live(name string) bool {
	k := lookup(name)
	return k != nil && k.set.live
}

// Package manpage writes Unix manual pages (man(7) roff) from a command's
// flag definitions, so the pages the Debian package installs say what the
// binaries accept and cannot drift from them: each command's test compares
// its page with the file in dist/debian and regenerates it with -update.
package manpage

import (
	"flag"
	"fmt"
	"strings"
)

// Page is one manual page.
type Page struct {
	Name    string // command name, e.g. parleyd
	Section string // manual section, e.g. 8
	Summary string // the NAME line after the dash
	// Synopsis lines, each a command line (shown in bold words as given).
	Synopsis []string
	// Description paragraphs.
	Description []string
	// Before come after DESCRIPTION and before OPTIONS (e.g. COMMANDS).
	Before []Section
	// Options lists the flags of fs under OPTIONS, in its order (sorted
	// by name, as package flag visits them).
	Options *flag.FlagSet
	// Note is added to a flag's text, e.g. "(changes on SIGHUP)".
	Note func(name string) string
	// After come after OPTIONS (SIGNALS, FILES, EXIT STATUS, SEE ALSO).
	After []Section
}

// Section is a titled part of a page: paragraphs, then tagged items.
type Section struct {
	Title      string
	Paragraphs []string
	Items      []Item
}

// Item is a tagged paragraph (.TP): a term and its text, and optional
// flags of its own (a subcommand's).
type Item struct {
	Tag, Text string
	Flags     *flag.FlagSet
}

// Roff returns the page as man(7) source.
func (p Page) Roff() string {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH %s %s \"\" \"Parley\" \"Parley Manual\"\n", strings.ToUpper(p.Name), p.Section)
	b.WriteString(".SH NAME\n")
	fmt.Fprintf(&b, "%s \\- %s\n", p.Name, escape(p.Summary))
	b.WriteString(".SH SYNOPSIS\n")
	for i, s := range p.Synopsis {
		if i > 0 {
			b.WriteString(".br\n")
		}
		fmt.Fprintf(&b, ".B %s\n", escape(s))
	}
	writeSection(&b, Section{Title: "DESCRIPTION", Paragraphs: p.Description}, p.Note)
	for _, s := range p.Before {
		writeSection(&b, s, p.Note)
	}
	if p.Options != nil {
		b.WriteString(".SH OPTIONS\n")
		writeFlags(&b, p.Options, p.Note)
	}
	for _, s := range p.After {
		writeSection(&b, s, p.Note)
	}
	return b.String()
}

func writeSection(b *strings.Builder, s Section, note func(string) string) {
	fmt.Fprintf(b, ".SH %s\n", escape(s.Title))
	for i, para := range s.Paragraphs {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		writeText(b, para)
	}
	for _, it := range s.Items {
		fmt.Fprintf(b, ".TP\n.B %s\n", escape(it.Tag))
		writeText(b, it.Text)
		if it.Flags != nil {
			b.WriteString(".RS\n")
			writeFlags(b, it.Flags, nil)
			b.WriteString(".RE\n")
		}
	}
}

// writeFlags writes one tagged paragraph per flag: --name ARG, then the
// usage text and the default, as the command's --help says them.
func writeFlags(b *strings.Builder, fs *flag.FlagSet, note func(string) string) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		b.WriteString(".TP\n")
		if arg != "" {
			fmt.Fprintf(b, ".BI %s \" %s\"\n", escape("--"+f.Name), escape(arg))
		} else {
			fmt.Fprintf(b, ".B %s\n", escape("--"+f.Name))
		}
		if note != nil {
			if n := note(f.Name); n != "" {
				usage += " " + n
			}
		}
		bf, isBool := f.Value.(interface{ IsBoolFlag() bool })
		offBool := isBool && bf.IsBoolFlag() && f.DefValue == "false"
		if f.DefValue != "" && !offBool {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		writeText(b, usage)
	})
}

// writeText writes a paragraph; lines of its own (after a newline) that
// start with two spaces are kept as an example block.
func writeText(b *strings.Builder, text string) {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "  ") {
			fmt.Fprintf(b, ".nf\n.RS\n%s\n.RE\n.fi\n", escape(strings.TrimSpace(line)))
			continue
		}
		if line = strings.TrimSpace(line); line != "" {
			b.WriteString(escape(line) + "\n")
		}
	}
}

// escape makes text safe as roff input: backslashes and minus signs
// (which roff would print as hyphens) are escaped, and a line cannot
// start a request.
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

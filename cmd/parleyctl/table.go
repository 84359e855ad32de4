package main

import (
	"encoding/json"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// writeTable writes rows as columns aligned with spaces: the list commands'
// tables (with a header row) and the show commands' name/value pairs. An
// empty cell is shown as "-", so every row has every column and none ends
// in spaces.
func writeTable(w io.Writer, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range rows {
		for i, cell := range row {
			if i > 0 {
				io.WriteString(tw, "\t")
			}
			io.WriteString(tw, tableCell(cell))
		}
		io.WriteString(tw, "\n")
	}
	return tw.Flush()
}

// tableCell keeps a value on its line and in its column: control
// characters (a newline in a description) become spaces.
func tableCell(s string) string {
	s = strings.Join(strings.FieldsFunc(s, unicode.IsControl), " ")
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// timestamp shows a stored time in UTC, RFC 3339.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// writeJSON writes v as indented JSON: the list commands' --json.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

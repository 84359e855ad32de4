// Package fulltext is the part of full-text search (XEP-0431) that both SQL
// back ends share, so that SQLite's FTS5 and MySQL's InnoDB FULLTEXT find the
// same messages for the same search.
//
// Both indexes split text into words at anything that is not a letter or a
// digit and ignore case and diacritics, but neither indexes emoji: InnoDB's
// parser treats every character outside the Basic Multilingual Plane as a
// separator and FTS5's unicode61 tokenizer every symbol. So the store
// writes, next to each body, its symbols as words ("🦊" becomes "sym1f98a",
// see Symbols) into a second indexed column, and a search for "🦊" looks for
// that word (see Parse).
package fulltext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTerms bounds the words of one search; further words are ignored.
const MaxTerms = 32

// symbolPrefix starts the word that stands for a symbol. The prefix keeps
// it at least as long as InnoDB's default minimum token size.
const symbolPrefix = "sym"

// isSymbol reports whether r is indexed as a symbol word: emoji, dingbats,
// pictographs and the like (Unicode category So). Emoji modifiers (skin
// tones, Sk), variation selectors and joiners are not symbols in their own
// right and are skipped, so "👍🏽" is found by "👍".
func isSymbol(r rune) bool { return r != utf8.RuneError && unicode.Is(unicode.So, r) }

// isWord reports whether r belongs to a word: letters, digits, combining
// marks and the underscore, which InnoDB keeps inside words (FTS5 splits
// at it, but a quoted phrase in an FTS5 query then matches the parts in a
// row).
func isWord(r rune) bool {
	return isLetterOrNumber(r) || unicode.IsMark(r) || r == '_'
}

func isLetterOrNumber(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }

func symbolWord(r rune) string { return fmt.Sprintf("%s%x", symbolPrefix, r) }

// Symbols returns the symbol words of body, each once, in the order they
// first appear, separated by spaces: "sym1f98a sym1f43b" for "🦊 and 🐻".
// It returns "" for a body without symbols, which is most of them.
func Symbols(body string) string {
	var (
		b    strings.Builder
		seen map[rune]bool
	)
	for _, r := range body {
		if r < 0x80 || !isSymbol(r) || seen[r] {
			continue
		}
		if seen == nil {
			seen = map[rune]bool{}
		}
		seen[r] = true
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(symbolWord(r))
	}
	return b.String()
}

// Term is one thing a search looks for.
type Term struct {
	// Word is a word the body must contain, as a word or the start of
	// one, or for a symbol the symbol word that Symbols writes.
	Word string
	// Symbol is set for a symbol term; Raw is then the symbol itself.
	Symbol bool
	Raw    string
}

// Parse splits a search into terms, each once and at most MaxTerms of
// them: runs of word characters, and symbols one by one. It returns none
// for a search with nothing searchable in it.
func Parse(search string) []Term {
	var (
		terms []Term
		seen  = map[string]bool{}
	)
	add := func(t Term) {
		if !t.Symbol && strings.IndexFunc(t.Word, isLetterOrNumber) < 0 {
			return // only marks or underscores: nothing an index keeps
		}
		if len(terms) < MaxTerms && !seen[t.Word] {
			seen[t.Word] = true
			terms = append(terms, t)
		}
	}
	start := -1
	for i, r := range search {
		if isWord(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			add(Term{Word: search[start:i]})
			start = -1
		}
		if isSymbol(r) {
			add(Term{Word: symbolWord(r), Symbol: true, Raw: string(r)})
		}
	}
	if start >= 0 {
		add(Term{Word: search[start:]})
	}
	return terms
}

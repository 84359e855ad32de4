package fulltext

import (
	"reflect"
	"testing"
)

func TestSymbols(t *testing.T) {
	for body, want := range map[string]string{
		"":                        "",
		"plain text, no symbols!": "",
		"fox 🦊 and bear 🐻 and 🦊":  "sym1f98a sym1f43b",
		"thumbs 👍🏽":               "sym1f44d",
		"© 2024 ™":                "syma9 sym2122",
	} {
		if got := Symbols(body); got != want {
			t.Errorf("Symbols(%q) = %q, want %q", body, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	for search, want := range map[string][]Term{
		"":                      nil,
		"  ?! -- ":              nil,
		"_ __":                  nil,
		"Hello, world":          {{Word: "Hello"}, {Word: "world"}},
		"don't e-mail":          {{Word: "don"}, {Word: "t"}, {Word: "e"}, {Word: "mail"}},
		"snake_case snake_case": {{Word: "snake_case"}},
		"Привет🦊мир":            {{Word: "Привет"}, {Word: "sym1f98a", Symbol: true, Raw: "🦊"}, {Word: "мир"}},
		"zoe\u0308 café 2024":   {{Word: "zoe\u0308"}, {Word: "café"}, {Word: "2024"}},
		"\xff bad":              {{Word: "bad"}},
	} {
		if got := Parse(search); !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %+v, want %+v", search, got, want)
		}
	}
	many := ""
	for i := range MaxTerms + 5 {
		many += string(rune('a'+i%26)) + string(rune('a'+i/26)) + " "
	}
	if n := len(Parse(many)); n != MaxTerms {
		t.Errorf("Parse of %d words gave %d terms, want %d", MaxTerms+5, n, MaxTerms)
	}
}

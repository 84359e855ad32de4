package luadata

import (
	"fmt"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Files written by Debian's Prosody 0.12 (interop/import_test.go makes
// the same): a room's configuration, a roster with a [false] key, and a
// MUC archive.
func TestProsodyFiles(t *testing.T) {
	room := readFile(t, "testdata/town.dat").(*Table)
	if got := room.String("_jid"); got != "town@rooms.old.test" {
		t.Errorf("_jid %q", got)
	}
	if room.String("carol@old.test") != "admin" || !room.Table("_data").Bool("moderated") || room.Table("_data").String("name") != "Town hall" {
		t.Errorf("room read as %+v / %+v", room.Fields, room.Table("_data").Fields)
	}
	roster := readFile(t, "testdata/roster.dat").(*Table)
	if len(roster.Other) != 1 || roster.Other[0].Key != false {
		t.Errorf("roster's [false] key read as %+v", roster.Other)
	}
	if !roster.Table("bob@old.test").Table("groups").Bool("Friends") {
		t.Errorf("roster item read as %+v", roster.Table("bob@old.test"))
	}
	src, err := os.ReadFile("testdata/design.list")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	err = ReadCalls(src, "item", func(v Value) error {
		it := v.(*Table)
		when, ok := it.Number("when")
		body := it.Array[0].(*Table).Array[0]
		if it.String("key") == "" || !ok || when < 1e9 || it.String("name") != "message" || body != fmt.Sprintf("design message %d from %s", n, map[bool]string{true: "Alice", false: "Bob"}[n%2 == 0]) && n != 3 && n != 5 {
			t.Errorf("item %d read as %+v (body %q)", n, it.Fields, body)
		}
		n++
		return nil
	})
	if err != nil || n != 12 {
		t.Errorf("ReadCalls: %d items, %v", n, err)
	}
}

func readFile(t *testing.T, name string) Value {
	t.Helper()
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ReadReturn(src)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func TestLiterals(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want Value
	}{
		{`return "a\"b\\c\n\65\066\x41\u{1F98A}\z
		   d"`, "a\"b\\c\nABA🦊d"},
		{"return 'it''s'", nil}, // two strings: a syntax error
		{"return [[\nlong ]] string]]", nil},
		{"return [==[\nlong ]] string]==]", "long ]] string"},
		{"return -12.5e2;", -1250.0},
		{"return 0x10", 16.0},
		{"return (1/0)", math.Inf(1)},
		{"return true -- a comment\n", true},
		{"--[[ long\ncomment ]] return nil", nil},
		{`return "\300"`, nil},
		{`return os.exit()`, nil},
		{`return {f()}`, nil},
	} {
		got, err := ReadReturn([]byte(tc.src))
		if tc.want == nil {
			if err == nil && got != nil {
				t.Errorf("%q read as %#v, want an error", tc.src, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q read as %#v, %v; want %#v", tc.src, got, err, tc.want)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	src := "return " + strings.Repeat("{", MaxDepth+1) + strings.Repeat("}", MaxDepth+1)
	if _, err := ReadReturn([]byte(src)); err == nil {
		t.Error("a table nested too deep was read")
	}
	src = "return " + strings.Repeat("{", MaxDepth) + strings.Repeat("}", MaxDepth)
	if _, err := ReadReturn([]byte(src)); err != nil {
		t.Errorf("a table nested %d deep: %v", MaxDepth, err)
	}
}

// FuzzRead: no input makes the reader panic or loop, and what it reads
// it reads again, equal, from its serialization.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"testdata/town.dat", "testdata/roster.dat"} {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Add([]byte(`return {"a", [1.5]=true, x={y='\u{41}'}, [ [[k]] ] = -0x1F}`))
	f.Fuzz(func(t *testing.T, src []byte) {
		v, err := ReadReturn(src)
		_ = ReadCalls(src, "item", func(Value) error { return nil })
		if err != nil {
			return
		}
		again, err := ReadReturn([]byte("return " + write(v)))
		if err != nil {
			t.Fatalf("re-reading %s: %v", write(v), err)
		}
		if write(again) != write(v) {
			t.Fatalf("read %s, then %s", write(v), write(again))
		}
	})
}

// write serializes a Value as Lua, keys sorted (for comparisons).
func write(v Value) string {
	switch v := v.(type) {
	case nil:
		return "nil"
	case bool:
		return strconv.FormatBool(v)
	case float64:
		switch {
		case math.IsNaN(v):
			return "(0/0)"
		case math.IsInf(v, 1):
			return "(1/0)"
		case math.IsInf(v, -1):
			return "(-1/0)"
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		var b strings.Builder
		b.WriteByte('"')
		for i := 0; i < len(v); i++ {
			fmt.Fprintf(&b, "\\%03d", v[i])
		}
		b.WriteByte('"')
		return b.String()
	case *Table:
		var parts []string
		for _, a := range v.Array {
			parts = append(parts, write(a))
		}
		var keyed []string
		for k, x := range v.Fields {
			keyed = append(keyed, "["+write(k)+"]="+write(x))
		}
		for _, p := range v.Other {
			keyed = append(keyed, "["+write(p.Key)+"]="+write(p.Value))
		}
		sort.Strings(keyed)
		return "{" + strings.Join(append(parts, keyed...), ";") + "}"
	}
	panic(reflect.TypeOf(v))
}

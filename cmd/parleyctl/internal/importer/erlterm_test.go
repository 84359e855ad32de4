package importer

import (
	"reflect"
	"testing"
)

// The room options ejabberd 23.01 wrote for a room (interop's import test
// makes the same), trimmed.
const ejabberdOpts = `[{title,<<"Town hall">>},{description,<<>>},{public,true},{moderated,true},{members_only,false},` +
	`{password,<<>>},{anonymous,true},{max_users,200},{lang,<<"en">>},{captcha_whitelist,[]},` +
	`{affiliations,[{{<<"alice">>,<<"old.test">>,<<>>},{owner,<<>>}},{{<<"bob">>,<<"old.test">>,<<>>},member}]},` +
	`{subject,[{text,<<>>,<<"caf",195,169,"">>}]},{subject_author,<<"Alice">>},{vcard_xupdate,undefined},{x,-1.5e3},{y,"a\"b"}]`

func TestErlTerm(t *testing.T) {
	v, err := parseErlTerm(ejabberdOpts)
	if err != nil {
		t.Fatal(err)
	}
	o := erlProplist(v)
	if erlText(o["title"]) != "Town hall" || o["moderated"] != erlAtom("true") || o["max_users"] != int64(200) || o["x"] != -1500.0 || o["y"] != `a"b` {
		t.Errorf("read as %#v", o)
	}
	want := erlTuple{erlTuple{erlBinary("bob"), erlBinary("old.test"), erlBinary("")}, erlAtom("member")}
	if affs := o["affiliations"].([]any); len(affs) != 2 || !reflect.DeepEqual(affs[1], want) {
		t.Errorf("affiliations %#v", o["affiliations"])
	}
	if s := o["subject"].([]any)[0].(erlTuple)[2]; s != erlBinary("café") {
		t.Errorf("subject %#v", s)
	}
	for _, bad := range []string{"[{a,", "{<<300>>}", "[foo()]", "\"unfinished", "[1|2|3]"} {
		if _, err := parseErlTerm(bad); err == nil {
			t.Errorf("%q was read", bad)
		}
	}
}

// FuzzErlTerm: no input makes the reader panic or loop.
func FuzzErlTerm(f *testing.F) {
	f.Add(ejabberdOpts)
	f.Add(`{<<1,2,"x"/utf8>>, 'quoted atom', "\x{263A}\101", [a|b]}.`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseErlTerm(s)
	})
}

// FuzzParseXML: no archived stanza makes the reader panic, and what it
// reads is written as XML it reads again the same.
func FuzzParseXML(f *testing.F) {
	f.Add(`<message xml:lang='en' to='r@m' from='a@b/c' type='groupchat' id='x' xmlns='jabber:client'><body>a &amp; b</body><x xmlns='jabber:x:oob'><url>u</url></x></message>`)
	f.Fuzz(func(t *testing.T, s string) {
		el, err := ParseXML(s)
		if err != nil {
			return
		}
		again, err := ParseXML(string(stored(el)))
		if err != nil {
			t.Fatalf("re-reading %s: %v", stored(el), err)
		}
		if string(stored(again)) != string(stored(el)) {
			t.Fatalf("%s became %s", stored(el), stored(again))
		}
	})
}

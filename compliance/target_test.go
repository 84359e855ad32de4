package compliance

import (
	"testing"

	"github.com/parleychat/parley/storage"
)

func TestEventTarget(t *testing.T) {
	for _, tc := range []struct{ typ, payload, want string }{
		{"kick", `{"nick":"Bob","user":"bob@localhost","role":"none"}`, "bob@localhost"},
		{"role", `{"nick":"Bob","user":"bob@localhost","role":"visitor"}`, "bob@localhost"},
		{"ban", `{"jid":"mallory@localhost","affiliation":"outcast"}`, "mallory@localhost"},
		{"affiliation", `{"jid":"carol@localhost","affiliation":"member"}`, "carol@localhost"},
		{"presenter", `{"jid":"dave@localhost","presenter":true}`, "dave@localhost"},
		{"invitation", `{"to":"erin@localhost","nick":"Alice"}`, "erin@localhost"},
		{"private", `{"from_nick":"Alice","to_nick":"Bob","to":"bob@localhost","body":"psst"}`, "bob@localhost"},
		{"file.download", `{"id":"f1","name":"a.txt","owner":"alice@localhost","remote":"127.0.0.1:5"}`, "alice@localhost"},
		{"hold.add", `{"Kind":"user","Name":"bob@localhost","Reason":"case 7"}`, "bob@localhost"},
		{"hold.remove", `{"kind":"user","name":"bob@localhost"}`, "bob@localhost"},
		{"hold.add", `{"Kind":"room","Name":"trading"}`, ""},
		{"post", `{"body":"hi","to":"x@localhost"}`, ""},
		{"kick", `not json`, ""},
		{"kick", ``, ""},
		{"kick", `{"user":42}`, ""},
	} {
		if got := EventTarget(tc.typ, []byte(tc.payload)); got != tc.want {
			t.Errorf("EventTarget(%s, %s) = %q, want %q", tc.typ, tc.payload, got, tc.want)
		}
	}
}

// TestWorkerCapturesTargets: the worker stores each event's target, so
// that an export by user finds what was done to them.
func TestWorkerCapturesTargets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, content contentStore, openCompliance func() storage.ComplianceStore) {
		store := openCompliance()
		if err := content.AppendOutbox(t.Context(),
			storage.OutboxEvent{EventID: "k", Type: "kick", Room: "lobby", Actor: "alice@localhost",
				Payload: []byte(`{"nick":"Bob","user":"bob@localhost","role":"none"}`)},
			storage.OutboxEvent{EventID: "p", Type: "post", Room: "lobby", Actor: "alice@localhost",
				Payload: []byte(`{"body":"hi"}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := newTestWorker(t, content, store, "node-a", nil).Drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		evs, err := store.QueryComplianceEvents(t.Context(), storage.ComplianceQuery{User: "bob@localhost", Limit: 10})
		if err != nil || len(evs) != 1 || evs[0].EventID != "k" || evs[0].Target != "bob@localhost" {
			t.Fatalf("events concerning bob = %+v, %v; want the kick", evs, err)
		}
	})
}

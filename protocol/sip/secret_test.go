package sip

import (
	"context"
	"strings"
	"testing"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// A secret room does not exist for those outside it (issue 18, Medium: a
// non-member's MESSAGE to a secret room got 403 where a missing room gets
// 404). Every MESSAGE, room command and SUBSCRIBE an outsider sends to a
// secret room is answered as the same request to a missing room is, and
// no answer names the room's category.
func TestSecretRoomLooksMissingOverSIP(t *testing.T) {
	ts, engine := newRoomServer(t)
	ctx := context.Background()
	if err := engine.PutCategory(ctx, muc.ActorAdmin, storage.Category{Name: "legal", ChatHistory: true, Invitations: true,
		DeniedMembers: []string{"walled@" + testDomain}}); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.CreateRoom(ctx, muc.CreateRoomRequest{Room: storage.Room{Name: "merger", Category: "legal"}, Creator: muc.ActorAdmin,
		Privacy: muc.Secret, Members: []string{"bob@" + testDomain}}); err != nil {
		t.Fatal(err)
	}
	if err := engine.SetAffiliation(ctx, "merger", muc.ActorAdmin, "banned@"+testDomain, muc.AffOutcast, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.CreateRoom(ctx, muc.CreateRoomRequest{Room: storage.Room{Name: "press", Category: "legal"}, Creator: muc.ActorAdmin,
		Privacy: muc.Open}); err != nil {
		t.Fatal(err)
	}
	same := func(who, what string, secret, missing int, secretPhrase, missingPhrase string) {
		t.Helper()
		secretPhrase = strings.ReplaceAll(secretPhrase, "merger", "ROOM")
		missingPhrase = strings.ReplaceAll(missingPhrase, "nosuch", "ROOM")
		if secret != missing || secretPhrase != missingPhrase {
			t.Errorf("%s, %s: the secret room answers %d %q where a missing room answers %d %q", who, what, secret, secretPhrase, missing, missingPhrase)
		}
		if strings.Contains(secretPhrase, "legal") {
			t.Errorf("%s, %s: the answer names the category: %q", who, what, secretPhrase)
		}
	}
	for _, who := range []string{"carol", "walled", "banned"} {
		ts.accounts.add(t, who, "pw")
		m, _ := registerOverSIP(t, ts, who, "pw", 600)
		for _, body := range []string{"hello?", "/join", "/join peeker", "/history 5", "/who", "/topic mine", "/nick other", "/invite alice", "/leave"} {
			a, b := m.send("merger", body), m.send("nosuch", body)
			same(who, "MESSAGE "+body, a.StatusCode, b.StatusCode, a.Reason, b.Reason)
		}
		sub := newSubscriber(newClient(t, ts.udp), newUAS(t), who, "pw")
		a := sub.subscribe("merger", "Event: conference", "Accept: application/conference-info+xml", "Expires: 60")
		sub2 := newSubscriber(newClient(t, ts.udp), newUAS(t), who, "pw")
		b := sub2.subscribe("nosuch", "Event: conference", "Accept: application/conference-info+xml", "Expires: 60")
		same(who, "SUBSCRIBE", a.StatusCode, b.StatusCode, a.Reason, b.Reason)
	}
	// A walled user is refused the category's open room without being
	// told the category or its wall.
	m, _ := registerOverSIP(t, ts, "walled", "pw", 600)
	if res := m.send("press", "hello"); res.StatusCode != 403 || strings.Contains(res.Reason, "legal") || strings.Contains(res.Reason, "wall") {
		t.Errorf("walled user posting to an open room: %d %q", res.StatusCode, res.Reason)
	}
}

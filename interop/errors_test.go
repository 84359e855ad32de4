package interop

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// RFC 7247 §8.1 (Table 5): stanza error conditions to SIP codes.
func TestStatusOf(t *testing.T) {
	for c, want := range map[Condition]int{
		BadRequest: 400, Forbidden: 403, ItemNotFound: 404, NotAcceptable: 406,
		RecipientUnavailable: 480, RemoteServerTimeout: 408, ServiceUnavailable: 503,
		InternalServerError: 500, ResourceConstraint: 500, FeatureNotImplemented: 405,
		Conflict: 400, RegistrationRequired: 400, NotAuthorized: 403, Gone: 410,
		"no-such-condition": 500,
	} {
		if got := StatusOf(c); got != want {
			t.Errorf("StatusOf(%s) = %d, want %d", c, got, want)
		}
	}
}

// RFC 7247 §8.2 (Table 6): SIP codes to stanza error conditions; codes
// the table does not name take their class's meaning.
func TestConditionOf(t *testing.T) {
	for code, want := range map[int]Condition{
		200: "", 202: "", 302: Redirect, 400: BadRequest, 403: Forbidden, 404: ItemNotFound,
		408: RemoteServerTimeout, 415: NotAcceptable, 480: RecipientUnavailable,
		486: RecipientUnavailable, 488: NotAcceptable, 500: InternalServerError,
		503: ServiceUnavailable, 603: ServiceUnavailable, 604: ItemNotFound,
		499: BadRequest, 599: InternalServerError, 699: ServiceUnavailable,
	} {
		if got := ConditionOf(code); got != want {
			t.Errorf("ConditionOf(%d) = %q, want %q", code, got, want)
		}
	}
}

// Every condition has a type (RFC 6120 §8.3.3) and survives the trip to
// SIP and back as itself or as the condition its code stands for.
func TestConditionRoundTrip(t *testing.T) {
	for c := range conditions {
		if typ := c.Type(); typ == "" {
			t.Errorf("%s has no type", c)
		}
		back := ConditionOf(StatusOf(c))
		if back == "" {
			t.Errorf("%s -> %d -> no condition", c, StatusOf(c))
		}
		if StatusOf(back) != StatusOf(c) {
			t.Errorf("%s -> %d -> %s -> %d: not stable", c, StatusOf(c), back, StatusOf(back))
		}
	}
}

// TestEveryMucCode walks every refusal code of the room engine through
// both mappings: the stanza error an XMPP client gets (condition and RFC
// 6120 §8.3.3 type, XEP-0045's type where it names another) and the SIP
// status (RFC 7247 Table 5 for the condition, see the table's comment for
// where and why it differs), each with the engine's reason. A new muc
// code without a row here fails.
func TestEveryMucCode(t *testing.T) {
	want := map[muc.Code]Refusal{
		muc.CodeNotFound:             {ItemNotFound, "cancel", 404, "", 0},
		muc.CodeForbidden:            {Forbidden, "auth", 403, "", 0},
		muc.CodeRegistrationRequired: {RegistrationRequired, "auth", 400, "", 0},
		muc.CodeNotAuthorized:        {NotAuthorized, "auth", 403, "", 0},
		muc.CodeConflict:             {Conflict, "cancel", 400, "", 0},
		muc.CodeNotAllowed:           {NotAllowed, "cancel", 403, "", 0},
		muc.CodeNotAcceptable:        {NotAcceptable, "modify", 406, "", 0},
		muc.CodeServiceUnavailable:   {ServiceUnavailable, "wait", 503, "", 0},
		muc.CodeBadRequest:           {BadRequest, "modify", 400, "", 0},
		muc.CodePolicyViolation:      {PolicyViolation, "modify", 403, "", 0},
		muc.CodeResourceConstraint:   {ResourceConstraint, "wait", 500, "", 0},
	}
	codes := muc.Codes()
	if len(codes) != len(want) {
		t.Errorf("muc has %d codes, this test knows %d: add the new ones here and to mucConditions", len(codes), len(want))
	}
	for _, code := range codes {
		w, ok := want[code]
		if !ok {
			t.Errorf("%v: no expected refusal in this test", code)
			continue
		}
		w.Text = "because " + code.String()
		got := RefusalOf(fmt.Errorf("wrapped: %w", &muc.Error{Code: code, Reason: w.Text}))
		if got != w {
			t.Errorf("%v: %+v, want %+v", code, got, w)
		}
		if _, ok := conditions[got.Condition]; !ok {
			t.Errorf("%v: %s is not a defined condition", code, got.Condition)
		}
		// One status per condition: a room refusal reads on SIP as the
		// same condition relayed from XMPP does.
		if got.Status != StatusOf(got.Condition) {
			t.Errorf("%v: status %d, but %s is %d", code, got.Status, got.Condition, StatusOf(got.Condition))
		}
		if got.Type != got.Condition.Type() && mucConditions[code].typ == "" {
			t.Errorf("%v: type %s differs from %s's without a reason in mucConditions", code, got.Type, got.Condition)
		}
		if p := got.Phrase(); !strings.HasPrefix(p, reasonPhrases[got.Status]+": ") || !strings.HasSuffix(p, w.Text) {
			t.Errorf("%v: reason phrase %q", code, p)
		}
	}
	// A code the table does not know, and an error that is no refusal,
	// are internal errors: 500, and the cause is not shown.
	if got := RefusalOf(&muc.Error{Code: 999, Reason: "odd"}); got.Condition != InternalServerError || got.Status != 500 || got.Type != "cancel" {
		t.Errorf("unknown code: %+v, want internal-server-error", got)
	}
	if got := RefusalOf(errors.New("disk on fire")); got != (Refusal{InternalServerError, "cancel", 500, "", 0}) {
		t.Errorf("plain error: %+v", got)
	}
	if got := RefusalOf(&Error{Condition: RecipientUnavailable, Text: "gone fishing"}); got != (Refusal{RecipientUnavailable, "wait", 480, "gone fishing", 0}) {
		t.Errorf("delivery failure: %+v", got)
	}
}

// Every condition has a type RFC 6120 §8.2 allows, a final SIP failure
// status and that status's RFC 3261 reason phrase.
func TestConditionTable(t *testing.T) {
	types := map[string]bool{"auth": true, "cancel": true, "continue": true, "modify": true, "wait": true}
	for c, v := range conditions {
		if !types[v.typ] {
			t.Errorf("%s: type %q", c, v.typ)
		}
		if v.status < 300 || v.status > 699 || reasonPhrases[v.status] == "" {
			t.Errorf("%s: status %d without a reason phrase", c, v.status)
		}
		// A 401 must carry a challenge (RFC 3261 §21.4.2), a 301 a
		// Contact (§21.3.2): neither can be sent for a stanza error.
		if v.status == 401 || v.status == 301 {
			t.Errorf("%s: status %d cannot be sent without what it needs", c, v.status)
		}
	}
	// RFC 6120 §8.3.3.6: internal-server-error SHOULD be "cancel" (RFC
	// 3920 had "wait").
	if InternalServerError.Type() != "cancel" {
		t.Errorf("internal-server-error type %s", InternalServerError.Type())
	}
}

// TestUnavailableRefusal: a write the database could not take during a
// failover (storage.ErrUnavailable, however deeply wrapped) is a temporary
// refusal on both front doors: XMPP resource-constraint of type wait, SIP
// 503 with Retry-After, and a text that says what happened.
func TestUnavailableRefusal(t *testing.T) {
	err := fmt.Errorf("muc: committing post to lobby: %w",
		fmt.Errorf("storage/mysql: no writable server: %w", storage.ErrUnavailable))
	got := RefusalOf(err)
	if got.Condition != ResourceConstraint || got.Type != "wait" || got.Status != 503 || got.RetryAfter <= 0 {
		t.Fatalf("unavailable database: %+v; want resource-constraint, wait, 503 with Retry-After", got)
	}
	if !strings.Contains(got.Text, "try again") || !strings.HasPrefix(got.Phrase(), "Service Unavailable: ") {
		t.Errorf("unavailable database: text %q, phrase %q", got.Text, got.Phrase())
	}
}

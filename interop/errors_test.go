package interop

import "testing"

// RFC 7247 §8.1 (Table 5): stanza error conditions to SIP codes.
func TestStatusOf(t *testing.T) {
	for c, want := range map[Condition]int{
		BadRequest: 400, Forbidden: 403, ItemNotFound: 404, NotAcceptable: 406,
		RecipientUnavailable: 480, RemoteServerTimeout: 408, ServiceUnavailable: 503,
		InternalServerError: 500, ResourceConstraint: 500, FeatureNotImplemented: 405,
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

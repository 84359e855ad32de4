package interop

import "fmt"

// Error mapping between XMPP stanza errors (RFC 6120 §8.3) and SIP
// response codes (RFC 3261 §21), after RFC 7247 §8 (its Tables 5 and 6)
// and RFC 7572 §5-6. It is the one place the two meet: the SIP front
// door answers a MESSAGE with StatusOf(condition) when delivery to XMPP
// fails, and a failed MESSAGE to a SIP contact comes back to the XMPP
// sender as a stanza error with ConditionOf(status).

// Condition is a defined stanza error condition (RFC 6120 §8.3.3).
type Condition string

// The stanza error conditions of RFC 6120 §8.3.3.
const (
	BadRequest            Condition = "bad-request"
	Conflict              Condition = "conflict"
	FeatureNotImplemented Condition = "feature-not-implemented"
	Forbidden             Condition = "forbidden"
	Gone                  Condition = "gone"
	InternalServerError   Condition = "internal-server-error"
	ItemNotFound          Condition = "item-not-found"
	JIDMalformed          Condition = "jid-malformed"
	NotAcceptable         Condition = "not-acceptable"
	NotAllowed            Condition = "not-allowed"
	NotAuthorized         Condition = "not-authorized"
	PolicyViolation       Condition = "policy-violation"
	RecipientUnavailable  Condition = "recipient-unavailable"
	Redirect              Condition = "redirect"
	RegistrationRequired  Condition = "registration-required"
	RemoteServerNotFound  Condition = "remote-server-not-found"
	RemoteServerTimeout   Condition = "remote-server-timeout"
	ResourceConstraint    Condition = "resource-constraint"
	ServiceUnavailable    Condition = "service-unavailable"
	SubscriptionRequired  Condition = "subscription-required"
	UndefinedCondition    Condition = "undefined-condition"
	UnexpectedRequest     Condition = "unexpected-request"
)

// conditions holds, per condition, its error type (RFC 6120 §8.3.3, the
// type each condition's definition names) and SIP status (RFC 7247 §8.1,
// Table 5).
var conditions = map[Condition]struct {
	typ    string
	status int
}{
	BadRequest:            {"modify", 400},
	Conflict:              {"cancel", 400},
	FeatureNotImplemented: {"cancel", 405},
	Forbidden:             {"auth", 403},
	Gone:                  {"cancel", 410}, // Table 5 says 301 with a new address; we never give one
	InternalServerError:   {"cancel", 500},
	ItemNotFound:          {"cancel", 404},
	JIDMalformed:          {"modify", 400},
	NotAcceptable:         {"modify", 406},
	NotAllowed:            {"cancel", 403},
	NotAuthorized:         {"auth", 401},
	PolicyViolation:       {"modify", 403},
	RecipientUnavailable:  {"wait", 480},
	Redirect:              {"modify", 302},
	RegistrationRequired:  {"auth", 400},
	RemoteServerNotFound:  {"cancel", 404},
	RemoteServerTimeout:   {"wait", 408},
	ResourceConstraint:    {"wait", 500},
	ServiceUnavailable:    {"cancel", 503},
	SubscriptionRequired:  {"auth", 400},
	UndefinedCondition:    {"cancel", 400},
	UnexpectedRequest:     {"wait", 491},
}

// Type is the error type RFC 6120 §8.3.3 gives the condition; "cancel"
// for an unknown one.
func (c Condition) Type() string {
	if v, ok := conditions[c]; ok {
		return v.typ
	}
	return "cancel"
}

// Error is a delivery failure, in stanza error terms (RFC 6120 §8.3).
type Error struct {
	Condition Condition
	// Text is an optional human-readable explanation.
	Text string
}

func (e *Error) Error() string {
	if e.Text == "" {
		return "interop: " + string(e.Condition)
	}
	return fmt.Sprintf("interop: %s: %s", e.Condition, e.Text)
}

// StatusOf is the SIP response code for a stanza error condition (RFC
// 7247 §8.1, Table 5). An unknown condition is 500: it means a bug here,
// not in the request.
func StatusOf(c Condition) int {
	if v, ok := conditions[c]; ok {
		return v.status
	}
	return 500
}

// sipToXMPP is RFC 7247 §8.2, Table 6: SIP response codes to conditions.
var sipToXMPP = map[int]Condition{
	400: BadRequest,
	401: NotAuthorized,
	402: BadRequest, // payment-required is gone from RFC 6120
	403: Forbidden,
	404: ItemNotFound,
	405: FeatureNotImplemented,
	406: NotAcceptable,
	407: NotAuthorized,
	408: RemoteServerTimeout,
	410: Gone,
	413: PolicyViolation,
	414: JIDMalformed,
	415: NotAcceptable,
	416: JIDMalformed,
	420: FeatureNotImplemented,
	421: NotAcceptable,
	423: ResourceConstraint,
	430: RecipientUnavailable,
	433: PolicyViolation,
	436: NotAcceptable,
	437: NotAcceptable,
	438: NotAcceptable,
	439: FeatureNotImplemented,
	440: PolicyViolation,
	480: RecipientUnavailable,
	481: ItemNotFound,
	482: NotAcceptable,
	483: NotAcceptable,
	484: ItemNotFound,
	485: ItemNotFound,
	486: RecipientUnavailable,
	487: ServiceUnavailable,
	488: NotAcceptable,
	489: PolicyViolation,
	491: UnexpectedRequest,
	493: BadRequest,
	500: InternalServerError,
	501: FeatureNotImplemented,
	502: RemoteServerNotFound,
	503: ServiceUnavailable,
	504: RemoteServerTimeout,
	505: NotAcceptable,
	513: PolicyViolation,
	600: ServiceUnavailable,
	603: ServiceUnavailable,
	604: ItemNotFound,
	606: NotAcceptable,
}

// ConditionOf is the stanza error condition for a SIP failure response
// (RFC 7247 §8.2, Table 6). Codes the table does not name take their
// class's meaning: 3xx redirect, other 4xx bad-request, 5xx
// internal-server-error, 6xx service-unavailable. A success is "".
func ConditionOf(status int) Condition {
	if c, ok := sipToXMPP[status]; ok {
		return c
	}
	switch {
	case status < 300:
		return ""
	case status < 400:
		return Redirect
	case status < 500:
		return BadRequest
	case status < 600:
		return InternalServerError
	}
	return ServiceUnavailable
}

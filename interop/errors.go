package interop

import (
	"errors"
	"fmt"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// The one error table (DESIGN §3, "Errors"). Every refusal that reaches a
// client is said here, for both front doors:
//
//   - conditions: each stanza error condition of RFC 6120 §8.3.3 with the
//     error type that section gives it and the SIP status RFC 7247 §8.1
//     (Table 5) maps it to;
//   - mucConditions: each room engine refusal (muc.Code) as a condition;
//     its type and status are the condition's, except where XEP-0045
//     names another type for that refusal;
//   - sipToXMPP: SIP statuses back to conditions (RFC 7247 §8.2, Table 6).
//
// RefusalOf applies them to any error a front door is about to send: the
// XMPP front door answers with its condition and type, the SIP front door
// with its status, both with its text. StatusOf and ConditionOf map a
// failure that crosses between the two (RFC 7572 §5-6): a SIP MESSAGE that
// XMPP refused, an XMPP message that every SIP contact refused.
//
// A muc code therefore reads the same whichever door the client used, and
// the same as an XMPP refusal relayed to a SIP user: TestEveryMucCode
// walks every code through both mappings.

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

// conditions holds, per condition, its error type (the one RFC 6120
// §8.3.3 says it SHOULD have; where it names two, the first) and its SIP
// status: RFC 7247 §8.1, Table 5, except where the code Table 5 gives
// cannot be sent as it stands:
//
//   - not-authorized is 403, not 401: a 401 MUST carry a WWW-Authenticate
//     challenge (RFC 3261 §21.4.2), and what is missing (a room password,
//     an XMPP-side credential) is nothing a SIP digest answers.
//   - gone is 410, not 301: a 301 gives the new address in Contact (RFC
//     3261 §21.3.2), and we never have one.
//
// Decisions this table makes for the room engine's refusals (see
// mucConditions), against what the SIP front door used to answer:
//
//   - conflict (a nick taken, a room that exists) is 400 as Table 5 says.
//     Not 409: RFC 2543's 409 Conflict was removed by RFC 3261, is not in
//     the IANA SIP response code registry, and a UA that does not know it
//     treats it as 400 anyway (RFC 3261 §8.1.3.2). Not 486 Busy Here
//     either: that is a callee unable to take one more call (§21.4.24).
//     The reason phrase says what the conflict is.
//   - registration-required (joining a members-only room) is 400 as Table 5
//     says, not 403; a post to the same room by a non-member is forbidden
//     (403), which is the engine's choice of code, not this table's.
//   - not-acceptable (not an occupant, a message too long) is 406 as Table
//     5 says, not 403.
//   - internal-server-error is "cancel" (RFC 6120 §8.3.3.6), not "wait"
//     as RFC 3920 had it.
var conditions = map[Condition]struct {
	typ    string
	status int
}{
	BadRequest:            {"modify", 400},
	Conflict:              {"cancel", 400},
	FeatureNotImplemented: {"cancel", 405},
	Forbidden:             {"auth", 403},
	Gone:                  {"cancel", 410},
	InternalServerError:   {"cancel", 500},
	ItemNotFound:          {"cancel", 404},
	JIDMalformed:          {"modify", 400},
	NotAcceptable:         {"modify", 406},
	NotAllowed:            {"cancel", 403},
	NotAuthorized:         {"auth", 403},
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

// mucConditions maps the room engine's refusals to conditions (XEP-0045
// §7.2 names the condition of each join refusal; the rest follow RFC 6120
// §8.3.3's definitions). typ is set only where XEP-0045 gives the
// refusal another type than the condition's, with the reason.
var mucConditions = map[muc.Code]struct {
	cond Condition
	typ  string
}{
	muc.CodeNotFound:             {cond: ItemNotFound},
	muc.CodeForbidden:            {cond: Forbidden},
	muc.CodeRegistrationRequired: {cond: RegistrationRequired},
	muc.CodeNotAuthorized:        {cond: NotAuthorized},
	muc.CodeConflict:             {cond: Conflict},
	muc.CodeNotAllowed:           {cond: NotAllowed},
	muc.CodeNotAcceptable:        {cond: NotAcceptable},
	// XEP-0045 §7.2 (the maximum number of occupants reached): a full
	// room is <service-unavailable/> of type "wait", try again later,
	// where RFC 6120 gives the condition "cancel".
	muc.CodeServiceUnavailable: {cond: ServiceUnavailable, typ: "wait"},
	muc.CodeBadRequest:         {cond: BadRequest},
	// A user's limit (rooms created) reached: RFC 6120 §8.3.3.12, the
	// entity "has violated some local service policy"; SIP 403.
	muc.CodePolicyViolation: {cond: PolicyViolation},
	// Too many requests a minute: RFC 6120 §8.3.3.18, "wait" and retry.
	muc.CodeResourceConstraint: {cond: ResourceConstraint},
}

// Refusal is one refusal as the front doors say it: the stanza error
// condition and type an XMPP entity gets (RFC 6120 §8.3.2), the status a
// SIP entity gets (RFC 3261 §21), and the human-readable reason both carry
// (<text/>, the reason phrase).
type Refusal struct {
	Condition Condition
	Type      string
	Status    int
	Text      string
	// RetryAfter, when not zero, is how many seconds a SIP client should
	// wait before it tries again (Retry-After, RFC 3261 §20.33).
	RetryAfter int
}

// The refusal of anything the database could not take because no writable
// server was reachable (storage.ErrUnavailable, a failover under way):
// nothing was stored, try again shortly. XMPP resource-constraint of type
// wait (RFC 6120 §8.3.3.18: "the server ... lacks the system resources
// necessary to service the request"; the client may retry); SIP 503 with
// Retry-After (RFC 3261 §21.5.4), not the 500 Table 5 gives
// resource-constraint, which tells a UA nothing about trying again.
const (
	unavailableText  = "the database is unavailable (failing over); try again in a few seconds"
	unavailableRetry = 5
)

// RefusalOf is the refusal a front door sends for err: a database that
// cannot take writes now (storage.ErrUnavailable) as a temporary
// resource-constraint, a room engine refusal (*muc.Error) through
// mucConditions, a delivery failure (*Error) through its condition,
// anything else (a database failure, a bug: the caller logs it)
// internal-server-error with no text.
func RefusalOf(err error) Refusal {
	if errors.Is(err, storage.ErrUnavailable) {
		r := refusal(ResourceConstraint, unavailableText)
		r.Status, r.RetryAfter = 503, unavailableRetry
		return r
	}
	var me *muc.Error
	if errors.As(err, &me) {
		m, ok := mucConditions[me.Code]
		if !ok {
			return refusal(InternalServerError, me.Reason)
		}
		r := refusal(m.cond, me.Reason)
		if m.typ != "" {
			r.Type = m.typ
		}
		return r
	}
	var ie *Error
	if errors.As(err, &ie) {
		return refusal(ie.Condition, ie.Text)
	}
	return refusal(InternalServerError, "")
}

func refusal(c Condition, text string) Refusal {
	return Refusal{Condition: c, Type: c.Type(), Status: StatusOf(c), Text: text}
}

// reasonPhrases are RFC 3261 §21's reason phrases for the statuses of
// conditions.
var reasonPhrases = map[int]string{
	302: "Moved Temporarily", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
	405: "Method Not Allowed", 406: "Not Acceptable", 408: "Request Timeout", 410: "Gone",
	480: "Temporarily Unavailable", 491: "Request Pending", 500: "Server Internal Error",
	503: "Service Unavailable",
}

// Phrase is the SIP reason phrase for the refusal: RFC 3261 §21's phrase
// for its status, then its text.
func (r Refusal) Phrase() string {
	p := reasonPhrases[r.Status]
	if p == "" {
		p = string(r.Condition)
	}
	if r.Text != "" {
		p += ": " + r.Text
	}
	return p
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

package muc

import (
	"errors"
	"fmt"
	"slices"
)

// Code classifies why the engine refused a command. Package interop's error
// table (interop/errors.go) maps each code to what both front doors send: a
// stanza error condition and type for XMPP (XEP-0045 §7.2, RFC 6120
// §8.3.3) and a status code for SIP.
type Code int

const (
	// CodeNotFound: no such room, category, message or occupant.
	CodeNotFound Code = iota + 1
	// CodeForbidden: banned, denied by the category's ethical wall, a
	// disabled room, or an action above the actor's standing.
	CodeForbidden
	// CodeRegistrationRequired: joining a members-only room as a
	// non-member.
	CodeRegistrationRequired
	// CodeNotAuthorized: a wrong or missing room password.
	CodeNotAuthorized
	// CodeConflict: the nick is taken, the room exists, or the change
	// would leave the room or category in a state it may not be in.
	CodeConflict
	// CodeNotAllowed: the room's or category's configuration does not
	// allow it.
	CodeNotAllowed
	// CodeNotAcceptable: the sender is not an occupant, or the message
	// is too long.
	CodeNotAcceptable
	// CodeServiceUnavailable: the room is full, or a service is off.
	CodeServiceUnavailable
	// CodeBadRequest: malformed input: an empty nick, an unknown role.
	CodeBadRequest
	// CodePolicyViolation: a limit on what one user may do or have (the
	// rooms they created) was reached.
	CodePolicyViolation
	// CodeResourceConstraint: the user asked too often (joins, archive
	// queries, searches a minute): try again shortly.
	CodeResourceConstraint
)

var codeNames = map[Code]string{
	CodeNotFound:             "not found",
	CodeForbidden:            "forbidden",
	CodeRegistrationRequired: "registration required",
	CodeNotAuthorized:        "not authorized",
	CodeConflict:             "conflict",
	CodeNotAllowed:           "not allowed",
	CodeNotAcceptable:        "not acceptable",
	CodeServiceUnavailable:   "service unavailable",
	CodeBadRequest:           "bad request",
	CodePolicyViolation:      "policy violation",
	CodeResourceConstraint:   "resource constraint",
}

func (c Code) String() string { return codeNames[c] }

// Codes lists every refusal code, in order, for the tests of the tables
// that map them to the wire (interop's error table).
func Codes() []Code {
	codes := make([]Code, 0, len(codeNames))
	for c := range codeNames {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return codes
}

// Error is a refusal by the engine: a Code and a human-readable reason that
// front doors pass on (stanza error text, SIP reason phrase).
type Error struct {
	Code   Code
	Reason string
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return "muc: " + e.Code.String()
	}
	return fmt.Sprintf("muc: %s: %s", e.Code, e.Reason)
}

func refuse(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// CodeOf returns the Code of a refusal, or 0 for any other error (an
// internal failure such as a database error).
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

package muc

import (
	"errors"
	"fmt"
)

// Code classifies why the engine refused a command, so that each front door
// maps it to its own wire error in one place: a stanza error condition for
// XMPP (XEP-0045 §7.2, RFC 6120 §8.3.3), a status code for SIP.
type Code int

const (
	// CodeNotFound: no such room, category or occupant (XMPP
	// item-not-found, SIP 404).
	CodeNotFound Code = iota + 1
	// CodeForbidden: banned, denied by the category's ethical wall, a
	// disabled room, or an action above the actor's standing (XMPP
	// forbidden, SIP 403).
	CodeForbidden
	// CodeRegistrationRequired: a members-only room and a non-member
	// (XMPP registration-required, SIP 403).
	CodeRegistrationRequired
	// CodeNotAuthorized: a wrong or missing room password (XMPP
	// not-authorized, SIP 403).
	CodeNotAuthorized
	// CodeConflict: the nick is taken, or the room exists (XMPP conflict,
	// SIP 409).
	CodeConflict
	// CodeNotAllowed: the room's configuration does not allow it (XMPP
	// not-allowed, SIP 403).
	CodeNotAllowed
	// CodeNotAcceptable: the sender is not an occupant (XMPP
	// not-acceptable, SIP 403).
	CodeNotAcceptable
	// CodeServiceUnavailable: the room is full (XMPP service-unavailable,
	// SIP 503).
	CodeServiceUnavailable
	// CodeBadRequest: malformed input: an empty nick, an unknown role
	// (XMPP bad-request or jid-malformed, SIP 400).
	CodeBadRequest
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
}

func (c Code) String() string { return codeNames[c] }

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

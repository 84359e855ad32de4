// Package admin is Parley's administration, once: the operations that
// parleyctl runs on a node's database, that the web admin console and its
// JSON API (/admin/api/ on the HTTPS listener, http.go) run on a live
// node, and that parleyctl --server runs through that API from another
// machine (client.go). API is the one list of operations; Service
// implements it over the stores and the room engine, Client over HTTP.
//
// Rooms, categories and legal holds go through the room engine (package
// muc), whose rules and compliance capture apply to administrators as to
// anyone; account changes write their own compliance event. The actor is
// ActorAdmin for parleyctl on the machine and muc.AdminActor(JID) for an
// administrator logged in to the API, whose JID compliance records.
package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/parleychat/parley/compliance"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// API is every administrative operation, bound to the administrator who
// runs it (Service.As, or the logged-in user of a Client).
type API interface {
	// Accounts.
	AddUser(ctx context.Context, name, password string) (User, error)
	Users(ctx context.Context) ([]User, error)
	SetPassword(ctx context.Context, name, password string) (User, error)
	// SetSIPPassword sets only an account's SIP digest password, keeping
	// its XMPP credentials: for directory users (--auth ldap), whose
	// directory password SIP digest cannot check.
	SetSIPPassword(ctx context.Context, name, password string) (User, error)
	DisableUser(ctx context.Context, name string) (User, error)
	DeleteUser(ctx context.Context, name string) (User, error)
	// Sessions lists the sessions on the node; Kick ends a user's.
	Sessions(ctx context.Context) ([]Session, error)
	Kick(ctx context.Context, name string) (int, error)

	// Categories: AddCategory applies change to a new category's
	// defaults; SetCategory to the stored one.
	AddCategory(ctx context.Context, name string, change CategoryChange) (storage.Category, error)
	SetCategory(ctx context.Context, name string, change CategoryChange) (storage.Category, error)
	Categories(ctx context.Context) ([]CategoryInfo, error)
	Category(ctx context.Context, name string) (CategoryInfo, error)
	DeleteCategory(ctx context.Context, name string) error

	// Rooms.
	CreateRoom(ctx context.Context, spec RoomSpec) (RoomInfo, error)
	Rooms(ctx context.Context, category string) ([]RoomInfo, error)
	Room(ctx context.Context, name string) (RoomInfo, error)
	SetRoom(ctx context.Context, name string, change RoomChange) (RoomInfo, error)
	SetRoomDisabled(ctx context.Context, name string, disabled bool) (RoomInfo, error)
	DeleteRoom(ctx context.Context, name, reason string) error
	ChangePlaces(ctx context.Context, room string, list Place, add bool, users []string) ([]PlaceResult, error)
	ClearRoom(ctx context.Context, room string, before time.Time) (int, error)
	RemoveMessage(ctx context.Context, room, stanzaID, text string) error

	// Compliance.
	ComplianceStatus(ctx context.Context) (ComplianceStatus, error)
	AddHold(ctx context.Context, hold HoldTarget) (storage.Hold, error)
	RemoveHold(ctx context.Context, hold HoldTarget) (storage.Hold, error)
	Holds(ctx context.Context) ([]storage.Hold, error)
	Export(ctx context.Context, q ExportQuery, w io.Writer, progress func(done, total int64)) (compliance.ExportSummary, error)

	// The node and the pool.
	PoolStatus(ctx context.Context) ([]PoolNode, error)
	Metrics(ctx context.Context) (Metrics, error)
}

// Engine is what the service uses of the room engine: the front doors'
// muc.Rooms (in a pool, host commands run on the room's host) and the
// durable changes only the engine makes.
type Engine interface {
	muc.Rooms
	DeleteCategory(ctx context.Context, actor, name string) error
	PutHold(ctx context.Context, actor string, h storage.Hold) error
	DeleteHold(ctx context.Context, actor, kind, name, reason string) error
	Holds(ctx context.Context) ([]storage.Hold, error)
	ClearRoom(ctx context.Context, actor, room string, before time.Time) (int, error)
}

// Node is what a running parleyd knows that its database does not: the
// sessions it holds and its metrics. parleyctl on the machine has none.
type Node interface {
	Sessions() []Session
	// Kick ends a local account's XMPP sessions and SIP registrations
	// and returns how many.
	Kick(username string) int
	Metrics() Metrics
}

// Config is what a Service works on.
type Config struct {
	// Domain is the server's domain: usernames are its users.
	Domain string
	Store  storage.Store
	// Engine returns the room engine, opened on first use (parleyctl
	// opens none for account commands).
	Engine func(ctx context.Context) (Engine, error)
	// Data is the data directory (the recorded compliance setting),
	// Compliance the configured setting and ComplianceStorage the
	// compliance database's DSN.
	Data              string
	Compliance        bool
	ComplianceStorage string
	// ComplianceStorageShown is the DSN as shown: without its password.
	ComplianceStorageShown string
	// Node is the running node; nil in parleyctl.
	Node Node
	// ExternalAuth is set when a directory (--auth ldap) holds the
	// passwords: they are changed and accounts disabled there.
	ExternalAuth bool
	// Directory is set when directory groups (group:NAME in policy) can
	// be resolved: the --ldap-* settings are given.
	Directory bool
	// Groups, when set, checks that each group given for policy exists in
	// the directory (a misspelt group would match nobody: a wall walling
	// off no one).
	Groups GroupChecker
	// DirectoryUsers, when set, is asked whether a user exists before an
	// account is made for them (SetSIPPassword).
	DirectoryUsers DirectoryUsers
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DirectoryUsers checks that a user exists in the directory; package
// ldapauth's Directory is one.
type DirectoryUsers interface {
	UserExists(ctx context.Context, username string) error
}

// GroupChecker checks that a directory group named in policy (what follows
// group:, a name or a DN) exists; package ldapauth's Directory is one.
type GroupChecker interface {
	GroupExists(ctx context.Context, group string) error
}

// Service implements API over the stores and the room engine.
type Service struct {
	cfg Config
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}
}

// As returns the API acting as actor: muc.ActorAdmin, or
// muc.AdminActor(JID) for a named administrator.
func (s *Service) As(actor string) API { return &bound{s: s, actor: actor} }

// bound is the Service acting for one administrator.
type bound struct {
	s     *Service
	actor string
}

func (b *bound) engine(ctx context.Context) (Engine, error) { return b.s.cfg.Engine(ctx) }

// ErrNoNode is returned for what only a running node knows (its sessions,
// its metrics) when there is none.
var ErrNoNode = errors.New("only a running parleyd knows this: use parleyctl --server URL")

// FieldError is a bad value for one field of a request (a flag of
// parleyctl's, a form field of the console's).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldError(field string, err error) error {
	if err == nil {
		return nil
	}
	return &FieldError{Field: field, Err: err}
}

// BadRequest is a request that can never succeed as it is (HTTP 400,
// parleyctl's usage error).
type BadRequest struct{ Msg string }

func (e *BadRequest) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &BadRequest{Msg: fmt.Sprintf(format, args...)}
}

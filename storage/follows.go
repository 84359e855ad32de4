package storage

import (
	"context"
	"time"
)

// This file is the persistence contract of topic feeds (shared/DESIGN.md §1
// "Topic feed / keyword alert"): a user follows a room, optionally only for
// posts that mention some keywords, and gets an alert when one lands.
// Follows are kept per (user, room); like every other mutation of the room
// engine's state, each change is written with its compliance event in one
// transaction.

// Limits on a follow's keywords, checked before anything reaches the
// database.
const (
	// MaxKeywordLength bounds one keyword, in characters.
	MaxKeywordLength = 255
	// MaxKeywords bounds how many keywords one follow has.
	MaxKeywords = 50
)

// Follow is a user's subscription to a room's posts.
type Follow struct {
	// User is the follower's bare JID.
	User string
	// Room is the followed room's name; it must exist. Follows are
	// deleted with their room.
	Room string
	// Keywords filter the posts the user is alerted to; nil (an empty
	// list comes back nil) means every post. Storage keeps them as given,
	// in order; matching is the engine's business.
	Keywords []string
	// Created is set when the follow is first stored (now, if zero) and
	// kept when it is replaced.
	Created time.Time
}

// Follows stores topic feeds.
type Follows interface {
	// PutFollow creates or replaces the follow (f.User, f.Room), keeping
	// Created of a follow it replaces. ErrNotFound if the room does not
	// exist.
	PutFollow(ctx context.Context, f Follow, ev OutboxEvent) error
	// DeleteFollow removes a follow; ErrNotFound if there was none (and
	// then no event is written).
	DeleteFollow(ctx context.Context, user, room string, ev OutboxEvent) error
	// FollowsOf returns a user's follows ordered by room; an unknown user
	// has none.
	FollowsOf(ctx context.Context, user string) ([]Follow, error)
	// FollowersOf returns a room's follows ordered by user; an unknown
	// room has none.
	FollowersOf(ctx context.Context, room string) ([]Follow, error)
}

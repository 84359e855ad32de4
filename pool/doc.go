// Package pool joins parleyd nodes into one service (DESIGN §4): up to four
// active nodes and four standbys on one MySQL database, linked on TCP 8011.
//
// The link is an embedded NATS server per node (github.com/nats-io/nats-
// server/v2), clustered over the pool address with mutually authenticated
// TLS and route credentials, both derived from the pool secret (or given as
// node certificates); it opens no client port: each node talks to its own
// server in-process. Operators may point the pool at an external NATS
// cluster instead.
//
// Over the bus, nodes publish heartbeats (membership.go), forward room
// commands to the node that hosts each room and carry the room's events
// back (rooms.go, rpc.go, sinks.go). Each command is one typed struct in
// a table with its handler and whether it may be sent again
// (commands.go). The pool implements muc.RoomHost; what is only stored
// (muc.Records) each node's engine serves from the shared database. The database holds what must survive:
// which node hosts each room, with a fencing epoch that every post checks
// in its own transaction (hosting.go), and every node's last status.
//
// A node is allowed to host rooms only while it sees a majority of the
// nodes that are alive in the database: a node cut off from the bus but
// not from the database stops hosting (and its stale claims are fenced),
// while the majority re-homes its rooms.
package pool

// Package interop is where Parley meets software nobody here wrote, and
// where its two front doors meet each other.
//
// The mapping between SIP and XMPP lives here, in one place each:
// addresses (RFC 7247 §5, with XEP-0106 escaping: address.go), 1:1
// messages (RFC 7572: message.go) and errors (RFC 7247 §8, both ways, and
// the room engine's refusals on both front doors: errors.go). 1:1 messages travel through a Router (router.go, DESIGN
// §3): each front door is a Deliverer for its own endpoints (XMPP
// sessions, SIP registered contacts), XMPP's offline storage is the
// Store, and package pool can add a Deliverer that forwards to the node
// holding a user's endpoints without changing the protocol packages.
// interop imports neither protocol package; both import it.
//
// The rest is the real-client interoperability suite: Go tests that build
// parleyd and parleyctl, start a fresh server on loopback ports (on SQLite
// and on MySQL), create accounts with parleyctl, and drive it with real
// clients — slixmpp scripts in testdata/ run with Debian's
// /usr/bin/python3 (apt-get install -y python3-slixmpp), sipp scenarios
// (sip-tester) and baresip (baresip) — for example
//
//	go test ./interop/ -v -run 'Slixmpp|Sipp|Baresip'
package interop

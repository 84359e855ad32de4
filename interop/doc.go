// Package interop is where Parley meets software nobody here wrote.
//
// Today it holds the real-client interoperability suite: Go tests that
// build parleyd and parleyctl, start a fresh server on loopback ports (on
// SQLite and on MySQL), create accounts with parleyctl, and drive it with
// real clients — slixmpp scripts in testdata/, run with Debian's
// /usr/bin/python3 (apt-get install -y python3-slixmpp). Run them with
//
//	go test ./interop/ -v -run Slixmpp
//
// Later it also takes the SIP<->XMPP address and message mapping (RFC
// 7247, 7572, 7702) and the small routing interface that carries 1:1
// messages and presence between the two front doors (DESIGN §3).
package interop

// Package xmpp is Parley's XMPP front door: client-to-server streams (RFC
// 6120, RFC 6121) over STARTTLS and direct TLS, server-to-server links to
// other servers (federation), one stanza mux, and the
// services behind it — the MUC service over the room engine (package muc),
// the archive, ad-hoc commands, HTTP File Upload. It turns stanzas into
// calls on muc, roster and storage and their results back into stanzas; it
// holds no business rules of its own: subscriptions and roster changes are
// package roster's, refusals read as package interop's error table says.
//
// A stanza's way in: conn.go reads it on the connection's goroutine and
// stamps its sender (RFC 6120 §8.1.2.1); Server.dispatch (mux.go) looks up
// the ONE table by kind, type, payload {namespace}local and addressee
// (server, account, full JID, remote domain, MUC service, room, occupant,
// upload service) and calls the handler with the stanza's origin (the
// client session, or a server-to-server link, s2s_in.go); the handler
// answers through the origin. Each feature file registers its handlers in a
// register… function together with the disco features they implement, so
// service discovery (disco.go) is generated from the table. To find where a
// stanza is handled, grep for its namespace.
//
// Where each specification lives:
//
//	Specification                           File(s)
//	RFC 6120 §4-§7 streams, STARTTLS, SASL,  conn.go, reader.go, sasl.go, element.go
//	  resource binding
//	RFC 6120 §8, §10 stanzas and routing     mux.go (the table, dispatch), iq.go, router.go
//	RFC 6120 §8.3 stanza errors              errors.go (conditions' types: interop)
//	RFC 3921 §3 session establishment        iq.go
//	RFC 6121 §2 roster, §2.6 versioning      roster.go (the changes: package roster)
//	RFC 6121 §3 subscriptions, §4 presence   presence.go (the state machine: package roster)
//	RFC 6121 §5, §8.5 messages               message.go
//	RFC 5802, RFC 7677 SCRAM; RFC 9266,      sasl.go
//	  RFC 5929 channel binding; XEP-0440
//	RFC 6120 §13 server-to-server, RFC 6125  s2s.go, s2s_in.go, s2s_out.go, s2s_conn.go,
//	  identities; XEP-0178 SASL EXTERNAL,    s2s_auth.go; what remote users do:
//	  XEP-0220 dialback, XEP-0185 keys,      s2s_remote.go
//	  XEP-0344 dialback with certificates
//	XEP-0288 bidirectional s2s               s2s_bidi.go
//	RFC 7395 XMPP over WebSocket             websocket.go, web.go (the pipe to conn.go)
//	RFC 7572 IM with SIP users               interworking.go
//	XEP-0004 data forms                      dataform.go
//	XEP-0012 last activity                   last_activity.go
//	XEP-0030 service discovery               disco.go (from the mux's registrations)
//	XEP-0045 multi-user chat                 muc.go, muc_iq.go, muc_presence.go,
//	                                         muc_message.go, muc_owner.go, muc_render.go
//	XEP-0048 bookmarks (kept in step)        bookmarks.go
//	XEP-0049 private XML storage             private.go
//	XEP-0050 ad-hoc commands                 adhoc.go (topic feeds), admin_commands.go
//	XEP-0054 vcard-temp                      vcard.go
//	XEP-0059 result set management           mam.go, rsm.go (disco#items room lists)
//	XEP-0060 publish-subscribe (PEP subset)  pubsub.go (rules: package pep)
//	XEP-0066 out-of-band data                adhoc.go (feed alerts)
//	XEP-0077 in-band registration            register.go, accounts.go
//	XEP-0084 user avatar (from vCards)       vcard.go
//	XEP-0092 software version                version.go
//	XEP-0115 entity capabilities (cache)     caps.go, serveriq.go (the server's own IQs)
//	XEP-0115 the server's own caps           stream_caps.go (stream features)
//	XEP-0124, XEP-0206 BOSH                  bosh.go, web.go (the pipe to conn.go)
//	XEP-0128 extended disco                  disco.go, muc_iq.go, upload.go
//	XEP-0133 service administration          admin_commands.go, accounts.go
//	XEP-0153 vCard avatar hash in presence   vcard.go
//	XEP-0157 contact addresses               contact_addresses.go
//	XEP-0156 connection discovery            hostmeta.go
//	XEP-0160 offline messages                message.go, interworking.go
//	XEP-0163 personal eventing (PEP)         pep.go, pubsub.go, caps.go
//	XEP-0191 blocking command               blocking.go (enforced by a mux filter)
//	XEP-0198 stream management               sm.go (counting: session.go enqueueLocked; resume: conn.go)
//	XEP-0199 ping                            ping.go
//	XEP-0202 entity time                     entity_time.go
//	XEP-0203 delayed delivery                message.go, muc_render.go, mam.go
//	XEP-0215 external services (STUN/TURN)   external_services.go
//	XEP-0280 message carbons                 carbons.go (other pool nodes: DeliverLocal)
//	XEP-0297 forwarding                      mam.go, adhoc.go, carbons.go
//	XEP-0308 message correction              muc_message.go
//	XEP-0313 message archive management      mam.go (rooms), mam_account.go (the account's own,
//	                                           with #extended, preferences)
//	XEP-0334 message processing hints        message.go
//	XEP-0352 client state indication         csi.go (stream_features.go: offer, nonzas)
//	XEP-0359 stanza ids                      muc_message.go, muc_render.go, mam_account.go (1:1)
//	XEP-0363 HTTP file upload                upload.go
//	XEP-0368 direct TLS                      server.go, conn.go
//	XEP-0398 PEP avatar <-> vCard avatar     vcard.go
//	XEP-0402 PEP native bookmarks, XEP-0411  bookmarks.go
//	  bookmarks conversion
//	XEP-0410 MUC self-ping                   muc_iq.go
//	XEP-0421 occupant ids                    muc_render.go
//	XEP-0422, XEP-0424, XEP-0425 fastening,  muc_iq.go, muc_message.go, muc_render.go
//	  retraction, moderation
//	XEP-0431 full-text search in MAM         mam.go
package xmpp

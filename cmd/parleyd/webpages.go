package main

import (
	"github.com/parleychat/parley/webclient"
	"github.com/parleychat/parley/webphone"
)

// webPages are the pages both web listeners serve: the web client at /
// (package webclient, XMPP over /xmpp-websocket or /http-bind) and the SIP
// phone page at /phone (package webphone, SIP over /sip).
func webPages(domain, mucDomain, roomHost string) []webPage {
	client := webclient.Handler(webclient.Config{Domain: domain, MUCDomain: mucDomain,
		WebSocketPath: "/xmpp-websocket", BOSHPath: "/http-bind"})
	phone := webphone.Handler(webphone.Config{Domain: domain, RoomDomain: roomHost, WebSocketPath: "/sip"})
	return []webPage{
		{patterns: []string{"GET /{$}", "GET /parley-client.js", "GET /converse/"}, handler: client},
		{patterns: []string{"GET /phone", "GET /phone/"}, handler: phone},
	}
}

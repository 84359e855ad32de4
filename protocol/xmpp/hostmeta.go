package xmpp

import (
	"encoding/json"
	"net/http"
	"strings"
)

// XEP-0156 §3: a web client finds the server's WebSocket and BOSH
// endpoints in /.well-known/host-meta (XRD, RFC 6415) or host-meta.json.

const (
	relWebSocket = "urn:xmpp:alt-connections:websocket"
	relBOSH      = "urn:xmpp:alt-connections:xbosh"
)

// HostMetaHandler serves /.well-known/host-meta and
// /.well-known/host-meta.json, naming the WebSocket (RFC 7395) and BOSH
// endpoints at wsPath and boshPath on the host and scheme the request
// came to: wss: and https: over TLS.
func (s *Server) HostMetaHandler(wsPath, boshPath string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base := "://" + r.Host
		wsURL := strings.Replace(scheme, "http", "ws", 1) + base + wsPath
		boshURL := scheme + base + boshPath
		// Any page may read where to connect (XEP-0156 §3.2).
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cache-Control", "max-age=3600")
		if strings.HasSuffix(r.URL.Path, ".json") {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"links": []map[string]string{
				{"rel": relWebSocket, "href": wsURL},
				{"rel": relBOSH, "href": boshURL},
			}})
			return
		}
		w.Header().Set("Content-Type", "application/xrd+xml")
		var b strings.Builder
		b.WriteString("<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n")
		for _, l := range [][2]string{{relWebSocket, wsURL}, {relBOSH, boshURL}} {
			b.WriteString("  <Link rel='" + l[0] + "' href='" + xmlAttrEscape(l[1]) + "'/>\n")
		}
		b.WriteString("</XRD>\n")
		_, _ = w.Write([]byte(b.String()))
	})
}

func xmlAttrEscape(v string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;").Replace(v)
}

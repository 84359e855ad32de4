package xmpp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// startUploadServer starts a server with the upload service and its HTTP
// handler on real sockets: files up to 1 MiB, a quota of 1.5 MiB.
func startUploadServer(t *testing.T) (*testServer, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ts := startServer(t, func(c *Config) {
		files, err := muc.NewFiles(c.Rooms.(*muc.Engine), muc.FilesConfig{Store: c.Store, MaxFileSize: 1 << 20, Quota: 3 << 19})
		if err != nil {
			t.Fatal(err)
		}
		c.Files, c.UploadURL = files, base
	})
	hs := &http.Server{Handler: ts.srv.UploadHandler()}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ts, base
}

func requestSlot(c *testClient, id, name string, size int64, ctype string) *Element {
	c.send(`<iq type='get' id='%s' to='upload.localhost'><request xmlns='urn:xmpp:http:upload:0' filename='%s' size='%d' content-type='%s'/></iq>`,
		id, name, size, ctype)
	return c.expect("slot reply "+id, func(e *Element) bool { return e.AttrValue("id") == id })
}

func stanzaCondition(e *Element) string {
	if er := e.Child(nsClient, "error"); er != nil {
		for _, c := range er.Elements() {
			if c.Name.Space == nsStanzas && c.Name.Local != "text" {
				return er.AttrValue("type") + "/" + c.Name.Local
			}
		}
	}
	return "none"
}

// XEP-0363 §2 discovery, §4 slot requests and the §5 refusals.
func TestUploadSlots(t *testing.T) {
	ts, _ := startUploadServer(t)
	ctx := context.Background()
	ts.addUser(t, "romeo", "secret")
	c := ts.online(t, "romeo", "secret", "orchard")

	c.send(`<iq type='get' id='items' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	items := c.expect("server items", func(e *Element) bool { return e.AttrValue("id") == "items" })
	if !strings.Contains(items.String(), "jid=\"upload.localhost\"") {
		t.Errorf("server items do not list upload.localhost: %s", items)
	}
	c.send(`<iq type='get' id='info' to='upload.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	info := c.expect("upload info", func(e *Element) bool { return e.AttrValue("id") == "info" }).Child(nsDiscoInfo, "query")
	id := info.Child(nsDiscoInfo, "identity")
	if id == nil || id.AttrValue("category") != "store" || id.AttrValue("type") != "file" ||
		!strings.Contains(info.String(), nsUpload) || formValues(info.Child(nsDataForms, "x"))["max-file-size"][0] != "1048576" {
		t.Fatalf("upload service info: %s", info)
	}

	// Not in any room: forbidden, with a reason.
	if r := requestSlot(c, "s1", "balcony.jpg", 1000, "image/jpeg"); stanzaCondition(r) != "auth/forbidden" || !strings.Contains(r.String(), "<text") {
		t.Errorf("slot without a room: %s", r)
	}
	// In a room whose category forbids uploads: still forbidden.
	if err := ts.srv.cfg.Rooms.PutCategory(ctx, muc.ActorAdmin, storage.Category{Name: "plain", AllowedMembers: []string{"*"}, ChatHistory: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.srv.cfg.Rooms.CreateRoom(ctx, muc.CreateRoomRequest{Room: storage.Room{Name: "crypt", Category: "plain"}, Creator: muc.ActorAdmin, Privacy: muc.Open}); err != nil {
		t.Fatal(err)
	}
	join(t, c, "crypt@conference.localhost", "romeo", "")
	if r := requestSlot(c, "s2", "balcony.jpg", 1000, "image/jpeg"); stanzaCondition(r) != "auth/forbidden" {
		t.Errorf("slot in a room without uploads: %s", r)
	}
	ts.createRoom(t, "verona", muc.Open, muc.Normal, nil, nil, nil)
	join(t, c, "verona@conference.localhost", "romeo", "")
	r := requestSlot(c, "s3", "balcony.jpg", 1<<20, "image/jpeg")
	slot := r.Child(nsUpload, "slot")
	if r.AttrValue("type") != "result" || slot == nil || r.AttrValue("from") != "upload.localhost" {
		t.Fatalf("slot for an occupant: %s", r)
	}
	put, get := slot.Child(nsUpload, "put"), slot.Child(nsUpload, "get")
	if h := put.Child(nsUpload, "header"); h == nil || h.AttrValue("name") != "Authorization" || !strings.HasPrefix(h.Text(), "Bearer ") {
		t.Errorf("put without an Authorization header: %s", slot)
	}
	if !strings.Contains(get.AttrValue("url"), "/upload/") || !strings.HasSuffix(get.AttrValue("url"), "/balcony.jpg") {
		t.Errorf("get url %q", get.AttrValue("url"))
	}

	// §5 Example 4: too large, with the limit.
	r = requestSlot(c, "s4", "tomb.mkv", 1<<20+1, "video/x-matroska")
	big := r.Child(nsClient, "error").Child(nsUpload, "file-too-large")
	if stanzaCondition(r) != "modify/not-acceptable" || big == nil || big.Child(nsUpload, "max-file-size").Text() != "1048576" {
		t.Errorf("over-size slot: %s", r)
	}
	// The open 1 MiB slot counts against the 1.5 MiB quota.
	if r := requestSlot(c, "s5", "poison.txt", 1<<20, "text/plain"); stanzaCondition(r) != "wait/resource-constraint" {
		t.Errorf("over-quota slot: %s", r)
	}
	if r := requestSlot(c, "s6", "poison.txt", 100, "text/plain"); r.AttrValue("type") != "result" {
		t.Errorf("slot within the quota: %s", r)
	}
	if r := requestSlot(c, "s7", "x", -1, ""); stanzaCondition(r) != "modify/bad-request" {
		t.Errorf("negative size: %s", r)
	}
	// A file named "." or ".." would have a URL whose last segment a
	// client removes (issue 18): refused.
	for i, name := range []string{".", ".."} {
		if r := requestSlot(c, fmt.Sprintf("dot%d", i), name, 10, "text/plain"); stanzaCondition(r) != "modify/bad-request" {
			t.Errorf("slot for a file named %q: %s", name, r)
		}
	}
	if r := requestSlot(c, "dots", "...", 10, "text/plain"); r.AttrValue("type") != "result" {
		t.Errorf("slot for a file named \"...\": %s", r)
	}
}

// uploader logs user in (password "secret") and into the open room verona,
// whose category allows upload.
func uploader(t *testing.T, ts *testServer, user string) *testClient {
	t.Helper()
	ts.addUser(t, user, "secret")
	c := ts.online(t, user, "secret", "desk")
	ts.createRoom(t, "verona", muc.Open, muc.Normal, nil, nil, nil)
	join(t, c, "verona@conference.localhost", user, "")
	return c
}

// The size limit and the quota change while the server runs
// (Files.SetLimits, on parleyd's SIGHUP): disco and the next slot
// request follow.
func TestUploadLimitsChangeLive(t *testing.T) {
	ts, _ := startUploadServer(t)
	c := uploader(t, ts, "romeo")
	if r := requestSlot(c, "s1", "a.bin", 5000, "application/octet-stream"); r.AttrValue("type") != "result" {
		t.Fatalf("5000-byte slot under a 1 MiB limit: %s", r)
	}
	ts.srv.cfg.Files.SetLimits(4000, -1)
	c.send(`<iq type='get' id='info' to='upload.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	info := c.expect("upload info", func(e *Element) bool { return e.AttrValue("id") == "info" }).Child(nsDiscoInfo, "query")
	if got := formValues(info.Child(nsDataForms, "x"))["max-file-size"]; len(got) != 1 || got[0] != "4000" {
		t.Errorf("disco max-file-size %q after SetLimits(4000), want 4000", got)
	}
	r := requestSlot(c, "s2", "b.bin", 5000, "application/octet-stream")
	if big := r.Child(nsClient, "error").Child(nsUpload, "file-too-large"); big == nil || big.Child(nsUpload, "max-file-size").Text() != "4000" {
		t.Errorf("5000-byte slot under a 4000-byte limit: %s", r)
	}
	// No quota now: slots beyond the old 1.5 MiB quota are given.
	ts.srv.cfg.Files.SetLimits(1<<20, -1)
	for i := range 3 {
		if r := requestSlot(c, fmt.Sprintf("q%d", i), "c.bin", 1<<20, "application/octet-stream"); r.AttrValue("type") != "result" {
			t.Errorf("1 MiB slot %d with no quota: %s", i, r)
		}
	}
}

// XEP-0363 §6: PUT to the slot, GET the file, over a real HTTP socket.
func TestUploadPutGet(t *testing.T) {
	ts, base := startUploadServer(t)
	c := uploader(t, ts, "juliet")

	data := make([]byte, 700_000)
	for i := range data {
		data[i] = byte(i * 31 / 7)
	}
	slot := requestSlot(c, "s1", "Wherefore art thou.bin", int64(len(data)), "application/octet-stream").Child(nsUpload, "slot")
	putURL := slot.Child(nsUpload, "put").AttrValue("url")
	auth := slot.Child(nsUpload, "put").Child(nsUpload, "header").Text()
	getURL := slot.Child(nsUpload, "get").AttrValue("url")
	if !strings.HasPrefix(putURL, base+"/upload/") {
		t.Fatalf("put url %q", putURL)
	}

	do := func(method, u string, body []byte, header ...string) *http.Response {
		t.Helper()
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, u, rd)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	ct := "application/octet-stream"
	if resp := do("GET", getURL, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET before upload: %s", resp.Status)
	}
	if resp := do("PUT", putURL, data, "Content-Type", ct); resp.StatusCode != http.StatusForbidden {
		t.Errorf("PUT without the token: %s", resp.Status)
	}
	if resp := do("PUT", putURL, data, "Content-Type", ct, "Authorization", auth+"x"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("PUT with a wrong token: %s", resp.Status)
	}
	if resp := do("PUT", putURL, append(data, 1), "Content-Type", ct, "Authorization", auth); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("PUT of one byte more: %s", resp.Status)
	}
	if resp := do("PUT", putURL, data[1:], "Content-Type", ct, "Authorization", auth); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("PUT of one byte less: %s", resp.Status)
	}
	if resp := do("PUT", putURL, data, "Content-Type", "text/html", "Authorization", auth); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("PUT with another Content-Type: %s", resp.Status)
	}
	if resp := do("PUT", putURL, data, "Content-Type", ct, "Authorization", auth); resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("PUT: %s %s", resp.Status, b)
	}
	if resp := do("PUT", putURL, data, "Content-Type", ct, "Authorization", auth); resp.StatusCode != http.StatusForbidden {
		t.Errorf("second PUT to a single-use slot: %s", resp.Status)
	}

	resp := do("GET", getURL, nil)
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("GET: %s, %d bytes (want %d)", resp.Status, len(got), len(data))
	}
	if h := resp.Header; h.Get("Content-Type") != ct || h.Get("Content-Length") != fmt.Sprint(len(data)) ||
		h.Get("Content-Disposition") != `attachment; filename="Wherefore art thou.bin"` {
		t.Errorf("GET headers %v", h)
	}
	if resp := do("HEAD", getURL, nil); resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(data)) {
		t.Errorf("HEAD: %s, length %d", resp.Status, resp.ContentLength)
	}
	// A range across a chunk boundary (256 KiB).
	resp = do("GET", getURL, nil, "Range", "bytes=262140-262150")
	got, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, data[262140:262151]) {
		t.Errorf("range GET: %s %x", resp.Status, got)
	}
	if resp := do("GET", base+"/upload/AAAAAAAAAAAAAAAAAAAAAA/x", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of an unknown file: %s", resp.Status)
	}

	// Compliance: one upload (with the hash), two downloads (GETs, not
	// the HEAD), from the outbox.
	evs, err := ts.store.ReadOutbox(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		if strings.HasPrefix(ev.Type, "file.") {
			types = append(types, ev.Type)
			if ev.Type == "file.upload" && (ev.Actor != "juliet@localhost" || !strings.Contains(string(ev.Payload), fmt.Sprintf("%x", sha256.Sum256(data)))) {
				t.Errorf("upload event %+v %s", ev, ev.Payload)
			}
		}
	}
	if strings.Join(types, " ") != "file.upload file.download file.download" {
		t.Errorf("file events %v", types)
	}
}

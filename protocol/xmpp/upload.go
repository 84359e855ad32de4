package xmpp

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// HTTP File Upload (XEP-0363) at upload.DOMAIN: the slot IQ here, the PUT
// and GET on the HTTP listener (UploadHandler). The rules (who may upload,
// size limit, quota, single-use slots, storage in the database, compliance
// capture) are the room engine's: muc.Files.

const (
	nsUpload          = "urn:xmpp:http:upload:0"
	defaultUploadHost = "upload"
	// uploadPath is where the HTTP handler serves files:
	// /upload/ID/NAME for PUT, GET and HEAD.
	uploadPath = "/upload/"
)

// uploadDomain is the upload service's JID, or "" if there is none.
func (s *Server) uploadDomain() string {
	if s.cfg.Files == nil {
		return ""
	}
	return defaultUploadHost + "." + s.cfg.Domain
}

// registerUpload declares the upload service to disco, with the
// max-file-size form (XEP-0363 §2, XEP-0128), and answers slot requests.
// Messages and presence to it are the mux's default: service-unavailable
// and dropped.
func (s *Server) registerUpload() {
	s.mux.entity(toUploadService, entity{category: "store", typ: "file", name: "HTTP File Upload",
		jid: s.uploadDomain(), listed: "HTTP File Upload",
		about: func(context.Context, *request) (entityState, error) {
			f := newForm("result", nsUpload)
			f.field("max-file-size", "", strconv.FormatInt(s.cfg.Files.MaxFileSize(), 10))
			return entityState{forms: []*Element{f.el}}, nil
		}})
	// Slots are for this server's users: a user of another server
	// uploads to its own (localOnly: service-unavailable).
	s.mux.iq(toUploadService, "get", nsUpload, "request", s.uploadSlot, advertise(nsUpload), localOnly)
}

// uploadSlot answers a slot request (XEP-0363 §4) or refuses it (§5).
func (s *Server) uploadSlot(ctx context.Context, r *request) (*Element, error) {
	req := r.payload
	size, err := strconv.ParseInt(req.AttrValue("size"), 10, 64)
	if err != nil || size < 0 {
		return nil, errBadRequest("size must be a number of bytes")
	}
	slot, err := s.cfg.Files.RequestSlot(ctx, muc.SlotRequest{
		User: r.from.bareJID(), Name: req.AttrValue("filename"), Size: size,
		ContentType: req.AttrValue("content-type"),
	})
	if err != nil {
		return nil, s.uploadError(err)
	}
	u := s.fileURL(slot.File)
	return NewElement(nsUpload, "slot").Append(
		NewElement(nsUpload, "put", "url", u).Append(
			NewElement(nsUpload, "header", "name", "Authorization").AppendText("Bearer "+slot.Token)),
		NewElement(nsUpload, "get", "url", u),
	), nil
}

// fileURL is where a file is uploaded and downloaded: the random id makes
// it unguessable, the name is for people and clients that show it.
func (s *Server) fileURL(f storage.File) string {
	return strings.TrimRight(s.cfg.UploadURL, "/") + uploadPath + f.ID + "/" + url.PathEscape(f.Name)
}

// uploadError is the error for a refused slot request, with XEP-0363 §5's
// <file-too-large/> where it applies.
func (s *Server) uploadError(err error) error {
	var tooBig *muc.FileTooLargeError
	switch {
	case errors.As(err, &tooBig):
		serr := errNotAcceptable(fmt.Sprintf("File too large: the maximum file size is %d bytes", tooBig.Max))
		serr.App = NewElement(nsUpload, "file-too-large").Append(
			NewElement(nsUpload, "max-file-size").AppendText(strconv.FormatInt(tooBig.Max, 10)))
		return serr
	case errors.Is(err, storage.ErrQuotaExceeded):
		return errResourceConstraint("Upload quota reached: try again once an unused slot has expired")
	}
	return err // a stanza error, a room engine refusal, or internal (mux.go)
}

// UploadHandler serves the files of XEP-0363 over HTTP, to be mounted at
// /upload/ on the HTTP listener: PUT stores a slot's file (201 Created),
// GET and HEAD return it (with ranges). It is nil when uploads are off.
func (s *Server) UploadHandler() http.Handler {
	if s.cfg.Files == nil {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT "+uploadPath+"{id}/{name}", s.putFile)
	mux.HandleFunc("GET "+uploadPath+"{id}/{name}", s.getFile)
	return mux
}

// putFile stores an upload (XEP-0363 §6): the slot's token in
// Authorization, exactly the announced size, the announced content type.
func (s *Server) putFile(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	files := s.cfg.Files
	id := r.PathValue("id")
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	slot, err := files.CheckSlot(ctx, id, token)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	switch {
	case r.ContentLength < 0:
		http.Error(w, "Content-Length is required", http.StatusLengthRequired)
		return
	case r.ContentLength > slot.Size:
		http.Error(w, fmt.Sprintf("the slot is for %d bytes", slot.Size), http.StatusRequestEntityTooLarge)
		return
	case r.ContentLength != slot.Size:
		http.Error(w, fmt.Sprintf("the slot is for %d bytes, not %d", slot.Size, r.ContentLength), http.StatusBadRequest)
		return
	case slot.ContentType != "" && !sameMediaType(r.Header.Get("Content-Type"), slot.ContentType):
		http.Error(w, fmt.Sprintf("the slot is for Content-Type %s", slot.ContentType), http.StatusBadRequest)
		return
	}
	// A large file on a slow link takes longer than the listener's
	// default timeouts allow.
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(uploadTime(slot.Size))
	_ = rc.SetReadDeadline(deadline)
	_ = rc.SetWriteDeadline(deadline)
	if _, err := files.Upload(ctx, id, token, r.Body, uploadInfo(r)); err != nil {
		s.httpError(w, r, err)
		return
	}
	w.Header().Set("Location", s.cfg.UploadURL+r.URL.EscapedPath())
	w.WriteHeader(http.StatusCreated)
}

// uploadTime allows a transfer at 64 kB/s plus a minute.
func uploadTime(size int64) time.Duration {
	return time.Minute + time.Duration(size/(64<<10))*time.Second
}

// sameMediaType compares content types without their parameters' spelling.
func sameMediaType(a, b string) bool {
	ma, _, errA := mime.ParseMediaType(a)
	mb, _, errB := mime.ParseMediaType(b)
	if errA != nil || errB != nil {
		return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	return ma == mb
}

// getFile serves a file with its type and name; http.ServeContent does
// HEAD, Range and conditional requests.
func (s *Server) getFile(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	files := s.cfg.Files
	f, err := files.File(ctx, r.PathValue("id"))
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	if r.Method == http.MethodGet {
		if err := files.RecordDownload(ctx, f, uploadInfo(r)); err != nil {
			s.httpError(w, r, err)
			return
		}
	}
	h := w.Header()
	ctype := f.ContentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h.Set("Content-Type", ctype)
	disposition := "attachment"
	// Media is shown in the page; anything that could be active
	// content (HTML, SVG with its scripts, PDF, ...) is downloaded.
	if t, sub, _ := strings.Cut(ctype, "/"); (t == "image" || t == "audio" || t == "video") && !strings.HasPrefix(strings.ToLower(sub), "svg") {
		disposition = "inline"
	}
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": f.Name}))
	// Uploaded content is never run as a page of this origin.
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	h.Set("ETag", fmt.Sprintf(`"%x"`, f.SHA256))
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(uploadTime(f.Size)))
	http.ServeContent(w, r, "", f.Uploaded, files.Reader(ctx, f))
}

func uploadInfo(r *http.Request) muc.UploadInfo {
	remote := r.RemoteAddr
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	return muc.UploadInfo{Remote: remote, UserAgent: r.UserAgent()}
}

// httpError maps upload and download failures to HTTP statuses, in one
// place.
func (s *Server) httpError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, muc.ErrNoSlot):
		http.Error(w, "no such upload slot, or it expired or was used", http.StatusForbidden)
	case errors.Is(err, muc.ErrSizeMismatch):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case muc.CodeOf(err) == muc.CodeNotFound:
		http.Error(w, "no such file", http.StatusNotFound)
	case r.Context().Err() != nil:
		// The client went away; there is no one to answer.
	default:
		s.log.Error("http upload", "method", r.Method, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

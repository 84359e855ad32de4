package xmpp

import (
	"context"
	"strconv"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/storage"
)

// Message Archive Management (XEP-0313, urn:xmpp:mam:2) on rooms, with
// Result Set Management paging (XEP-0059) and full-text search
// (XEP-0431).

const (
	nsMAM      = "urn:xmpp:mam:2"
	nsRSM      = "http://jabber.org/protocol/rsm"
	nsForward  = "urn:xmpp:forward:0"
	nsFullText = "urn:xmpp:fulltext:0"
	// fieldFullText is XEP-0431's field, in Clark notation.
	fieldFullText = "{urn:xmpp:fulltext:0}fulltext"
)

// MAM page sizes (XEP-0313 §5.4 lets the server cap them).
const (
	mamDefaultPage = 50
	mamMaxPage     = 250
)

// registerMAM registers archive queries on rooms, and says so on the
// service too (clients look there first).
func (m *mucService) registerMAM(mx *mux) {
	mam := []regOption{advertise(nsMAM, nsFullText), advertiseAt(toMUCService, nsMAM, nsFullText)}
	mx.iq(toRoom, "get", nsMAM, "query", func(context.Context, *request) (*Element, error) { return mamForm(), nil }, mam...)
	mx.stanza(toRoom, "iq", "set", nsMAM, "query", m.mamQuery, mam...)
}

// mamForm is the query form a client fetches before searching (XEP-0313
// §6.1.1).
func mamForm() *Element {
	f := newForm("form", nsMAM)
	f.add("with", "jid-single", "Occupant or user")
	f.add("start", "text-single", "From (XEP-0082 date-time)")
	f.add("end", "text-single", "To (XEP-0082 date-time)")
	f.add("before-id", "text-single", "Before this archive id")
	f.add("after-id", "text-single", "After this archive id")
	f.add(fieldFullText, "text-single", "Full-text search")
	return NewElement(nsMAM, "query").Append(f.el)
}

// mamParams are a MAM query's fields (XEP-0313 §4.1, and the
// before-id, after-id and ids of urn:xmpp:mam:2#extended), its full-text
// search (XEP-0431) and its RSM set (XEP-0059), before an archive maps
// the ids to its own order: the rooms' and the accounts' archives read
// the same query.
type mamParams struct {
	queryID           string
	with              string // as given; "" for none
	start, end        time.Time
	afterID, beforeID string // form fields
	ids               []string
	fullText          string
	limit             int // 0: only the count (XEP-0059 §2.6)
	rsmAfter          string
	rsmBefore         string
	last              bool // <before/> given: the page at the end
	flip              bool // <flip-page/> (#extended): the page in reverse
}

// parseMAM reads a <query/> of urn:xmpp:mam:2.
func parseMAM(q *Element) (mamParams, error) {
	p := mamParams{queryID: q.AttrValue("queryid"), limit: mamDefaultPage, flip: q.Child(nsMAM, "flip-page") != nil}
	values := formValues(q.Child(nsDataForms, "x"))
	parseTime := func(field string) (time.Time, bool) {
		v, ok := first(values, field)
		if !ok || v == "" {
			return time.Time{}, true
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		return t, err == nil
	}
	var ok bool
	if p.start, ok = parseTime("start"); !ok {
		return p, errBadRequest("start is not an XEP-0082 date-time")
	}
	if p.end, ok = parseTime("end"); !ok {
		return p, errBadRequest("end is not an XEP-0082 date-time")
	}
	p.with, _ = first(values, "with")
	p.fullText, _ = first(values, fieldFullText)
	p.fullText = strings.TrimSpace(p.fullText)
	p.afterID, _ = first(values, "after-id")
	p.beforeID, _ = first(values, "before-id")
	p.ids = values["ids"]
	if set := q.Child(nsRSM, "set"); set != nil {
		if max := set.Child(nsRSM, "max"); max != nil {
			n, err := strconv.Atoi(strings.TrimSpace(max.Text()))
			if err != nil || n < 0 {
				return p, errBadRequest("RSM max must be a non-negative integer")
			}
			p.limit = min(n, mamMaxPage)
		}
		if after := set.Child(nsRSM, "after"); after != nil {
			p.rsmAfter = after.Text()
		}
		if before := set.Child(nsRSM, "before"); before != nil {
			// <before/> empty: the last page (XEP-0059 §2.5).
			p.last, p.rsmBefore = true, before.Text()
		}
	}
	return p, nil
}

// mamFin is the <fin/> of a page (XEP-0313 §4.2, XEP-0059 §2.1): the ids
// of its first and last message, the count when asked for it (count >=
// 0), complete when the page reaches the end of the results.
func mamFin(firstID, lastID string, count int, complete bool) *Element {
	fin := NewElement(nsMAM, "fin")
	set := NewElement(nsRSM, "set")
	if firstID != "" {
		set.Append(NewElement(nsRSM, "first").AppendText(firstID))
		set.Append(NewElement(nsRSM, "last").AppendText(lastID))
	}
	if count >= 0 {
		set.Append(NewElement(nsRSM, "count").AppendText(strconv.Itoa(count)))
	}
	fin.Append(set)
	if complete {
		// XEP-0313 §5.3: complete is set on the page that reaches the
		// end of the results, and omitted otherwise.
		fin.SetAttr("complete", "true")
	}
	return fin
}

// mamResult wraps one archived message as a <result/> message from the
// archive to the querying session (XEP-0313 §4.2). The stamp keeps the microseconds the archive keeps (XEP-0082 allows
// any fraction): history imported from ejabberd, which stamps in
// microseconds, reads back with the times it had there.
func mamResult(archive, to, queryID, id string, at time.Time, inner *Element) []byte {
	fwd := NewElement(nsForward, "forwarded").Append(
		NewElement(nsDelay, "delay", "stamp", at.UTC().Format("2006-01-02T15:04:05.000000Z")), inner)
	res := NewElement(nsMAM, "result", "queryid", queryID, "id", id).Append(fwd)
	return NewElement(nsClient, "message", "from", archive, "to", to, "id", randomID(6)).Append(res).Bytes()
}

// mamQuery answers a MAM query on a room: the matching messages as
// <result/> messages, then the IQ result with <fin/>.
// It answers itself, with the page and the result in one batch: the page
// is a server-made burst that may exceed the session's queue limit.
func (m *mucService) mamQuery(ctx context.Context, r *request) error {
	iq, room, q, sender := r.el, roomName(r.to), r.payload, r.from.bareJID()
	p, err := parseMAM(q)
	if err != nil {
		return err
	}
	queryID := p.queryID
	hq := storage.HistoryQuery{Room: room, Limit: p.limit, Start: p.start, End: p.end, FullText: p.fullText, Last: p.last}
	if p.with != "" {
		j, err := jid.Parse(p.with)
		if err != nil {
			return errJIDMalformed("with")
		}
		// XEP-0313 §5.1.1: in a MUC archive, with is an occupant JID;
		// a bare user JID matches that user's real identity.
		if j.Domainpart() == m.domain && roomName(j) == room && j.Resourcepart() != "" {
			hq.With = j.Resourcepart()
		} else {
			hq.With = j.Bare().String()
		}
	}
	seqOf := func(id string) (int64, error) {
		msg, err := m.engine.Message(ctx, sender, room, id)
		if err != nil {
			if isNotFound(err) {
				return 0, errItemNotFound("no archived message " + id)
			}
			return 0, err
		}
		return msg.Seq, nil
	}
	if p.afterID != "" {
		if hq.AfterSeq, err = seqOf(p.afterID); err != nil {
			return err
		}
	}
	if p.beforeID != "" {
		if hq.BeforeSeq, err = seqOf(p.beforeID); err != nil {
			return err
		}
	}
	if p.rsmAfter != "" {
		seq, err := seqOf(p.rsmAfter)
		if err != nil {
			return err
		}
		hq.AfterSeq = max(hq.AfterSeq, seq)
	}
	if p.rsmBefore != "" {
		seq, err := seqOf(p.rsmBefore)
		if err != nil {
			return err
		}
		if hq.BeforeSeq == 0 || seq < hq.BeforeSeq {
			hq.BeforeSeq = seq
		}
	}
	var msgs []storage.HistoryMessage
	complete := true
	count := -1
	if hq.Limit > 0 {
		var err error
		msgs, complete, err = m.engine.History(ctx, sender, "mam", hq)
		if err != nil {
			return err
		}
	} else {
		// <max>0</max> asks only for the count (XEP-0059 §2.6).
		n, err := m.engine.CountHistory(ctx, sender, hq)
		if err != nil {
			return err
		}
		count, complete = n, n == 0
	}
	to := r.from.fullJID().String()
	// A page is a server-made burst bounded by mamMaxPage: queued at
	// once, past the session's queue limit if need be.
	batch := make([][]byte, 0, len(msgs)+1)
	for i := range msgs {
		h := &msgs[i]
		inner := m.groupchatMessage(h, "", "")
		inner.SetAttr("to", "")
		batch = append(batch, mamResult(m.roomJID(room), to, queryID, h.StanzaID, h.Time, inner))
	}
	firstID, lastID := "", ""
	if len(msgs) > 0 {
		firstID, lastID = msgs[0].StanzaID, msgs[len(msgs)-1].StanzaID
	}
	fin := mamFin(firstID, lastID, count, complete)
	batch = append(batch, NewElement(nsClient, "iq", "type", "result", "id", iq.AttrValue("id"), "from", m.roomJID(room), "to", to).Append(fin).Bytes())
	r.from.sendBatch(batch)
	return nil
}

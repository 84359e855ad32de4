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

// mamQuery answers a MAM query on a room: the matching messages as
// <result/> messages, then the IQ result with <fin/>.
// It answers itself, with the page and the result in one batch: the page
// is a server-made burst that may exceed the session's queue limit.
func (m *mucService) mamQuery(ctx context.Context, r *request) error {
	iq, room, q, sender := r.el, roomName(r.to), r.payload, r.from.bareJID()
	queryID := q.AttrValue("queryid")
	hq := storage.HistoryQuery{Room: room, Limit: mamDefaultPage}
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
	if hq.Start, ok = parseTime("start"); !ok {
		return errBadRequest("start is not an XEP-0082 date-time")
	}
	if hq.End, ok = parseTime("end"); !ok {
		return errBadRequest("end is not an XEP-0082 date-time")
	}
	if w, _ := first(values, "with"); w != "" {
		j, err := jid.Parse(w)
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
	hq.FullText, _ = first(values, fieldFullText)
	hq.FullText = strings.TrimSpace(hq.FullText)
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
	if id, _ := first(values, "after-id"); id != "" {
		seq, err := seqOf(id)
		if err != nil {
			return err
		}
		hq.AfterSeq = seq
	}
	if id, _ := first(values, "before-id"); id != "" {
		seq, err := seqOf(id)
		if err != nil {
			return err
		}
		hq.BeforeSeq = seq
	}
	if set := q.Child(nsRSM, "set"); set != nil {
		if max := set.Child(nsRSM, "max"); max != nil {
			n, err := strconv.Atoi(strings.TrimSpace(max.Text()))
			if err != nil || n < 0 {
				return errBadRequest("RSM max must be a non-negative integer")
			}
			hq.Limit = min(n, mamMaxPage)
		}
		if after := set.Child(nsRSM, "after"); after != nil && after.Text() != "" {
			seq, err := seqOf(after.Text())
			if err != nil {
				return err
			}
			hq.AfterSeq = max(hq.AfterSeq, seq)
		}
		if before := set.Child(nsRSM, "before"); before != nil {
			// <before/> empty: the last page (XEP-0059 §2.5).
			hq.Last = true
			if id := before.Text(); id != "" {
				seq, err := seqOf(id)
				if err != nil {
					return err
				}
				if hq.BeforeSeq == 0 || seq < hq.BeforeSeq {
					hq.BeforeSeq = seq
				}
			}
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
		fwd := NewElement(nsForward, "forwarded").Append(
			NewElement(nsDelay, "delay", "stamp", h.Time.UTC().Format("2006-01-02T15:04:05.000Z")), inner)
		res := NewElement(nsMAM, "result", "queryid", queryID, "id", h.StanzaID).Append(fwd)
		batch = append(batch, NewElement(nsClient, "message", "from", m.roomJID(room), "to", to, "id", randomID(6)).Append(res).Bytes())
	}
	fin := NewElement(nsMAM, "fin")
	set := NewElement(nsRSM, "set")
	if len(msgs) > 0 {
		set.Append(NewElement(nsRSM, "first").AppendText(msgs[0].StanzaID))
		set.Append(NewElement(nsRSM, "last").AppendText(msgs[len(msgs)-1].StanzaID))
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
	batch = append(batch, NewElement(nsClient, "iq", "type", "result", "id", iq.AttrValue("id"), "from", m.roomJID(room), "to", to).Append(fin).Bytes())
	r.from.sendBatch(batch)
	return nil
}

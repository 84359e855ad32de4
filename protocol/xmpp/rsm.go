package xmpp

import (
	"strconv"
	"strings"
)

// XEP-0059 Result Set Management over a list the server holds in full and
// in a stable order (disco#items room lists): each item has an id (its
// room JID, or its node), and a request pages through the list by
// <max/>, <after/>, <before/> and <index/>.

// discoItemsPage is how many items a disco#items room list gives when the
// request sets no <max/> (or a larger one): a list longer than that comes
// with a result set to page on (XEP-0059 §2.1 lets the responder limit
// the items; it must then say so with <set/>).
const discoItemsPage = 500

// rsmPage returns the items of the page req asks for (req nil: the first
// discoItemsPage), and the <set/> to answer with — nil when the request
// had none and the list fits on one page, so that clients that know
// nothing of RSM see a plain list.
func rsmPage(items []*Element, ids []string, req *Element) ([]*Element, *Element, error) {
	limit, from, to := discoItemsPage, 0, len(items)
	lastPage := false
	if req != nil {
		if m := req.Child(nsRSM, "max"); m != nil {
			n, err := strconv.Atoi(strings.TrimSpace(m.Text()))
			if err != nil || n < 0 {
				return nil, nil, errBadRequest("RSM max must be a non-negative integer")
			}
			limit = min(n, discoItemsPage)
		}
		find := func(id string) (int, error) {
			for i, v := range ids {
				if v == id {
					return i, nil
				}
			}
			// XEP-0059 §2.3: an unknown id is item-not-found.
			return 0, errItemNotFound("no item " + id + " in this list")
		}
		if a := req.Child(nsRSM, "after"); a != nil && a.Text() != "" {
			i, err := find(a.Text())
			if err != nil {
				return nil, nil, err
			}
			from = i + 1
		}
		if b := req.Child(nsRSM, "before"); b != nil {
			lastPage = true
			if b.Text() != "" {
				i, err := find(b.Text())
				if err != nil {
					return nil, nil, err
				}
				to = i
			}
		}
		if x := req.Child(nsRSM, "index"); x != nil && !lastPage {
			n, err := strconv.Atoi(strings.TrimSpace(x.Text()))
			if err != nil || n < 0 {
				return nil, nil, errBadRequest("RSM index must be a non-negative integer")
			}
			from = min(n, len(items))
		}
	}
	from, to = min(from, to), max(from, to)
	if lastPage {
		from = max(from, to-limit)
	} else {
		to = min(to, from+limit)
	}
	page := items[from:to]
	if req == nil && len(page) == len(items) {
		return page, nil, nil
	}
	set := NewElement(nsRSM, "set")
	if len(page) > 0 {
		set.Append(NewElement(nsRSM, "first", "index", strconv.Itoa(from)).AppendText(ids[from]))
		set.Append(NewElement(nsRSM, "last").AppendText(ids[to-1]))
	}
	set.Append(NewElement(nsRSM, "count").AppendText(strconv.Itoa(len(items))))
	return page, set, nil
}

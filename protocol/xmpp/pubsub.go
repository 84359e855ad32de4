package xmpp

import (
	"context"
	"errors"
	"strconv"

	"mellium.im/xmpp/pubsub"

	"github.com/parleychat/parley/pep"
	"github.com/parleychat/parley/storage"
)

// The publish-subscribe subset (XEP-0060) every account offers as its
// personal eventing service (XEP-0163): publish with item ids and
// publish-options, retrieve items (all, the newest N, by id), retract,
// create with configuration, configure, delete and purge. Subscriptions
// are implicit: presence subscribers whose capabilities ask for a node's
// notifications get them (pep.go). Namespaces and condition names are
// mellium.im/xmpp/pubsub's; its functions are a client's (they send IQs on
// a mellium session), so the wire here is written with Parley's Element.
// The rules (access models, defaults, preconditions) are package pep's.

// pubsubFeature is a XEP-0060 §10 feature.
func pubsubFeature(f pubsub.Feature) string { return pubsub.NS + "#" + f.String() }

func (s *Server) registerPubSub() {
	features := []string{pubsub.NS}
	for _, f := range []pubsub.Feature{
		pubsub.FeaturePublish, pubsub.FeaturePublishOptions, pubsub.FeatureRetrieveItems,
		pubsub.FeatureRetractItems, pubsub.FeatureDeleteItems, pubsub.FeatureItemIDs,
		pubsub.FeatureAutoCreate, pubsub.FeatureCreateNodes, pubsub.FeatureCreateAndConfigure,
		pubsub.FeatureConfigNode, pubsub.FeatureRetrieveDefault, pubsub.FeatureDeleteNodes,
		pubsub.FeaturePurgeNodes, pubsub.FeaturePersistentItems, pubsub.FeatureLastPublished,
		pubsub.FeaturePresenceNotifications, pubsub.FeatureFilteredNotifications,
		pubsub.FeatureAccessOpen, pubsub.FeatureAccessPresence, pubsub.FeatureAccessWhitelist,
	} {
		features = append(features, pubsubFeature(f))
	}
	s.mux.iq(toAccount, "get", pubsub.NS, "pubsub", s.pubsubGet, advertise(features...))
	s.mux.iq(toAccount, "set", pubsub.NS, "pubsub", s.pubsubSet, advertise(pubsubFeature(pubsub.FeaturePublish)))
	s.mux.iq(toAccount, "get", pubsub.NSOwner, "pubsub", s.pubsubOwnerGet, advertise(pubsub.NSOwner, pubsubFeature(pubsub.FeatureConfigNode)))
	s.mux.iq(toAccount, "set", pubsub.NSOwner, "pubsub", s.pubsubOwnerSet, advertise(pubsubFeature(pubsub.FeatureDeleteNodes)))
}

// pubsubErr maps pep's refusals to XEP-0060's errors.
func pubsubErr(err error) error {
	app := func(c pubsub.Condition) *Element { return NewElement(pubsub.NSErrors, c.String()) }
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pep.ErrNodeNotFound), errors.Is(err, pep.ErrItemNotFound):
		return errItemNotFound("")
	case errors.Is(err, pep.ErrNotOwner):
		return errForbidden("only the account itself may change its nodes")
	case errors.Is(err, pep.ErrPresenceRequired):
		return &StanzaError{Type: "auth", Condition: "not-authorized", App: app(pubsub.CondPresenceRequired)}
	case errors.Is(err, pep.ErrClosedNode):
		return &StanzaError{Type: "cancel", Condition: "not-allowed", App: app(pubsub.CondClosedNode)}
	case errors.Is(err, pep.ErrNodeExists):
		return &StanzaError{Type: "cancel", Condition: "conflict", Text: "the node exists"}
	case errors.Is(err, pep.ErrPrecondition):
		return &StanzaError{Type: "cancel", Condition: "conflict", Text: err.Error(), App: NewElement(pubsub.NSErrors, "precondition-not-met")}
	case errors.Is(err, pep.ErrInvalidOptions):
		return &StanzaError{Type: "modify", Condition: "not-acceptable", Text: err.Error(), App: app(pubsub.CondInvalidOptions)}
	}
	return err
}

// unsupported is the refusal of a XEP-0060 feature Parley does not offer
// (§10: feature-not-implemented with <unsupported feature='…'/>).
func unsupported(feature string) *StanzaError {
	return &StanzaError{Type: "cancel", Condition: "feature-not-implemented",
		App: NewElement(pubsub.NSErrors, "unsupported", "feature", feature)}
}

func nodeRequired() *StanzaError {
	return &StanzaError{Type: "modify", Condition: "bad-request", App: NewElement(pubsub.NSErrors, pubsub.CondNodeIDRequired.String())}
}

// pubsubGet retrieves items (XEP-0060 §6.5): all, the newest max_items,
// or those named.
func (s *Server) pubsubGet(ctx context.Context, r *request) (*Element, error) {
	op := firstChild(r.payload)
	if op == nil {
		return nil, errBadRequest("empty pubsub request")
	}
	switch op.Name.Local {
	case "items":
	case "subscriptions", "affiliations":
		return nil, unsupported("retrieve-" + op.Name.Local)
	default:
		return nil, unsupported(op.Name.Local)
	}
	node := op.AttrValue("node")
	if node == "" {
		return nil, nodeRequired()
	}
	max := 0
	if m := op.AttrValue("max_items"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 {
			return nil, errBadRequest("max_items must be a positive number")
		}
		max = n
	}
	var ids []string
	for _, it := range op.Elements() {
		if it.Name.Local == "item" && it.AttrValue("id") != "" {
			ids = append(ids, it.AttrValue("id"))
		}
	}
	_, items, err := s.pep.Items(ctx, r.to.Localpart(), node, r.from.bareJID(), ids, max)
	if err != nil && !(errors.Is(err, pep.ErrItemNotFound)) {
		return nil, pubsubErr(err)
	}
	out := NewElement(pubsub.NS, "items", "node", node)
	for _, it := range items {
		out.Append(itemElement(pubsub.NS, it))
	}
	return NewElement(pubsub.NS, "pubsub").Append(out), nil
}

// itemElement is a stored item as <item id='…'>payload</item> in space.
func itemElement(space string, it storage.PubSubItem) *Element {
	el := NewElement(space, "item", "id", it.ID)
	if p := parseStored(it.Payload); p != nil {
		el.Append(p)
	}
	return el
}

// pubsubSet publishes (§7.1), retracts (§7.2) or creates a node (§8.1).
// Only the account itself changes its nodes.
func (s *Server) pubsubSet(ctx context.Context, r *request) (*Element, error) {
	var op, options *Element
	for _, c := range r.payload.Elements() {
		switch c.Name.Local {
		case "publish-options", "configure":
			options = c.Child(nsDataForms, "x")
		default:
			if op == nil {
				op = c
			}
		}
	}
	if op == nil {
		return nil, errBadRequest("empty pubsub request")
	}
	switch op.Name.Local {
	case "publish", "retract", "create":
	case "subscribe", "unsubscribe", "options":
		// Subscriptions to a personal node are implicit (XEP-0163
		// §4.3: presence and +notify).
		return nil, unsupported(pubsub.FeatureSubscribe.String())
	default:
		return nil, unsupported(op.Name.Local)
	}
	if r.to.String() != r.from.bareJID() {
		return nil, pubsubErr(pep.ErrNotOwner)
	}
	node := op.AttrValue("node")
	if node == "" {
		if op.Name.Local == "create" {
			return nil, unsupported(pubsub.FeatureInstantNodes.String())
		}
		return nil, nodeRequired()
	}
	fields := formValues(options)
	delete(fields, "FORM_TYPE")
	owner := r.to.Localpart()
	switch op.Name.Local {
	case "create":
		_, err := s.pep.Create(ctx, owner, node, fields)
		return nil, pubsubErr(err)
	case "retract":
		item := op.Child(pubsub.NS, "item")
		if item == nil || item.AttrValue("id") == "" {
			return nil, &StanzaError{Type: "modify", Condition: "bad-request", App: NewElement(pubsub.NSErrors, pubsub.CondItemRequired.String())}
		}
		id := item.AttrValue("id")
		n, err := s.pep.Retract(ctx, owner, node, id)
		if err != nil {
			return nil, pubsubErr(err)
		}
		s.pepChanged(ctx, n, NewElement(pubsub.NSEvent, "items", "node", node).Append(NewElement(pubsub.NSEvent, "retract", "id", id)))
		s.pepHook(ctx, r, node)
		return nil, nil
	}
	item := op.Child(pubsub.NS, "item")
	var payload []byte
	id := ""
	if item != nil {
		id = item.AttrValue("id")
		kids := item.Elements()
		if len(kids) > 1 {
			return nil, &StanzaError{Type: "modify", Condition: "bad-request", App: NewElement(pubsub.NSErrors, pubsub.CondInvalidPayload.String())}
		}
		if len(kids) == 1 {
			payload = kids[0].Bytes()
		}
	}
	if payload == nil {
		// PEP nodes deliver payloads (XEP-0163 §3): an item needs one.
		return nil, &StanzaError{Type: "modify", Condition: "bad-request", App: NewElement(pubsub.NSErrors, pubsub.CondPayloadRequired.String())}
	}
	pub, err := s.pep.Publish(ctx, owner, r.from.fullJID().String(), node, id, payload, fields)
	if err != nil {
		return nil, pubsubErr(err)
	}
	s.pepPublished(ctx, pub)
	s.pepHook(ctx, r, node)
	return NewElement(pubsub.NS, "pubsub").Append(
		NewElement(pubsub.NS, "publish", "node", node).Append(NewElement(pubsub.NS, "item", "id", pub.Item.ID))), nil
}

// pepHook runs what keeps other forms of node's data in step.
func (s *Server) pepHook(ctx context.Context, r *request, node string) {
	if h := s.pepHooks[node]; h != nil {
		h(ctx, r.to.Localpart(), r.from.fullJID().String())
	}
}

// pubsubOwnerGet answers a node's configuration form (§8.2) or the
// default one (§8.3).
func (s *Server) pubsubOwnerGet(ctx context.Context, r *request) (*Element, error) {
	op := firstChild(r.payload)
	if op == nil {
		return nil, errBadRequest("empty pubsub request")
	}
	if r.to.String() != r.from.bareJID() {
		return nil, pubsubErr(pep.ErrNotOwner)
	}
	switch op.Name.Local {
	case "default":
		return NewElement(pubsub.NSOwner, "pubsub").Append(
			NewElement(pubsub.NSOwner, "default").Append(configForm(pep.Default(r.to.Localpart(), "")))), nil
	case "configure":
		node := op.AttrValue("node")
		if node == "" {
			return nil, nodeRequired()
		}
		n, err := s.pep.Node(ctx, r.to.Localpart(), node, r.from.bareJID())
		if err != nil {
			return nil, pubsubErr(err)
		}
		return NewElement(pubsub.NSOwner, "pubsub").Append(
			NewElement(pubsub.NSOwner, "configure", "node", node).Append(configForm(n))), nil
	}
	return nil, unsupported(op.Name.Local)
}

// configForm is a node's configuration as a XEP-0004 form.
func configForm(n storage.PubSubNode) *Element {
	f := newForm("form", pep.FormTypeNodeConfig)
	access := f.add(pep.FieldAccessModel, "list-single", "Who may subscribe and retrieve items", n.AccessModel)
	for _, m := range []string{storage.AccessOpen, storage.AccessPresence, storage.AccessWhitelist} {
		option(access, m, m)
	}
	f.add(pep.FieldMaxItems, "text-single", "Most items to keep", pep.Value(n, pep.FieldMaxItems))
	f.add(pep.FieldPersistItems, "boolean", "Keep items", pep.Value(n, pep.FieldPersistItems))
	last := f.add(pep.FieldSendLast, "list-single", "When to send the last published item", n.SendLast)
	for _, m := range []string{storage.SendLastNever, storage.SendLastOnSub, storage.SendLastOnSubAndPresence} {
		option(last, m, m)
	}
	for _, k := range pep.Fields[4:] {
		f.add(k, "boolean", "", "true")
	}
	return f.el
}

// pubsubOwnerSet configures (§8.2.4), deletes (§8.4) or purges (§8.5) a
// node.
func (s *Server) pubsubOwnerSet(ctx context.Context, r *request) (*Element, error) {
	op := firstChild(r.payload)
	if op == nil {
		return nil, errBadRequest("empty pubsub request")
	}
	if r.to.String() != r.from.bareJID() {
		return nil, pubsubErr(pep.ErrNotOwner)
	}
	node := op.AttrValue("node")
	if node == "" {
		return nil, nodeRequired()
	}
	owner := r.to.Localpart()
	switch op.Name.Local {
	case "configure":
		x := op.Child(nsDataForms, "x")
		if x != nil && x.AttrValue("type") == "cancel" {
			return nil, nil
		}
		fields := formValues(x)
		delete(fields, "FORM_TYPE")
		_, err := s.pep.Configure(ctx, owner, node, fields)
		return nil, pubsubErr(err)
	case "delete":
		n, err := s.pep.Delete(ctx, owner, node)
		if err != nil {
			return nil, pubsubErr(err)
		}
		s.pepChanged(ctx, n, NewElement(pubsub.NSEvent, "delete", "node", node))
		return nil, nil
	case "purge":
		n, err := s.pep.Purge(ctx, owner, node)
		if err != nil {
			return nil, pubsubErr(err)
		}
		s.pepChanged(ctx, n, NewElement(pubsub.NSEvent, "purge", "node", node))
		return nil, nil
	}
	return nil, unsupported(op.Name.Local)
}

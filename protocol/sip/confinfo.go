package sip

import (
	"encoding/xml"
	"net/url"

	"github.com/parleychat/parley/muc"
)

// Conference state documents (RFC 4575 §5): the body of the NOTIFYs of a
// room's "conference" subscription.

const (
	confInfoNS          = "urn:ietf:params:xml:ns:conference-info"
	confInfoContentType = "application/conference-info+xml"
)

type confInfo struct {
	XMLName     xml.Name      `xml:"urn:ietf:params:xml:ns:conference-info conference-info"`
	Entity      string        `xml:"entity,attr"`
	State       string        `xml:"state,attr"`
	Version     uint64        `xml:"version,attr"`
	Description *confDesc     `xml:"conference-description,omitempty"`
	Users       confUsersElem `xml:"users"`
}

type confDesc struct {
	DisplayText string `xml:"display-text,omitempty"`
	Subject     string `xml:"subject,omitempty"`
}

type confUsersElem struct {
	State string     `xml:"state,attr"`
	Users []confUser `xml:"user"`
}

type confUser struct {
	Entity      string         `xml:"entity,attr"`
	State       string         `xml:"state,attr"`
	DisplayText string         `xml:"display-text,omitempty"`
	Endpoint    *confEndpoint  `xml:"endpoint,omitempty"`
	Roles       *confUserRoles `xml:"roles,omitempty"`
}

type confUserRoles struct {
	Entry []string `xml:"entry"`
}

type confEndpoint struct {
	Entity string `xml:"entity,attr"`
	State  string `xml:"state,attr"`
	Status string `xml:"status,omitempty"`
}

// userEntity is the URI an occupant is shown as in a roster: its address
// (sip:user@host, RFC 7247 §4) when the room shows real addresses to
// everyone (whois "anyone"), else the room's URI with the occupant's
// XEP-0421 id, which identifies them across nick changes without
// revealing who they are, as XMPP clients see them.
func (s *Server) userEntity(room string, realAddresses bool, o muc.Occupant) string {
	if realAddresses && o.User != "" {
		return "sip:" + o.User
	}
	u := s.roomURI(room)
	return u.String() + ";occupant=" + url.QueryEscape(o.OccupantID)
}

// fullUser is the roster entry of an occupant: every element given.
func (s *Server) fullUser(room string, realAddresses bool, o muc.Occupant) confUser {
	entity := s.userEntity(room, realAddresses, o)
	u := confUser{Entity: entity, State: "full", DisplayText: o.Nick,
		Endpoint: &confEndpoint{Entity: entity, State: "full", Status: "connected"}}
	if o.Role != "" && o.Role != muc.RoleNone {
		u.Roles = &confUserRoles{Entry: []string{string(o.Role)}}
	}
	return u
}

// marshalConfInfo renders a document with its XML declaration.
func marshalConfInfo(doc confInfo) []byte {
	out, err := xml.MarshalIndent(doc, "", " ")
	if err != nil {
		// Only strings and numbers: encoding cannot fail.
		panic("sip: conference-info: " + err.Error())
	}
	return append([]byte(xml.Header), append(out, '\n')...)
}

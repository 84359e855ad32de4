"""slixmpp's MUC (xep_0045), MAM (xep_0313) and RSM (xep_0059) plugins
against parleyd's rooms at conference.DOMAIN.

Needs three accounts: --user owner:PW --user member:PW --user outsider:PW.
--phase says which scenario to run:

room        owner creates a room by joining (201, locked: the member is kept
            out until it is configured), fetches and submits the
            muc#roomconfig form (the room stays members-only), makes the
            member a member through the admin IQ, sets the subject and posts;
            the outsider is refused (registration-required) and may not read
            the archive; the member joins asking for 3 messages of history and
            gets them, then the subject; posts both ways carry the room's
            stanza-id (the same for every recipient), the sender's origin-id
            and an occupant-id; 30 more posts; MAM paged backwards
            (iterate(reverse=True)) and forwards gives every body in order
            with the live stanza-ids; RSM <fin/> 'complete' is right; a
            full-text search ({urn:xmpp:fulltext:0}fulltext, in a form built
            with xep_0004) finds one message among 37, and two for a word in
            two; MAM 'with' an occupant JID and 'start'; rejoins get the
            default 30 messages, none (maxstanzas=0) or those 'since'; a
            participant may not change the subject or kick; a burst of posts
            from both at once is seen in one order by both and by MAM; a post
            after leaving is refused.
kick_ban    owner creates a room and opens it (membersonly=0); the member
            joins; XEP-0410 self-ping; a nick change (303); the owner makes
            the member a member while in the room (no 321: that code means
            "removed"); owner kicks the member (307 to the kicked client,
            self-ping then fails), the member rejoins; XEP-0425 moderation
            (urn:xmpp:message-moderate:1, raw XML: slixmpp 1.8 speaks :0)
            leaves a tombstone in MAM; owner bans the member (301), the rejoin
            is refused with forbidden and the outcast list has them.
access      rooms made with parleyctl before the script (see the Go test):
            the outsider is refused from the closed one (registration-
            required), does not see the secret one in disco#items (the member
            does), and cannot be made a member of a walled-off category's
            room; in the auditorium the member (and the outsider, who may
            join an open one) is a visitor whose post is refused with
            forbidden, while the presenter's goes through.
restart-before / restart-after
            owner creates and configures a room, adds the member, sets the
            subject, both post; after SIGTERM and a restart on the same
            storage the room's settings, members, subject, occupant-ids and
            full history are there, MAM returns it in order with the same
            stanza-ids, and the room takes new posts. --state carries what
            the first phase saw to the second.
presence_broadcast
            owner creates an open room and, in the muc#roomconfig form,
            sets muc#roomconfig_presencebroadcast (list-multi, all three
            roles at first) to moderator only; the member and the outsider
            join and are shown the owner and themselves (110) only, as
            slixmpp's room roster says too; nobody is sent their joins; a
            participant still posts; made a moderator, the member's presence
            reaches the others.
shutdown    owner and member sit in a room and write --state; the Go test
            then stops parleyd with SIGTERM; each must get its unavailable
            self-presence with status 332 before the stream ends.

Checks that should not stop a scenario (so later steps still run) are
"soft": they print FAILED (going on) and fail the script at the end.
"""

import asyncio
import contextlib
import io
import json
import xml.etree.ElementTree as ET
from datetime import datetime

from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout, PresenceError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slixclient import (WAIT, Client, Failure, check, iq, run, soft_failures, step, until,
                        wait_for)

NS_CLIENT = "jabber:client"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_SID = "urn:xmpp:sid:0"
NS_OCC = "urn:xmpp:occupant-id:0"
NS_DELAY = "urn:xmpp:delay"
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FWD = "urn:xmpp:forward:0"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_RETRACT = "urn:xmpp:message-retract:1"
NS_MODERATE = "urn:xmpp:message-moderate:1"
FULLTEXT = "{urn:xmpp:fulltext:0}fulltext"

# ----------------------------------------------------------------------
# Reading stanzas (raw XML: what the server sent, not what a plugin makes
# of it)


def kind(s):
    return s.xml.tag.split("}")[-1]


def text_of(s, name):
    el = s.xml.find(f"{{{NS_CLIENT}}}{name}")
    return None if el is None else (el.text or "")


def stanza_id(s):
    """(id, by) of the XEP-0359 stanza-id, or (None, None)."""
    el = s.xml.find(f"{{{NS_SID}}}stanza-id")
    return (None, None) if el is None else (el.get("id"), el.get("by"))


def origin_id(s):
    el = s.xml.find(f"{{{NS_SID}}}origin-id")
    return None if el is None else el.get("id")


def occupant_id(s):
    el = s.xml.find(f"{{{NS_OCC}}}occupant-id")
    return None if el is None else el.get("id")


def muc_item(s):
    el = s.xml.find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}item")
    return {} if el is None else dict(el.attrib)


def muc_reason(s):
    el = s.xml.find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}item/{{{NS_MUC_USER}}}reason")
    return None if el is None else (el.text or "")


def status_codes(s):
    return {int(el.get("code")) for el in s.xml.findall(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}status")}


def error_condition(s):
    err = s.xml.find(f"{{{NS_CLIENT}}}error")
    if err is None:
        return None
    for c in err:
        if c.tag.startswith(f"{{{NS_STANZAS}}}") and not c.tag.endswith("}text"):
            return c.tag.split("}")[-1]
    return ""


def is_from_room(s, room):
    return s["from"].bare == room


def short(s, n=600):
    x = str(s)
    return x if len(x) <= n else x[:n] + "..."


# ----------------------------------------------------------------------
# A client with the MUC, MAM and RSM plugins


class MUCClient(Client):
    """A Client that also loads xep_0045, xep_0313 (with xep_0059, xep_0297,
    xep_0004) and xep_0359, and records every message and presence it
    gets, in order, in self.seen."""

    def __init__(self, args, user, resource, origin_ids=False, **kw):
        super().__init__(args, user, resource, **kw)
        # xep_0082: join_muc_wait(since=...) needs it but slixmpp 1.8's
        # xep_0045 does not declare it.
        for plugin in ("xep_0004", "xep_0045", "xep_0059", "xep_0082", "xep_0297", "xep_0313",
                       "xep_0359"):
            self.register_plugin(plugin)
        # XEP-0359 origin-id on every message this client sends.
        self.use_origin_id = origin_ids
        self.seen = []
        for name in ("message", "presence"):
            self.register_handler(Callback(f"muc: record {name}s",
                                           MatchXPath(f"{{{NS_CLIENT}}}{name}"), self.seen.append))

    def mark(self):
        return len(self.seen)

    async def expect(self, pred, what, since=0, timeout=WAIT):
        """Wait for a stanza in self.seen[since:] matching pred; return
        (index, stanza)."""
        found = []

        def look():
            for i in range(since, len(self.seen)):
                if pred(self.seen[i]):
                    found.append(i)
                    return True
            return False
        await until(look, f"{self.label}: {what}", timeout)
        return found[0], self.seen[found[0]]

    async def join(self, room, nick, what, **history):
        """xep_0045's join_muc_wait: (self-presence, subject message,
        other occupants' presence, history messages)."""
        # slixmpp 1.8's join_muc_wait print()s every history message's
        # delay; keep that out of the scenario's output.
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                return await wait_for(self.plugin["xep_0045"].join_muc_wait(
                    JID(room), nick, timeout=WAIT, **history), f"{self.label}: {what}", WAIT + 2)
            except PresenceError as e:
                raise Failure(f"{self.label}: {what}: refused with "
                              f"{e.condition!r} ({e.text!r}): {e.presence}") from None
            except asyncio.TimeoutError:
                raise Failure(f"{self.label}: {what}: no self-presence or no subject within "
                              f"{WAIT}s (join_muc_wait timed out)") from None

    async def join_refused(self, room, nick, condition, what):
        """A join that must fail with a presence error of this condition
        (or any, for None); returns the condition."""
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                await wait_for(self.plugin["xep_0045"].join_muc_wait(
                    JID(room), nick, timeout=WAIT, maxstanzas=0), f"{self.label}: {what}", WAIT + 2)
            except PresenceError as e:
                got = e.condition
                check(condition is None or got == condition,
                      f"{self.label}: {what}: refused with {got!r}, want {condition!r}: {e.presence}")
                step(f"   {self.label} refused from {room}: {got} ({e.text!r})")
                return got
            except asyncio.TimeoutError:
                raise Failure(f"{self.label}: {what}: neither joined nor refused within {WAIT}s")
            finally:
                self.plugin["xep_0045"].rooms.pop(JID(room), None)
        raise Failure(f"{self.label}: {what}: the join succeeded; want {condition!r}")

    async def leave(self, room, nick, others=()):
        marks = [(o, o.mark()) for o in others]
        mark = self.mark()
        self.plugin["xep_0045"].leave_muc(JID(room), nick)
        occupant = f"{room}/{nick}"
        await self.expect(lambda s: kind(s) == "presence" and s["from"] == occupant and
                          s["type"] == "unavailable", f"own unavailable presence leaving {room}", mark)
        for o, m in marks:
            await o.expect(lambda s: kind(s) == "presence" and s["from"] == occupant and
                           s["type"] == "unavailable", f"{nick} leaving {room}", m)

    async def post(self, room, body, others=(), msg_id=None):
        """Send a groupchat message and wait until it comes back to the
        sender and to every other client in others, each time with the same
        stanza-id by the room. Returns the reflection the sender got."""
        marks = [(o, o.mark()) for o in others]
        mark = self.mark()
        msg = self.make_message(mto=JID(room), mbody=body, mtype="groupchat")
        if msg_id:
            msg["id"] = msg_id
        # origin_id(), not msg["origin_id"]: with xep_0359 loaded the
        # latter adds an empty <origin-id/> plugin element to the stanza.
        sent_id, sent_origin = msg["id"], origin_id(msg)
        msg.send()

        def match(s):
            return (kind(s) == "message" and is_from_room(s, room) and
                    (s["type"] == "error" or (text_of(s, "body") == body and
                                              s.xml.find(f"{{{NS_DELAY}}}delay") is None)))
        _, mine = await self.expect(match, f"the reflection of {body!r}", mark)
        check(mine["type"] == "groupchat",
              f"{self.label}: posting {body!r}: got an error ({error_condition(mine)!r}): {mine}")
        sid, by = stanza_id(mine)
        check(sid, f"{self.label}: the reflection of {body!r} has no XEP-0359 stanza-id: {mine}")
        check(by == room, f"{self.label}: stanza-id by={by!r}, want the room {room!r}: {mine}")
        check(mine["id"] == sent_id,
              f"{self.label}: the reflection has id {mine['id']!r}, want the sent {sent_id!r} "
              f"(XEP-0045 §7.2.2): {mine}")
        if sent_origin:
            check(origin_id(mine) == sent_origin,
                  f"{self.label}: the reflection has origin-id {origin_id(mine)!r}, want "
                  f"{sent_origin!r}: {mine}")
        check(occupant_id(mine), f"{self.label}: the reflection has no XEP-0421 occupant-id: {mine}")
        for o, m in marks:
            _, theirs = await o.expect(match, f"{self.label}'s {body!r}", m)
            check(theirs["type"] == "groupchat", f"{o.label}: got an error for {body!r}: {theirs}")
            check(stanza_id(theirs) == (sid, by),
                  f"{o.label}: {body!r} has stanza-id {stanza_id(theirs)}, the sender got "
                  f"{(sid, by)}")
            check(theirs["from"] == mine["from"],
                  f"{o.label}: {body!r} from {theirs['from']}, the sender saw {mine['from']}")
            check(occupant_id(theirs) == occupant_id(mine),
                  f"{o.label}: occupant-id {occupant_id(theirs)!r}, sender's reflection had "
                  f"{occupant_id(mine)!r}")
        return mine

    async def post_refused(self, room, body, condition, others=()):
        """A groupchat message the room must bounce with condition; nobody
        gets it."""
        marks = [(o, o.mark()) for o in others]
        mark = self.mark()
        self.send_message(mto=JID(room), mbody=body, mtype="groupchat")
        _, got = await self.expect(
            lambda s: kind(s) == "message" and is_from_room(s, room) and
            (s["type"] == "error" or text_of(s, "body") == body), f"the error for {body!r}", mark)
        check(got["type"] == "error",
              f"{self.label}: {body!r} went through; want an error {condition!r}: {got}")
        check(error_condition(got) == condition,
              f"{self.label}: {body!r} refused with {error_condition(got)!r}, want {condition!r}: {got}")
        await self.sync()
        for o, m in marks:
            await o.sync()
            check(not any(text_of(s, "body") == body for s in o.seen[m:]),
                  f"{o.label} got the refused message {body!r}")
        return got

    async def sync(self):
        await iq(self.plugin["xep_0199"].send_ping(self.args.domain, timeout=WAIT),
                 f"{self.label} ping (sync)")

    # -- MAM ----------------------------------------------------------

    async def mam_iterate(self, room, reverse, page, with_jid=None):
        """xep_0313.iterate over the whole archive of room: the result
        messages in the order slixmpp yields them."""
        out = []

        async def collect():
            async for m in self.plugin["xep_0313"].iterate(
                    jid=JID(room), reverse=reverse, rsm={"max": page},
                    with_jid=JID(with_jid) if with_jid else None):
                out.append(m)
        await wait_for(collect(), f"{self.label}: MAM iterate over {room} "
                       f"({'backwards' if reverse else 'forwards'}, {page} a page)", 20)
        return out

    async def mam_query(self, room, fields=None, rsm=None, what="MAM query"):
        """One MAM query with a form built with xep_0004 and raw RSM:
        returns (result messages, <fin/>, iq result)."""
        q = self.make_iq_set(ito=JID(room))
        qid = q["id"]
        query = ET.SubElement(q.xml, f"{{{NS_MAM}}}query", {"queryid": qid})
        if fields:
            form = self.plugin["xep_0004"].make_form(ftype="submit")
            form.add_field(var="FORM_TYPE", ftype="hidden", value=NS_MAM)
            for var, value in fields.items():
                form.add_field(var=var, value=value)
            query.append(form.xml)
        if rsm:
            rs = ET.SubElement(query, f"{{{NS_RSM}}}set")
            for name, value in rsm.items():
                ET.SubElement(rs, f"{{{NS_RSM}}}{name}").text = value or None
        mark = self.mark()
        res = await iq(q.send(timeout=WAIT), f"{self.label}: {what}")
        results = [s for s in self.seen[mark:] if kind(s) == "message" and
                   s.xml.find(f"{{{NS_MAM}}}result[@queryid='{qid}']") is not None]
        fin = res.xml.find(f"{{{NS_MAM}}}fin")
        check(fin is not None, f"{self.label}: {what}: result without <fin/>: {res}")
        return results, fin, res

    async def mam_refused(self, room, what):
        """A MAM query that must be refused; returns the condition."""
        q = self.make_iq_set(ito=JID(room))
        ET.SubElement(q.xml, f"{{{NS_MAM}}}query", {"queryid": q["id"]})
        mark = self.mark()
        cond = await iq_error(q.send(timeout=WAIT), f"{self.label}: {what}")
        check(not any(s.xml.find(f"{{{NS_MAM}}}result") is not None for s in self.seen[mark:]),
              f"{self.label}: {what}: refused, but archive results came first")
        return cond


def archived(result):
    """(archive id, inner message element, delay stamp) of a MAM result
    message; fails if the forwarded message is not a jabber:client one."""
    r = result.xml.find(f"{{{NS_MAM}}}result")
    check(r is not None, f"not a MAM result: {result}")
    fwd = r.find(f"{{{NS_FWD}}}forwarded")
    check(fwd is not None, f"MAM result without <forwarded/>: {result}")
    inner = fwd.find(f"{{{NS_CLIENT}}}message")
    check(inner is not None, f"MAM result's <forwarded/> has no jabber:client <message/>: {result}")
    delay = fwd.find(f"{{{NS_DELAY}}}delay")
    check(delay is not None and delay.get("stamp"), f"MAM result without a delay stamp: {result}")
    return r.get("id"), inner, delay.get("stamp")


def inner_body(inner):
    b = inner.find(f"{{{NS_CLIENT}}}body")
    return None if b is None else (b.text or "")


def inner_sid(inner):
    el = inner.find(f"{{{NS_SID}}}stanza-id")
    return None if el is None else el.get("id")


def check_archive(label, results, want, sids, room, what):
    """results (MAM result messages, oldest first) must be exactly want
    (bodies, oldest first), with the archive ids equal to the stanza-ids
    the clients saw live (sids: body -> stanza-id)."""
    got = []
    for res in results:
        aid, inner, _ = archived(res)
        body = inner_body(inner)
        got.append(body)
        if body in sids:
            check(aid == sids[body], f"{label}: {what}: {body!r} has archive id {aid!r}; "
                  f"its stanza-id was {sids[body]!r}")
        if inner_sid(inner) is not None:
            check(inner_sid(inner) == aid, f"{label}: {what}: archived {body!r} carries stanza-id "
                  f"{inner_sid(inner)!r} but the result id is {aid!r}")
        frm = inner.get("from", "")
        check(frm.startswith(room + "/"), f"{label}: {what}: archived {body!r} is from {frm!r}, "
              f"want an occupant of {room}")
    if got != want:
        missing = [b for b in want if b not in got]
        extra = [b for b in got if b not in want]
        raise Failure(f"{label}: {what}: {len(got)} messages, want {len(want)}; "
                      f"missing {missing}, unexpected {extra}; got order {got}")


# ----------------------------------------------------------------------
# Shared steps


def service(args):
    return f"conference.{args.domain}"


async def create_room(owner, room, nick, others_kept_out=(), open_it=False, name="", desc=""):
    """owner creates room by joining it, checks it is locked for others
    (item-not-found), fetches the muc#roomconfig form, sets name,
    description and membersonly, and submits it."""
    pres, subject, occupants, history = await owner.join(room, nick, f"create {room} by joining")
    codes = status_codes(pres)
    item = muc_item(pres)
    step(f"   {owner.label} joined {room} as {pres['from'].resource}: status {sorted(codes)}, "
         f"affiliation {item.get('affiliation')}, role {item.get('role')}")
    check(201 in codes and 110 in codes,
          f"a room created by a join must say 201 and 110 (XEP-0045 §10.1.1): {pres}")
    check(item.get("affiliation") == "owner" and item.get("role") == "moderator",
          f"the creator is owner and moderator: {pres}")
    check(occupant_id(pres), f"the self-presence has no XEP-0421 occupant-id: {pres}")
    # join_muc_wait's occupant list includes our own presence.
    others = [o for o in occupants if o["from"] != pres["from"]]
    check(not others and not history, f"a new room has nobody else and no history: "
          f"{others} {history}")
    check(text_of(subject, "subject") == "", f"a new room's subject is empty: {subject}")

    for other, onick in others_kept_out:
        await other.join_refused(room, onick, "item-not-found",
                                 f"join {room} while it is locked (XEP-0045 §10.1.1)")

    form = await iq(owner.plugin["xep_0045"].get_room_config(JID(room), timeout=WAIT),
                    f"get the configuration form of {room}")
    fields = form.get_fields()
    want = ("muc#roomconfig_roomname", "muc#roomconfig_roomdesc", "muc#roomconfig_membersonly",
            "muc#roomconfig_publicroom", "muc#roomconfig_persistentroom",
            "muc#roomconfig_moderatedroom", "muc#roomconfig_whois")
    for var in want:
        check(var in fields, f"the configuration form lacks {var}: {form}")
    # slixmpp 1.8 reads a hidden field as a list of values.
    check(fields["FORM_TYPE"]["value"] in ("http://jabber.org/protocol/muc#roomconfig",
                                           ["http://jabber.org/protocol/muc#roomconfig"]),
          f"FORM_TYPE is {fields['FORM_TYPE']['value']!r}")
    check(fields["muc#roomconfig_membersonly"]["value"] is True,
          f"a new room must be members-only (closed): membersonly is "
          f"{fields['muc#roomconfig_membersonly']['value']!r}")
    step(f"   form has {len(fields)} fields; membersonly="
         f"{fields['muc#roomconfig_membersonly']['value']}, publicroom="
         f"{fields['muc#roomconfig_publicroom']['value']}")
    fields["muc#roomconfig_roomname"]["value"] = name
    fields["muc#roomconfig_roomdesc"]["value"] = desc
    fields["muc#roomconfig_membersonly"]["value"] = not open_it
    mark = owner.mark()
    await iq(owner.plugin["xep_0045"].set_room_config(JID(room), form, timeout=WAIT),
             f"submit the configuration form of {room}")
    _, cfg = await owner.expect(lambda s: kind(s) == "message" and is_from_room(s, room) and
                                104 in status_codes(s), "the status 104 configuration message", mark)
    step(f"   configured {room}: name {name!r}, members-only {not open_it} (104 received)")
    return pres


async def disco_items(c, jid, what):
    res = await iq(c.plugin["xep_0030"].get_items(jid=jid, local=False, timeout=WAIT), what)
    return res["disco_items"]["items"]


async def disco_info(c, jid, what):
    res = await iq(c.plugin["xep_0030"].get_info(jid=jid, local=False, timeout=WAIT), what)
    return res["disco_info"]


def roominfo(info):
    """The muc#roominfo form of a disco#info result, as var -> first value
    (raw XML: slixmpp reads it only with xep_0128 loaded)."""
    out = {}
    for x in info.xml.findall("{jabber:x:data}x"):
        for f in x.findall("{jabber:x:data}field"):
            out[f.get("var")] = f.findtext("{jabber:x:data}value", "")
    return out


async def mam_both_ways(c, room, want, sids, fwd_page, back_page):
    """MAM over room's whole archive with xep_0313.iterate, backwards and
    forwards, must give exactly want (oldest first)."""
    back = await c.mam_iterate(room, reverse=True, page=back_page)
    step(f"   {c.label}: backwards, {back_page} a page: {len(back)} messages, newest "
         f"{inner_body(archived(back[0])[1]) if back else None!r}")
    check_archive(c.label, list(reversed(back)), want, sids, room,
                  f"MAM iterate(reverse=True, max={back_page}) (reversed)")
    fwd = await c.mam_iterate(room, reverse=False, page=fwd_page)
    step(f"   {c.label}: forwards, {fwd_page} a page: {len(fwd)} messages, oldest "
         f"{inner_body(archived(fwd[0])[1]) if fwd else None!r}")
    check_archive(c.label, fwd, want, sids, room, f"MAM iterate(max={fwd_page})")
    stamps = [archived(r)[2] for r in fwd]
    check(stamps == sorted(stamps), f"{c.label}: MAM delay stamps are not in order: {stamps}")


async def soft(what, coro):
    """Run a check that should not stop the scenario; a failure is
    recorded and fails the script at the end."""
    try:
        await coro
        return True
    except Failure as e:
        soft_failures.append(f"{what}: {e}")
        step(f"   FAILED (going on): {what}: {e}")
        return False


def soft_check(what, cond, msg):
    """check(), but the scenario goes on (and still fails at the end)."""
    if not cond:
        soft_failures.append(f"{what}: {msg}")
        step(f"   FAILED (going on): {what}: {msg}")
    return cond


# ----------------------------------------------------------------------
# Phase room


async def phase_room(args):
    d = args.domain
    conf = service(args)
    room = f"project@{conf}"
    member_bare = f"member@{d}"

    step("1. owner, member and outsider log in")
    owner = await MUCClient(args, "owner", "desk").login()
    member = await MUCClient(args, "member", "laptop", origin_ids=True).login()
    outsider = await MUCClient(args, "outsider", "phone").login()

    step("2. disco: the server lists the MUC service; it says what it does")
    items = await disco_items(owner, d, "disco#items on the server")
    check(any(j == conf for j, _, _ in items), f"the server's disco#items lack {conf}: {items}")
    info = await disco_info(owner, conf, f"disco#info on {conf}")
    feats = info["features"]
    for f in ("http://jabber.org/protocol/muc", NS_MAM, NS_SID, NS_OCC, "urn:xmpp:fulltext:0"):
        check(f in feats, f"{conf} disco#info lacks {f}: {feats}")
    check(any(i[0] == "conference" and i[1] == "text" for i in info["identities"]),
          f"{conf} is not a conference/text: {info['identities']}")

    step("3. owner creates the room by joining; it is locked (the member is kept out) "
         "until the owner submits the muc#roomconfig form")
    await create_room(owner, room, "Olive", others_kept_out=[(member, "Max")],
                      name="Project Room", desc="Where the project is discussed")
    form = await iq(owner.plugin["xep_0045"].get_room_config(JID(room), timeout=WAIT),
                    "get the configuration form again")
    f = form.get_fields()
    check(f["muc#roomconfig_roomname"]["value"] == "Project Room" and
          f["muc#roomconfig_roomdesc"]["value"] == "Where the project is discussed" and
          f["muc#roomconfig_membersonly"]["value"] is True,
          f"the configuration did not stick: {form}")
    info = await disco_info(owner, room, f"disco#info on {room}")
    check(info["identities"] and list(info["identities"])[0][3] == "Project Room",
          f"{room}'s disco#info name is not 'Project Room': {info['identities']}")
    for feat in ("muc_membersonly", "muc_public", "muc_persistent", NS_MAM):
        check(feat in info["features"], f"{room} disco#info lacks {feat}: {info['features']}")
    check(roominfo(info).get("muc#roominfo_description") == "Where the project is discussed",
          f"muc#roominfo_description: {roominfo(info)}")

    step("4. the room is closed: the outsider is refused (registration-required) and may "
         "not read its archive")
    await outsider.join_refused(room, "Otto", "registration-required", "join the closed room")
    cond = await outsider.mam_refused(room, "MAM query on the closed room")
    check(cond in ("forbidden", "registration-required", "item-not-found"),
          f"the outsider's MAM query was refused with {cond!r}")
    step(f"   outsider's MAM query refused: {cond}")

    step("5. owner makes the member a member with the admin IQ (set_affiliation)")
    await iq(owner.plugin["xep_0045"].set_affiliation(JID(room), "member", jid=JID(member_bare),
                                                      timeout=WAIT), "set_affiliation member")
    members = await iq(owner.plugin["xep_0045"].get_affiliation_list(JID(room), "member",
                                                                     timeout=WAIT),
                       "get_affiliation_list member")
    check([str(j) for j in members] == [member_bare], f"member list is {members}")
    owners = await iq(owner.plugin["xep_0045"].get_affiliation_list(JID(room), "owner",
                                                                    timeout=WAIT),
                      "get_affiliation_list owner")
    check([str(j) for j in owners] == [f"owner@{d}"], f"owner list is {owners}")
    step(f"   members {[str(j) for j in members]}, owners {[str(j) for j in owners]}")

    step("6. owner sets the subject and posts 5 messages")
    subject = "Sprint 12: ship the rooms"
    mark = owner.mark()
    owner.plugin["xep_0045"].set_subject(JID(room), subject)
    _, s = await owner.expect(lambda s: kind(s) == "message" and is_from_room(s, room) and
                              text_of(s, "subject") is not None, "the subject change", mark)
    check(s["type"] == "groupchat" and text_of(s, "subject") == subject,
          f"subject change came back as {s}")
    sids = {}        # body -> stanza-id, as seen live
    archive = []     # every body, in the order the room took them
    nicks = {}       # body -> the nick that posted it
    for i in range(1, 6):
        body = f"early {i} from Olive"
        sids[body] = stanza_id(await owner.post(room, body))[0]
        archive.append(body)
        nicks[body] = "Olive"

    step("7. member joins with <history maxstanzas='3'/>: the last 3, then the subject")
    mark = member.mark()
    pres, subj, occupants, history = await member.join(room, "Max", "join with maxstanzas=3",
                                                       maxstanzas=3)
    item = muc_item(pres)
    check(item.get("affiliation") == "member" and item.get("role") == "participant",
          f"the member joined as {item}")
    check(110 in status_codes(pres), f"self-presence without 110: {pres}")
    bodies = [text_of(m, "body") for m in history]
    step(f"   history {bodies}; subject {text_of(subj, 'subject')!r} from {subj['from']}")
    check(bodies == archive[-3:], f"history is {bodies}, want the last 3: {archive[-3:]}")
    for m in history:
        check(stanza_id(m) == (sids[text_of(m, 'body')], room),
              f"history message has stanza-id {stanza_id(m)}, live it was "
              f"{sids[text_of(m, 'body')]}: {m}")
        check(m["from"] == f"{room}/Olive", f"history message from {m['from']}")
    check(text_of(subj, "subject") == subject, f"subject on join is {subj}")
    # XEP-0045 §7.2: occupants' presence, self-presence, history, subject.
    order = [(kind(s), text_of(s, "body"), text_of(s, "subject")) for s in member.seen[mark:]
             if is_from_room(s, room)]
    idx_self = next(i for i, s in enumerate(member.seen[mark:]) if s is pres)
    idx_subj = next(i for i, s in enumerate(member.seen[mark:]) if s is subj)
    idx_hist = [i for i, s in enumerate(member.seen[mark:]) if any(s is h for h in history)]
    check(idx_hist and idx_self < min(idx_hist) and max(idx_hist) < idx_subj,
          f"join order is not self-presence, history, subject: {order}")
    others = [o for o in occupants if o["from"] != pres["from"]]
    check(len(others) == 1 and others[0]["from"] == f"{room}/Olive",
          f"occupants on join: {[str(o['from']) for o in occupants]}")
    check(muc_item(others[0]).get("jid") is None,
          f"semi-anonymous room (whois=moderators) shows the owner's JID to a participant: "
          f"{others[0]}")
    check(occupant_id(others[0]), f"occupant presence without occupant-id: {others[0]}")
    _, seen_join = await owner.expect(lambda s: kind(s) == "presence" and s["from"] == f"{room}/Max",
                                      "the member's join presence")
    check(JID(muc_item(seen_join).get("jid", "")).bare == member_bare,
          f"the owner (a moderator) must see the member's real JID: {seen_join}")

    step("8. posts both ways: same stanza-id for everyone, origin-id and id kept")
    m = await member.post(room, "Hello from Max", others=[owner], msg_id="max-msg-1")
    sids["Hello from Max"] = stanza_id(m)[0]
    archive.append("Hello from Max")
    nicks["Hello from Max"] = "Max"
    check(origin_id(m), f"the member's reflection lost its origin-id: {m}")
    o = await owner.post(room, "Welcome, Max", others=[member])
    sids["Welcome, Max"] = stanza_id(o)[0]
    archive.append("Welcome, Max")
    nicks["Welcome, Max"] = "Olive"
    check(occupant_id(m) != occupant_id(o), "two users share an occupant-id")
    step(f"   stanza-ids {stanza_id(m)[0]} and {stanza_id(o)[0]}; occupant-ids "
         f"{occupant_id(m)} / {occupant_id(o)}")

    step("9. 30 more posts, alternating; one mentions a quokka, two a harbour")
    special = {7: "the quokka report is ready", 12: "meet at the harbour at noon",
               25: "harbour cranes are back"}
    for i in range(1, 31):
        who, others = (owner, [member]) if i % 2 else (member, [owner])
        body = special.get(i, f"message {i:02d} from {'Olive' if i % 2 else 'Max'}")
        sids[body] = stanza_id(await who.post(room, body, others=others))[0]
        archive.append(body)
        nicks[body] = "Olive" if i % 2 else "Max"
    step(f"   the archive has {len(archive)} posts")

    step("10. MAM with RSM: member pages backwards (7 a page), owner forwards (8 a page)")
    await mam_both_ways(member, room, archive, sids, fwd_page=8, back_page=7)
    await mam_both_ways(owner, room, archive, sids, fwd_page=8, back_page=7)

    step("11. RSM details: the last page (<before/>) and the page before it; 'complete'")
    res, fin, _ = await member.mam_query(room, rsm={"max": "10", "before": ""},
                                         what="last page")
    check_archive(member.label, res, archive[-10:], sids, room, "<before/> max 10")
    rset = fin.find(f"{{{NS_RSM}}}set")
    first, last = rset.findtext(f"{{{NS_RSM}}}first"), rset.findtext(f"{{{NS_RSM}}}last")
    check(first == sids[archive[-10]] and last == sids[archive[-1]],
          f"<fin/> first/last are {first}/{last}, want {sids[archive[-10]]}/{sids[archive[-1]]}")
    check(fin.get("complete") not in ("true", "1"),
          f"the last page of 37 is 'complete' (XEP-0313 §5.3: only the page reaching the end "
          f"of the query's direction): {fin}")
    res, fin, _ = await member.mam_query(room, rsm={"max": "10", "before": first},
                                         what="the page before")
    check_archive(member.label, res, archive[-20:-10], sids, room, "before=first max 10")
    res, fin, _ = await member.mam_query(room, rsm={"max": "100"}, what="everything forwards")
    check_archive(member.label, res, archive, sids, room, "max 100")
    check(fin.get("complete") in ("true", "1"), f"a page with everything is not complete: {fin}")

    step("12. full-text search ({urn:xmpp:fulltext:0}fulltext in a submitted form)")
    form = await iq(member.plugin["xep_0313"].get_fields(jid=JID(room), timeout=WAIT),
                    "MAM query form")
    check(FULLTEXT in form.get_fields(),
          f"the MAM form does not offer {FULLTEXT}: {list(form.get_fields())}")
    res, fin, _ = await member.mam_query(room, fields={FULLTEXT: "quokka"}, what="search quokka")
    check_archive(member.label, res, ["the quokka report is ready"], sids, room,
                  "search 'quokka'")
    res, fin, _ = await member.mam_query(room, fields={FULLTEXT: "harbour"},
                                         what="search harbour")
    check_archive(member.label, res, ["meet at the harbour at noon", "harbour cranes are back"],
                  sids, room, "search 'harbour'")
    res, fin, _ = await member.mam_query(room, fields={FULLTEXT: "harbour"},
                                         rsm={"max": "1", "before": ""},
                                         what="search harbour, last page of 1")
    check_archive(member.label, res, ["harbour cranes are back"], sids, room,
                  "search 'harbour' <before/> max 1")
    res, fin, _ = await member.mam_query(room, fields={FULLTEXT: "zeppelin"},
                                         what="search zeppelin")
    check(not res and fin.get("complete") in ("true", "1"),
          f"search for a word nobody wrote found {len(res)}, fin {fin.attrib}")
    step("   'quokka': 1 of 37; 'harbour': 2, in order; 'zeppelin': none")

    step("13. MAM 'with': an occupant JID (XEP-0313 §5.1.1 for MUC archives) and a start time")
    want_max = [b for b in archive if nicks[b] == "Max"]
    got = await member.mam_iterate(room, reverse=False, page=10, with_jid=f"{room}/Max")
    check_archive(member.label, got, want_max, sids, room, f"MAM with={room}/Max")
    _, _, stamp = archived(res_by_body(await member.mam_query(room, rsm={"max": "100"},
                                                              what="everything, for stamps"),
                                       archive[20]))
    res, fin, _ = await member.mam_query(room, fields={"start": stamp}, rsm={"max": "100"},
                                         what=f"MAM start={stamp}")
    check_archive(member.label, res, archive[20:], sids, room, f"MAM start={stamp}")

    step("14. joins again: no <history/> gives the default 30, maxstanzas=0 none, "
         "since= what came after")
    await member.leave(room, "Max", others=[owner])
    _, subj, _, history = await member.join(room, "Max", "rejoin without <history/>")
    got = [text_of(m, "body") for m in history]
    check(got == archive[-30:], f"default history is {len(got)} messages {got[:3]}..., want the "
          f"last 30 (the seed's default)")
    check(text_of(subj, "subject") == subject, f"subject on rejoin: {subj}")
    await member.leave(room, "Max", others=[owner])
    _, subj, _, history = await member.join(room, "Max", "rejoin with maxstanzas=0",
                                            maxstanzas=0)
    check(not history and text_of(subj, "subject") == subject,
          f"maxstanzas=0 gave {len(history)} messages; subject {subj}")
    await member.leave(room, "Max", others=[owner])
    since = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    _, subj, _, history = await member.join(room, "Max", f"rejoin with since={stamp}", since=since)
    got = [text_of(m, "body") for m in history]
    check(got == archive[20:], f"since={stamp} gave {got}, want {archive[20:]}")
    step(f"   default: 30 of {len(archive)}; maxstanzas=0: none; since: {len(got)}")

    step("15. the member may not change the subject (moderators only) nor kick the owner")
    mark = member.mark()
    member.plugin["xep_0045"].set_subject(JID(room), "Hijacked")
    _, got = await member.expect(lambda s: kind(s) == "message" and is_from_room(s, room) and
                                 text_of(s, "subject") is not None, "the subject error", mark)
    check(got["type"] == "error" and error_condition(got) == "forbidden",
          f"a participant changing the subject: {got}")
    cond = await iq_error(member.plugin["xep_0045"].set_role(JID(room), "Olive", "none",
                                                              timeout=WAIT),
                          "the member kicking the owner")
    check(cond in ("forbidden", "not-allowed"), f"a participant kicking the owner: {cond!r}")
    step(f"   subject: forbidden; kick: {cond}")

    step("16. both post 10 at once without waiting: one order for everyone, and MAM's")
    marks = {c: c.mark() for c in (owner, member)}
    burst = []
    for i in range(10):
        for c, nick in ((owner, "Olive"), (member, "Max")):
            body = f"burst {i} from {nick}"
            burst.append(body)
            c.send_message(mto=JID(room), mbody=body, mtype="groupchat")
    orders = {}
    for c in (owner, member):
        await until(lambda: sum(1 for x in c.seen[marks[c]:] if text_of(x, "body") in burst) ==
                    len(burst), f"{c.label}: all 20 burst messages")
        orders[c.label] = [text_of(x, "body") for x in c.seen[marks[c]:]
                           if kind(x) == "message" and text_of(x, "body") in burst]
    res, _, _ = await member.mam_query(room, rsm={"max": "20", "before": ""}, what="the burst")
    mam_order = [inner_body(archived(x)[1]) for x in res]
    check(orders[owner.label] == orders[member.label] == mam_order,
          f"occupants and MAM disagree on the order: owner {orders[owner.label]}, member "
          f"{orders[member.label]}, MAM {mam_order}")
    for c, nick in ((owner, "Olive"), (member, "Max")):
        own = [b for b in mam_order if b.endswith(nick)]
        check(own == [b for b in burst if b.endswith(nick)], f"{nick}'s burst out of order: {own}")

    step("17. member leaves; a message to the room is then refused; everyone logs out")
    await member.leave(room, "Max", others=[owner])
    await member.post_refused(room, "Am I still here?", "not-acceptable", others=[owner])
    for c in (member, outsider, owner):
        await c.logout()


def res_by_body(query, body):
    results, _, _ = query
    for r in results:
        if inner_body(archived(r)[1]) == body:
            return r
    raise Failure(f"{body!r} is not in the archive")


async def iq_error(aw, what):
    """An IQ that must fail: returns its error condition."""
    try:
        res = await wait_for(aw, what)
    except IqError as e:
        return e.iq["error"]["condition"]
    except IqTimeout:
        raise Failure(f"{what}: no reply (IqTimeout)") from None
    raise Failure(f"{what}: succeeded; want an error: {short(res)}")


# ----------------------------------------------------------------------
# Phase kick_ban


async def phase_kick_ban(args):
    d = args.domain
    room = f"ops@{service(args)}"
    member_bare = f"member@{d}"

    step("1. owner and member log in; owner creates a room and opens it (membersonly=0)")
    owner = await MUCClient(args, "owner", "desk").login()
    member = await MUCClient(args, "member", "laptop").login()
    await create_room(owner, room, "Olive", open_it=True, name="Ops")
    info = await disco_info(owner, room, f"disco#info on {room}")
    check("muc_open" in info["features"], f"{room} is not open: {info['features']}")

    step("2. member (no affiliation) joins the open room; XEP-0410 self-ping answers")
    pres, _, _, _ = await member.join(room, "Max", "join the open room")
    check(muc_item(pres).get("affiliation") == "none" and muc_item(pres).get("role") == "participant",
          f"joined as {muc_item(pres)}")
    await iq(member.plugin["xep_0199"].send_ping(f"{room}/Max", timeout=WAIT),
             "self-ping while joined")
    await owner.post(room, "Rules: be nice", others=[member])

    step("2b. nick change (XEP-0045 §7.6): Max -> Maxwell, 303 then the new nick")
    mark_m, mark_o = member.mark(), owner.mark()
    member.send_presence(pto=f"{room}/Maxwell")
    for c, mark in ((member, mark_m), (owner, mark_o)):
        _, old = await c.expect(lambda s: kind(s) == "presence" and s["from"] == f"{room}/Max",
                                "unavailable from the old nick", mark)
        check(old["type"] == "unavailable" and 303 in status_codes(old) and
              muc_item(old).get("nick") == "Maxwell",
              f"{c.label}: the old nick's presence must be unavailable with 303 and "
              f"nick='Maxwell': {old}")
        _, new = await c.expect(lambda s: kind(s) == "presence" and
                                s["from"] == f"{room}/Maxwell", "presence from the new nick", mark)
        check(new["type"] == "available", f"{c.label}: the new nick is not available: {new}")
        check((110 in status_codes(old)) == (c is member) == (110 in status_codes(new)),
              f"{c.label}: 110 on the nick change presences: {old} {new}")
        check(occupant_id(old) == occupant_id(new), f"{c.label}: occupant-id changed with the nick")
    await member.post(room, "Maxwell now", others=[owner])
    member.send_presence(pto=f"{room}/Max")
    await member.expect(lambda s: kind(s) == "presence" and s["from"] == f"{room}/Max" and
                        s["type"] == "available", "back to Max", mark_m)
    member.plugin["xep_0045"].our_nicks[JID(room)] = "Max"
    step("   303 and the new nick seen by both; back to Max")

    step("2c. owner makes the member a member while in the room: a new affiliation, still in")
    mark_m = member.mark()
    await iq(owner.plugin["xep_0045"].set_affiliation(JID(room), "member", jid=JID(member_bare),
                                                      timeout=WAIT), "set_affiliation member")
    _, aff = await member.expect(lambda s: kind(s) == "presence" and s["from"] == f"{room}/Max",
                                 "presence with the new affiliation", mark_m)
    step(f"   member got: type={aff['type']} affiliation {muc_item(aff).get('affiliation')} "
         f"status {sorted(status_codes(aff))}")
    check(aff["type"] == "available" and muc_item(aff).get("affiliation") == "member",
          f"after becoming a member: {aff}")
    soft_check("affiliation change status", 321 not in status_codes(aff),
        f"status 321 ('removed from the room because of an affiliation change', XEP-0045 "
        f"§15.6) on the presence of an occupant who stays: {aff}")

    step("3. owner kicks the member (role none): 307 to the kicked client and to the room")
    mark_m, mark_o = member.mark(), owner.mark()
    await iq(owner.plugin["xep_0045"].set_role(JID(room), "Max", "none", reason="Cool down",
                                               timeout=WAIT), "kick (set_role none)")
    _, kicked = await member.expect(lambda s: kind(s) == "presence" and s["from"] == f"{room}/Max",
                                    "own presence after the kick", mark_m)
    step(f"   member got: type={kicked['type']} status {sorted(status_codes(kicked))} "
         f"reason {muc_reason(kicked)!r}")
    check(kicked["type"] == "unavailable" and {307, 110} <= status_codes(kicked),
          f"the kicked client's presence must be unavailable with 307 and 110: {kicked}")
    check(muc_item(kicked).get("role") == "none", f"kicked presence role: {kicked}")
    check(muc_reason(kicked) == "Cool down", f"kick reason not passed on: {kicked}")
    _, seen = await owner.expect(lambda s: kind(s) == "presence" and s["from"] == f"{room}/Max",
                                 "the member's kick presence", mark_o)
    check(seen["type"] == "unavailable" and 307 in status_codes(seen) and
          110 not in status_codes(seen), f"the room's view of the kick: {seen}")

    step("4. after the kick, self-ping says not joined; the member may join again")
    cond = await iq_error(member.plugin["xep_0199"].send_ping(f"{room}/Max", timeout=WAIT),
                          "self-ping after the kick (XEP-0410)")
    check(cond == "not-acceptable", f"self-ping after the kick: {cond!r}, want not-acceptable")
    step(f"   self-ping: {cond}")
    member.plugin["xep_0045"].rooms.pop(JID(room), None)
    await member.join(room, "Max", "rejoin after the kick")
    await member.post(room, "I am back", others=[owner])

    step("5. XEP-0425 moderation of the member's message (urn:xmpp:message-moderate:1)")
    spam = await member.post(room, "buy cheap watches", others=[owner])
    await soft("moderation", moderate(owner, member, room, stanza_id(spam)[0], "buy cheap watches"))

    step("6. owner bans the member (outcast): 301; the rejoin is refused with forbidden")
    mark_m, mark_o = member.mark(), owner.mark()
    await iq(owner.plugin["xep_0045"].set_affiliation(JID(room), "outcast", jid=JID(member_bare),
                                                      reason="Spam", timeout=WAIT),
             "ban (set_affiliation outcast)")
    _, banned = await member.expect(lambda s: kind(s) == "presence" and s["from"] == f"{room}/Max",
                                    "own presence after the ban", mark_m)
    step(f"   member got: type={banned['type']} status {sorted(status_codes(banned))} "
         f"affiliation {muc_item(banned).get('affiliation')}")
    check(banned["type"] == "unavailable" and {301, 110} <= status_codes(banned),
          f"the banned client's presence must be unavailable with 301 and 110: {banned}")
    check(muc_item(banned).get("affiliation") == "outcast", f"banned presence: {banned}")
    _, seen = await owner.expect(lambda s: kind(s) == "presence" and s["from"] == f"{room}/Max",
                                 "the member's ban presence", mark_o)
    check(seen["type"] == "unavailable" and 301 in status_codes(seen), f"room's view: {seen}")
    member.plugin["xep_0045"].rooms.pop(JID(room), None)
    await member.join_refused(room, "Max", "forbidden", "rejoin after the ban")
    await member.join_refused(room, "Maxi", "forbidden", "rejoin after the ban with another nick")
    outcasts = await iq(owner.plugin["xep_0045"].get_affiliation_list(JID(room), "outcast",
                                                                      timeout=WAIT),
                        "get_affiliation_list outcast")
    check([str(j) for j in outcasts] == [member_bare], f"outcast list: {outcasts}")
    cond = await member.mam_refused(room, "MAM query by the banned member")
    step(f"   outcasts {[str(j) for j in outcasts]}; the banned member's MAM query: {cond}")

    for c in (member, owner):
        await c.logout()


async def moderate(owner, member, room, sid, body):
    q = owner.make_iq_set(ito=JID(room))
    mod = ET.SubElement(q.xml, f"{{{NS_MODERATE}}}moderate", {"id": sid})
    ET.SubElement(mod, f"{{{NS_RETRACT}}}retract")
    ET.SubElement(mod, f"{{{NS_MODERATE}}}reason").text = "spam"
    mark = member.mark()
    await iq(q.send(timeout=WAIT), "moderate (XEP-0425)")
    _, ann = await member.expect(
        lambda s: kind(s) == "message" and is_from_room(s, room) and
        s.xml.find(f"{{{NS_RETRACT}}}retract") is not None, "the moderation announcement", mark)
    r = ann.xml.find(f"{{{NS_RETRACT}}}retract")
    check(r.get("id") == sid, f"the retraction names {r.get('id')!r}, want {sid!r}: {ann}")
    check(r.find(f"{{{NS_MODERATE}}}moderated") is not None, f"no <moderated/>: {ann}")
    res, _, _ = await owner.mam_query(room, rsm={"max": "50"}, what="MAM after moderation")
    bodies = {archived(x)[0]: inner_body(archived(x)[1]) for x in res}
    check(sid in bodies, f"the moderated message is gone from MAM (want a tombstone): {bodies}")
    check(bodies[sid] != body, f"the moderated message still reads {body!r} in MAM")
    step(f"   announced to the member; MAM keeps a tombstone: {bodies[sid]!r}")


# ----------------------------------------------------------------------
# Phase access (rooms made with parleyctl by the Go test)


async def phase_access(args):
    d = args.domain
    conf = service(args)
    lobby, vault, stage, deals = (f"{n}@{conf}" for n in ("lobby", "vault", "stage", "deals"))

    step("1. owner, member and outsider log in")
    owner = await MUCClient(args, "owner", "desk").login()
    member = await MUCClient(args, "member", "laptop").login()
    outsider = await MUCClient(args, "outsider", "phone").login()

    step(f"2. disco#items on {conf}: the secret room is invisible to the outsider")
    seen_by = {}
    for c in (outsider, member):
        items = await disco_items(c, conf, f"{c.label}: disco#items on {conf}")
        seen_by[c.label] = sorted(j for j, node, _ in items if not node)
        step(f"   {c.label}: rooms {seen_by[c.label]}; nodes "
             f"{sorted(node for _, node, _ in items if node)}")
    check(vault not in seen_by[outsider.label],
          f"the outsider sees the secret room: {seen_by[outsider.label]}")
    check(lobby in seen_by[outsider.label] and stage in seen_by[outsider.label],
          f"the outsider does not see the closed and open rooms: {seen_by[outsider.label]}")
    check(vault in seen_by[member.label], f"the member does not see the secret room they are a "
          f"member of: {seen_by[member.label]}")
    cond = await iq_error(outsider.plugin["xep_0030"].get_info(jid=vault, local=False,
                                                               timeout=WAIT),
                          "outsider disco#info on the secret room")
    check(cond == "item-not-found", f"outsider disco#info on the secret room: {cond!r}")
    info = await disco_info(member, vault, "member disco#info on the secret room")
    check("muc_hidden" in info["features"] and "muc_membersonly" in info["features"],
          f"secret room features: {info['features']}")

    step("3. the outsider is refused from the closed room (registration-required); "
         "the member gets in with the subject parleyctl set")
    await outsider.join_refused(lobby, "Otto", "registration-required", "join the closed room")
    cond = await outsider.mam_refused(lobby, "MAM on the closed room")
    step(f"   outsider MAM on the closed room: {cond}")
    pres, subj, _, _ = await member.join(lobby, "Max", "join the closed room as a member")
    check(text_of(subj, "subject") == "Welcome to the lobby", f"lobby subject: {subj}")
    cond = await outsider.join_refused(vault, "Otto", None, "join the secret room")
    step(f"   (the outsider's join of the secret room says {cond!r}; disco#info said "
         f"item-not-found)")

    step("4. the ethical wall: the outsider is denied by category 'walled'")
    cond = await iq_error(owner.plugin["xep_0045"].set_affiliation(
        JID(deals), "member", jid=JID(f"outsider@{d}"), timeout=WAIT),
        "a manager making a walled-off user a member")
    check(cond == "forbidden", f"making a denied user a member: {cond!r}, want forbidden")
    step(f"   owner (manager of deals) making outsider a member: {cond}")
    members = await iq(owner.plugin["xep_0045"].get_affiliation_list(JID(deals), "member",
                                                                     timeout=WAIT),
                       "deals member list")
    check(f"outsider@{d}" not in [str(j) for j in members], f"deals members: {members}")
    await outsider.join_refused(deals, "Otto", "forbidden", "join a room of a category that "
                                "denies them")

    step("5. auditorium: the member is a visitor and is refused; the presenter posts")
    info = await disco_info(member, stage, "disco#info on the auditorium")
    check("muc_moderated" in info["features"], f"auditorium features: {info['features']}")
    pres, subj, _, _ = await member.join(stage, "Max", "member joins the auditorium")
    check(muc_item(pres).get("role") == "visitor", f"a member in an auditorium is "
          f"{muc_item(pres).get('role')!r}, want visitor")
    check(text_of(subj, "subject") == "Keynote at ten", f"auditorium subject: {subj}")
    pres, _, _, _ = await owner.join(stage, "Presenter", "presenter joins the auditorium")
    check(muc_item(pres).get("role") == "participant", f"a presenter in an auditorium is "
          f"{muc_item(pres).get('role')!r}, want participant")
    err = await member.post_refused(stage, "May I say something?", "forbidden", others=[owner])
    step(f"   member's post refused: {error_condition(err)} ({err['error']['text']!r})")
    await owner.post(stage, "Welcome to the keynote", others=[member])
    step("   presenter's post reached the member")
    await outsider.join(stage, "Otto", "outsider joins the open auditorium")
    await outsider.post_refused(stage, "Hello?", "forbidden", others=[member])

    for c in (member, outsider, owner):
        await c.logout()


# ----------------------------------------------------------------------
# Phase restart


ROOM_NAME, ROOM_DESC = "Archive Room", "Kept across restarts"
SUBJECT = "Subject set before the restart"


async def phase_restart_before(args):
    d = args.domain
    room = f"archive@{service(args)}"
    step("1. owner creates and configures a room, adds the member, sets the subject")
    owner = await MUCClient(args, "owner", "desk").login()
    member = await MUCClient(args, "member", "laptop").login()
    await create_room(owner, room, "Olive", name=ROOM_NAME, desc=ROOM_DESC)
    await iq(owner.plugin["xep_0045"].set_affiliation(JID(room), "member", jid=JID(f"member@{d}"),
                                                      timeout=WAIT), "set_affiliation member")
    mark = owner.mark()
    owner.plugin["xep_0045"].set_subject(JID(room), SUBJECT)
    await owner.expect(lambda s: is_from_room(s, room) and text_of(s, "subject") == SUBJECT,
                       "the subject change", mark)

    step("2. both post 12 messages")
    await member.join(room, "Max", "member joins")
    posts = []
    for i in range(1, 13):
        who, others, nick = (owner, [member], "Olive") if i % 2 else (member, [owner], "Max")
        body = f"before restart {i:02d} by {nick}"
        m = await who.post(room, body, others=others)
        posts.append({"body": body, "sid": stanza_id(m)[0], "nick": nick,
                      "occupant_id": occupant_id(m)})
    await mam_both_ways(member, room, [p["body"] for p in posts],
                        {p["body"]: p["sid"] for p in posts}, fwd_page=5, back_page=5)
    with open(args.state, "w") as f:
        json.dump({"posts": posts}, f)
    step(f"   {len(posts)} posts; state saved to {args.state}")
    await member.leave(room, "Max", others=[owner])
    for c in (member, owner):
        await c.logout()


async def phase_restart_after(args):
    d = args.domain
    conf = service(args)
    room = f"archive@{conf}"
    with open(args.state) as f:
        posts = json.load(f)["posts"]
    bodies = [p["body"] for p in posts]
    sids = {p["body"]: p["sid"] for p in posts}

    step("1. after the restart: the room is listed, with its name, description and subject")
    owner = await MUCClient(args, "owner", "desk").login()
    member = await MUCClient(args, "member", "laptop").login()
    items = await disco_items(member, conf, f"disco#items on {conf}")
    check(any(j == room for j, _, _ in items), f"{room} is gone from disco#items: {items}")
    info = await disco_info(member, room, f"disco#info on {room}")
    ri = roominfo(info)
    step(f"   features {sorted(info['features'])}; roominfo {ri}")
    check(list(info["identities"])[0][3] == ROOM_NAME, f"room name: {info['identities']}")
    check("muc_membersonly" in info["features"], f"no longer members-only: {info['features']}")
    check(ri.get("muc#roominfo_description") == ROOM_DESC, f"description: {ri}")
    check(ri.get("muc#roominfo_subject") == SUBJECT, f"subject in roominfo: {ri}")
    check(ri.get("muc#roominfo_occupants") == "0", f"occupants left over from before the "
          f"restart: {ri}")

    step("2. the owner's configuration and affiliations are intact")
    form = await iq(owner.plugin["xep_0045"].get_room_config(JID(room), timeout=WAIT),
                    "configuration form after the restart")
    f = form.get_fields()
    check(f["muc#roomconfig_roomname"]["value"] == ROOM_NAME and
          f["muc#roomconfig_membersonly"]["value"] is True, f"configuration: {form}")
    members = await iq(owner.plugin["xep_0045"].get_affiliation_list(JID(room), "member",
                                                                     timeout=WAIT), "members")
    owners = await iq(owner.plugin["xep_0045"].get_affiliation_list(JID(room), "owner",
                                                                    timeout=WAIT), "owners")
    check([str(j) for j in members] == [f"member@{d}"], f"members after restart: {members}")
    check([str(j) for j in owners] == [f"owner@{d}"], f"owners after restart: {owners}")

    step("3. the member joins (still a member of the members-only room): history, subject")
    pres, subj, _, history = await member.join(room, "Max", "join after the restart",
                                               maxstanzas=5)
    got = [text_of(m, "body") for m in history]
    check(got == bodies[-5:], f"history after restart: {got}, want {bodies[-5:]}")
    for m in history:
        check(stanza_id(m)[0] == sids[text_of(m, "body")], f"stanza-id changed: {m}")
    check(text_of(subj, "subject") == SUBJECT, f"subject after restart: {subj}")
    check(subj["from"] == f"{room}/Olive", f"subject is from {subj['from']}, set by Olive")
    want_oid = {p["nick"]: p["occupant_id"] for p in posts}
    for m in history:
        nick = m["from"].resource
        check(occupant_id(m) == want_oid[nick],
              f"occupant-id of {nick} changed across the restart: {occupant_id(m)} != "
              f"{want_oid[nick]}")

    step("4. MAM returns the full history in order, with the same stanza-ids")
    await mam_both_ways(member, room, bodies, sids, fwd_page=5, back_page=4)

    step("5. the room takes new posts; the owner's occupant-id is the one it had")
    await owner.join(room, "Olive", "owner joins after the restart")
    m = await owner.post(room, "first post after the restart", others=[member])
    check(occupant_id(m) == want_oid["Olive"], f"owner's occupant-id changed: {occupant_id(m)}")
    sids["first post after the restart"] = stanza_id(m)[0]
    res, fin, _ = await member.mam_query(room, rsm={"max": "100"}, what="everything")
    check_archive(member.label, res, bodies + ["first post after the restart"], sids, room,
                  "MAM after the restart")
    for c in (member, owner):
        await c.logout()


# ----------------------------------------------------------------------
# Phase shutdown (the Go test sends SIGTERM once --state's file exists)


async def phase_shutdown(args):
    room = f"townhall@{service(args)}"
    step("1. owner and member are in a room when the server is stopped")
    owner = await MUCClient(args, "owner", "desk").login()
    member = await MUCClient(args, "member", "laptop").login()
    await create_room(owner, room, "Olive", open_it=True, name="Town hall")
    await member.join(room, "Max", "member joins")
    await member.post(room, "see you after the restart", others=[owner])
    ends = {}
    for c in (owner, member):
        c.add_event_handler("stream_error", lambda e, c=c: ends.setdefault(
            c.label + " stream error", e["condition"]))
        c.add_event_handler("disconnected", lambda e, c=c: ends.setdefault(c.label, True))
    marks = {c.label: c.mark() for c in (owner, member)}
    with open(args.state, "w") as f:
        f.write("ready\n")
    step("2. ready: waiting for the SIGTERM to end both streams")
    await until(lambda: owner.label in ends and member.label in ends,
                "both streams to end after the SIGTERM", 20)
    step(f"   stream errors: {[(k, v) for k, v in ends.items() if 'error' in k]}")
    for c, nick in ((owner, "Olive"), (member, "Max")):
        got = [x for x in c.seen[marks[c.label]:]
               if kind(x) == "presence" and x["from"] == f"{room}/{nick}"]
        step(f"   {c.label}: own room presence before the end: "
             f"{[(x['type'], sorted(status_codes(x))) for x in got]}")
        soft_check(f"{c.label}: 332 on shutdown", any(x["type"] == "unavailable" and {332, 110} <= status_codes(x) for x in got),
            f"{c.label} was in {room} when the server stopped but got no unavailable "
            f"self-presence with status 332 (XEP-0045 §15.6: 'removed from the room because "
            f"the MUC service is being shut down'); it got {[str(x) for x in got]}")


async def phase_presence_broadcast(args):
    room = f"big@{service(args)}"
    pb = "muc#roomconfig_presencebroadcast"
    step("1. owner creates an open room, then broadcasts moderators' presence only")
    owner = await MUCClient(args, "owner", "desk").login()
    member = await MUCClient(args, "member", "laptop").login()
    outsider = await MUCClient(args, "outsider", "phone").login()
    await create_room(owner, room, "Olive", open_it=True, name="Big")
    form = await iq(owner.plugin["xep_0045"].get_room_config(JID(room), timeout=WAIT),
                    f"get the configuration form of {room}")
    fields = form.get_fields()
    check(pb in fields, f"the configuration form lacks {pb}: {form}")
    check(fields[pb]["type"] == "list-multi" and
          sorted(fields[pb]["value"]) == ["moderator", "participant", "visitor"],
          f"{pb} of a new room: {fields[pb]}")
    fields[pb]["value"] = ["moderator"]
    await iq(owner.plugin["xep_0045"].set_room_config(JID(room), form, timeout=WAIT),
             f"submit {pb}=moderator")
    form = await iq(owner.plugin["xep_0045"].get_room_config(JID(room), timeout=WAIT),
                    f"get the configuration form of {room} again")
    check(form.get_fields()[pb]["value"] == ["moderator"],
          f"{pb} after the form: {form.get_fields()[pb]}")
    step(f"   {pb} = moderator")

    step("2. the member and the outsider join: each is shown the owner and itself only")
    mark_o = owner.mark()
    mark_m = member.mark()
    for c, nick in ((member, "Max"), (outsider, "Oz")):
        pres, _, occupants, _ = await c.join(room, nick, f"join {room}")
        check(110 in status_codes(pres) and muc_item(pres).get("role") == "participant",
              f"{c.label}: own presence: {pres}")
        others = sorted(o["from"].resource for o in occupants if o["from"] != pres["from"])
        check(others == ["Olive"], f"{c.label} was shown {others}, want the owner only")
        roster = sorted(c.plugin["xep_0045"].get_roster(JID(room)))
        check(roster == sorted(["Olive", nick]), f"{c.label}: slixmpp's room roster {roster}")
        step(f"   {c.label} joined as {nick}: shown {others}, roster {roster}")

    step("3. posts from the owner and from a participant reach everyone; no joins were sent")
    await owner.post(room, "welcome, quiet ones", others=[member, outsider])
    await member.post(room, "a participant still posts", others=[owner, outsider])
    for c, mark, hidden in ((owner, mark_o, ("Max", "Oz")), (member, mark_m, ("Oz",))):
        got = [str(x["from"]) for x in c.seen[mark:] if kind(x) == "presence" and
               is_from_room(x, room) and x["from"].resource in hidden]
        check(not got, f"{c.label} was sent presence of {got}")

    step("4. the member made a moderator: its presence reaches the others")
    mark_x = outsider.mark()
    await iq(owner.plugin["xep_0045"].set_role(JID(room), "Max", "moderator", timeout=WAIT),
             "set_role moderator")
    _, p = await outsider.expect(lambda s: kind(s) == "presence" and s["from"] == f"{room}/Max",
                                 "Max's presence as a moderator", mark_x)
    check(p["type"] == "available" and muc_item(p).get("role") == "moderator",
          f"the outsider got {p}")
    step(f"   outsider's room roster: {sorted(outsider.plugin['xep_0045'].get_roster(JID(room)))}")


PHASES = {
    "presence_broadcast": phase_presence_broadcast,
    "shutdown": phase_shutdown,
    "room": phase_room,
    "kick_ban": phase_kick_ban,
    "access": phase_access,
    "restart-before": phase_restart_before,
    "restart-after": phase_restart_after,
}


async def main(args):
    if args.phase not in PHASES:
        raise Failure(f"--phase must be one of {sorted(PHASES)}, not {args.phase!r}")
    if args.phase.startswith("restart") and not args.state:
        raise Failure("the restart phases need --state FILE")
    await PHASES[args.phase](args)


if __name__ == "__main__":
    run(main)

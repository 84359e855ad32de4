"""Federation: a user of another XMPP server (Prosody or ejabberd, as the
Go tests start them) and a parleyd user, each logged in to their own server with
slixmpp, the two servers linked by server-to-server streams (RFC 6120 §13,
dialback with self-signed certificates).

The parleyd user is --user alice:PW (at --domain); the remote user is
--remote-user juliet:PW at --remote-domain, whose server takes clients at
--remote-host:--remote-port (SCRAM-SHA-1: Prosody 0.12 has no SCRAM-SHA-256).
--phase says which scenario to run:

room        in parleyd's open room lobby@conference.DOMAIN (made with
            parleyctl by the Go test, with a subject): alice joins, then
            juliet joins over federation and sees alice, her own presence
            (110) and the subject; alice sees juliet join; juliet posts and
            both get it with the same stanza-id by the room; alice posts and
            juliet gets it; juliet reads the room's archive (XEP-0313) over
            federation and finds both posts in order with the live
            stanza-ids; juliet is refused from staff@ (a category that is
            not federated) with forbidden; juliet leaves and alice sees it.
chat        1:1 both ways (RFC 6121 §5 over s2s); alice asks juliet for a
            presence subscription, juliet approves, alice's roster says
            "to" and she gets juliet's presence.
remote_room alice joins a room on the remote server's MUC service
            (plaza@conference.REMOTE, which juliet creates by joining) and
            posts; juliet gets it; juliet posts and alice gets it.
denied      parleyd runs with --s2s-deny REMOTE: juliet's message to alice
            comes back to juliet as an error, and alice's to juliet too.
pool_room   parleyd is a pool of two nodes: alice is on one, bob (--user
            bob:PW) on the other (--bob-port); all three join the lobby
            (juliet over federation, to whichever node the remote server
            found); juliet posts ten times while alice posts five, without
            waiting for the echoes; alice, bob and juliet each see the fifteen
            posts once, in one order, with the same stanza-ids.
bidi        juliet writes to alice first, then alice answers twice: with
            XEP-0288, over the link juliet's server opened.
bidi_out    the other way round: alice writes first, juliet answers twice
            over the link parleyd opened (--s2s-bidi).
pool_iq     juliet pings alice's full JID and asks its software version
            (XEP-0199, XEP-0092): alice's client answers, also when alice's
            session is on another pool node than the one juliet's server
            reached; alice pings juliet's full JID; juliet's ping to a
            resource alice does not have gets service-unavailable.
"""

import asyncio
import copy

from slixmpp import JID

from muc import MUCClient, archived, error_condition, inner_body, iq_error, kind, stanza_id, text_of
from slixclient import Failure, check, iq, run, step, take_args, until, wait_for

extra = take_args({"--remote-user": "", "--remote-domain": "", "--remote-host": "",
                   "--remote-port": "0", "--bob-port": "0"})

REMOTE_MECH = "SCRAM-SHA-1"  # Prosody 0.12 (Debian 12) offers no SCRAM-SHA-256


def remote_args(args):
    """The common arguments, pointed at the remote server."""
    r = copy.copy(args)
    r.domain = extra["--remote-domain"]
    r.host = extra["--remote-host"]
    r.port = int(extra["--remote-port"])
    user, pw = extra["--remote-user"].split(":", 1)
    r.passwords = {user: pw}
    return r, user


async def both(args):
    r, ruser = remote_args(args)
    alice = MUCClient(args, "alice", "parley")
    juliet = MUCClient(r, ruser, "remote", mech=REMOTE_MECH)
    await alice.login()
    await juliet.login()
    return alice, juliet


async def phase_room(args, alice, juliet):
    room = f"lobby@conference.{args.domain}"
    await alice.join(room, "Alice", "alice joins the lobby")
    mark = alice.mark()
    t0 = asyncio.get_running_loop().time()
    joined = await juliet.join(room, "Juliet", "juliet joins a parleyd room over federation")
    step(f"juliet joined {room} over federation in "
         f"{asyncio.get_running_loop().time() - t0:.3f}s")
    self_presence, subject = joined[0], joined[1]
    check(self_presence["from"] == f"{room}/Juliet", f"juliet's self-presence: {self_presence}")
    check(text_of(subject, "subject") == "Welcome", f"the subject juliet got: {subject}")
    await juliet.expect(lambda s: kind(s) == "presence" and s["from"] == f"{room}/Alice",
                        "alice's presence in the lobby")
    await alice.expect(lambda s: kind(s) == "presence" and s["from"] == f"{room}/Juliet",
                       "juliet's join", mark)
    step("alice and juliet see each other in the lobby")

    mine = await juliet.post(room, "hello from afar", others=[alice])
    step(f"juliet's post reached alice with stanza-id {stanza_id(mine)[0]}")
    theirs = await alice.post(room, "hello from parley", others=[juliet])
    sids = {"hello from afar": stanza_id(mine)[0], "hello from parley": stanza_id(theirs)[0]}
    step("alice's post reached juliet")

    results, fin, _ = await juliet.mam_query(room, what="juliet's MAM query on the lobby")
    bodies = [inner_body(archived(res)[1]) for res in results]
    check(bodies == ["hello from afar", "hello from parley"],
          f"juliet's archive query found {bodies}")
    for res in results:
        aid, inner, _ = archived(res)
        check(aid == sids[inner_body(inner)], f"archive id {aid} for {inner_body(inner)!r}, "
              f"live stanza-id {sids[inner_body(inner)]}")
    check(fin.get("complete") == "true", f"MAM <fin/> not complete: {fin}")
    step("juliet read the lobby's archive over federation: both posts, live stanza-ids")

    cond = await juliet.join_refused(f"staff@conference.{args.domain}", "Juliet", "forbidden",
                                     "juliet joins a room of a category that is not federated")
    step(f"juliet refused from the staff room ({cond})")

    await juliet.leave(room, "Juliet", others=[alice])
    step("juliet left; alice saw it")


async def chat(sender, to, body, recipient, what):
    """sender sends a chat message to to; recipient gets it from the
    sender's full JID. Returns the seconds it took."""
    mark = recipient.mark()
    t0 = asyncio.get_running_loop().time()
    sender.send_message(mto=to, mbody=body, mtype="chat")
    _, msg = await recipient.expect(lambda s: kind(s) == "message" and
                                    (text_of(s, "body") == body or s["type"] == "error"), what, mark)
    check(msg["type"] == "chat" and msg["from"] == sender.boundjid,
          f"{recipient.label}: {what}: {msg}; want type chat from {sender.boundjid}")
    return asyncio.get_running_loop().time() - t0


async def phase_chat(args, alice, juliet):
    jj, aj = juliet.boundjid, alice.boundjid
    took = await chat(alice, JID(jj.bare), "hi juliet", juliet, "alice's chat message")
    step(f"juliet got alice's message in {took:.3f}s")
    took = await chat(juliet, aj, "hi alice", alice, "juliet's reply")
    step(f"alice got juliet's reply in {took:.3f}s")

    juliet.auto_authorize = True
    alice.send_presence(pto=jj.bare, ptype="subscribe")
    await until(lambda: alice.client_roster[jj.bare]["subscription"] in ("to", "both"),
                "alice's roster to say she is subscribed to juliet")
    await until(lambda: jj.resource in alice.client_roster[jj.bare].resources,
                "juliet's presence at alice")
    items, _ = await alice.server_roster()
    check(items.get(jj.bare, ("none",))[0] == "to", f"alice's roster on parleyd: {items}")
    step("alice subscribed to juliet; juliet approved; alice sees her presence")


async def phase_remote_room(args, alice, juliet):
    room = f"plaza@conference.{juliet.args.domain}"
    await juliet.join(room, "Juliet", "juliet creates a room on her server by joining")
    # A new Prosody room is locked until its owner configures it (XEP-0045
    # §10.1.2): accept the defaults, an instant room.
    await wait_for(juliet.plugin["xep_0045"].set_room_config(
        JID(room), juliet.plugin["xep_0004"].make_form(ftype="submit")), "instant room")
    await alice.join(room, "Alice", "alice joins a room on the remote server")
    await alice.post(room, "parley visiting", others=[juliet])
    await juliet.post(room, "welcome to my server", others=[alice])
    step("alice and juliet talk in a room on the remote server")


async def bounced(sender, to, body, what, timeout=20):
    """A chat message that must come back as an error; its condition."""
    mark = sender.mark()
    msg = sender.make_message(mto=to, mbody=body, mtype="chat")
    msg.send()
    _, got = await sender.expect(lambda s: kind(s) == "message" and s["id"] == msg["id"],
                                 what, mark, timeout)
    check(got["type"] == "error", f"{sender.label}: {what}: {got}")
    return error_condition(got)


async def phase_denied(args, alice, juliet):
    cond = await bounced(juliet, JID(alice.boundjid.bare), "let me in",
                         "juliet's message to a server that denies hers")
    step(f"juliet's message came back: {cond}")
    cond = await bounced(alice, JID(juliet.boundjid.bare), "can you hear me",
                         "alice's message to a denied domain")
    check(cond == "not-allowed", f"alice's message to a denied domain came back with {cond}")
    step("alice's message came back: not-allowed")


async def phase_pool_room(args, alice, juliet):
    room = f"lobby@conference.{args.domain}"
    b = copy.copy(args)
    b.port = int(extra["--bob-port"])
    bob = MUCClient(b, "bob", "other-node")
    await bob.login()
    await alice.join(room, "Alice", "alice joins the lobby on her node")
    await bob.join(room, "Bob", "bob joins the lobby on the other node")
    await juliet.join(room, "Juliet", "juliet joins the lobby over federation")
    clients = [alice, bob, juliet]
    marks = [c.mark() for c in clients]
    sent = []
    for i in range(10):
        body = f"juliet {i}"
        juliet.send_message(mto=JID(room), mbody=body, mtype="groupchat")
        sent.append(body)
        if i % 2 == 0:
            body = f"alice {i // 2}"
            alice.send_message(mto=JID(room), mbody=body, mtype="groupchat")
            sent.append(body)

    def posts(c, m):
        return [(text_of(s, "body"), stanza_id(s)[0]) for s in c.seen[m:]
                if kind(s) == "message" and s["type"] == "groupchat" and text_of(s, "body") in sent]
    for c, m in zip(clients, marks):
        await until(lambda: len(posts(c, m)) >= len(sent), f"{c.label}: all {len(sent)} posts")
    seqs = [posts(c, m) for c, m in zip(clients, marks)]
    for c, seq in zip(clients, seqs):
        check(sorted(b for b, _ in seq) == sorted(sent),
              f"{c.label} got {[b for b, _ in seq]}; want each of {sent} once")
        check(seq == seqs[0], f"{c.label} saw the posts in the order {seq}; "
              f"{clients[0].label} in the order {seqs[0]}")
    juliet_order = [b for b, _ in seqs[0] if b.startswith("juliet")]
    check(juliet_order == [f"juliet {i}" for i in range(10)],
          f"juliet's posts out of her sending order: {juliet_order}")
    step(f"alice, bob (other node) and juliet (remote) saw the {len(sent)} posts in one order: "
         f"{[b for b, _ in seqs[0]]}")
    await juliet.leave(room, "Juliet", others=[alice, bob])
    await bob.logout()


async def phase_pool_iq(args, alice, juliet):
    """IQs between juliet and alice's full JID: in a pool, juliet's come in
    at the node her server found, which is not alice's."""
    rtt = await iq(juliet.plugin["xep_0199"].ping(jid=alice.boundjid, timeout=10),
                   "juliet's ping to alice's full JID")
    step(f"alice's client answered juliet's ping (over federation) in {rtt * 1000:.1f} ms")
    ver = await iq(juliet.plugin["xep_0092"].get_version(alice.boundjid, timeout=10),
                   "juliet's version query to alice's full JID")
    check(ver["from"] == alice.boundjid and ver["software_version"]["name"] == "Slixmpp",
          f"the version of alice's full JID came from {ver['from']}: {ver['software_version']}; "
          f"want alice's client (Slixmpp)")
    step(f"alice's client says it is {ver['software_version']['name']!r}")
    rtt = await iq(alice.plugin["xep_0199"].ping(jid=juliet.boundjid, timeout=10),
                   "alice's ping to juliet's full JID")
    step(f"juliet's client answered alice's ping in {rtt * 1000:.1f} ms")
    cond = await iq_error(juliet.plugin["xep_0199"].send_ping(f"{alice.boundjid.bare}/nowhere", timeout=10),
                          "juliet's ping to a resource alice does not have")
    check(cond == "service-unavailable", f"juliet's ping to a resource nobody has: {cond!r}, "
          f"want service-unavailable")
    step("juliet's ping to a resource nobody has: service-unavailable")


async def writes_first(opener, answerer):
    """opener writes to answerer first, so that opener's server opens the
    link (asking for XEP-0288 bidi, or asked for it); answerer's two replies
    can only come back over that link."""
    took = await chat(opener, JID(answerer.boundjid.bare), f"hi {answerer.label}, over my server's link",
                      answerer, f"{opener.label}'s message")
    step(f"{answerer.label} got {opener.label}'s message in {took:.3f}s")
    took = await chat(answerer, opener.boundjid, f"hi {opener.label}, back over your server's link", opener,
                      f"{answerer.label}'s reply over the bidirectional link")
    step(f"{opener.label} got {answerer.label}'s reply in {took:.3f}s")
    took = await chat(answerer, JID(opener.boundjid.bare), "and once more", opener,
                      f"{answerer.label}'s second message")
    step(f"{opener.label} got {answerer.label}'s second message in {took:.3f}s")


async def phase_bidi(args, alice, juliet):
    await writes_first(juliet, alice)


async def phase_bidi_out(args, alice, juliet):
    await writes_first(alice, juliet)


PHASES = {"bidi": phase_bidi, "bidi_out": phase_bidi_out, "pool_iq": phase_pool_iq, "pool_room": phase_pool_room, "room": phase_room, "chat": phase_chat, "remote_room": phase_remote_room,
          "denied": phase_denied}


async def main(args):
    for phase in args.phase.split(","):
        if phase not in PHASES:
            raise Failure(f"--phase must be a list of {sorted(PHASES)}, not {args.phase!r}")
    alice, juliet = await both(args)
    for phase in args.phase.split(","):
        step(f"--- {phase}")
        await PHASES[phase](args, alice, juliet)
    await alice.logout()
    await juliet.logout()


if __name__ == "__main__":
    run(main)

"""One occupant of a room in a pool (issue 6): it joins the room on its
node, posts "NICK-N" every --interval seconds for --duration seconds and
records, in order, every live groupchat message it gets (body, stanza-id).
If its node dies and --fallback-port is given, it logs in again on that
node, rejoins, and catches up with MAM from the last stanza-id it saw
(XEP-0313 with RSM <after/>), then goes on posting.

It stops posting at the end of --duration and stays in the room, so that
what it saw can be compared with history as of one moment:
1. It waits until every post of its current session has an answer: its
   reflection (XEP-0045 §7.4: the room reflects a post to its sender once
   it is committed) or an error (refused, or the outcome unknown). A loaded
   server can be seconds behind the posts; a post with no answer after
   --settle seconds fails the script.
2. It writes OUT.posted and waits for the Go test (interop/pool_test.go)
   to write OUT.stop, which names the last post in history once every
   occupant's posts are settled.
3. It waits until it has seen that post live (posts reach an occupant in
   history order, so it has then seen everything before it), with --mam
   reads the room's whole archive (XEP-0313, paged with RSM), writes what
   it saw to --out as JSON and logs out.

A refusal is recorded with its error condition and type and the time it
came (Unix seconds: the database failover test,
interop/dbfailover_test.go, measures the refusal window with them).
"""

import asyncio
import json
import os
import time

from slixmpp import JID
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from muc import NS_MAM, MUCClient, error_condition, kind, stanza_id, text_of
from slixclient import Failure, check, run, step, take_args

OWN = take_args({"--room": "", "--nick": "", "--out": "", "--duration": "12",
                 "--interval": "0.25", "--fallback-port": "0", "--settle": "120",
                 "--stop-wait": "240", "--scenario-timeout": "420", "--mam": ""})


def live_groupchat(s):
    return (kind(s) == "message" and s["type"] == "groupchat" and text_of(s, "body")
            and s.xml.find("{urn:xmpp:delay}delay") is None
            and s.xml.find(f"{{{NS_MAM}}}result") is None)


def archived(results):
    """[body, archive id] of each MAM result message with a body."""
    out = []
    for r in results:
        fwd = r.xml.find(f"{{{NS_MAM}}}result")
        body = fwd.find(".//{jabber:client}message").find("{jabber:client}body")
        if body is not None:
            out.append([body.text or "", fwd.get("id")])
    return out


class Occupant:
    def __init__(self, args):
        self.args = args
        self.room = OWN["--room"]
        self.nick = OWN["--nick"]
        self.user = next(iter(args.passwords))
        self.received = []   # [body, stanza-id] of live groupchat messages, in order
        self.seen = set()    # the bodies in received
        self.caught_up = []  # [body, stanza-id] from MAM after a reconnection
        self.reconnected_at = -1  # len(received) when the second session joined
        self.sent = 0
        self.pending = set()  # bodies the current session sent, not yet answered
        self.refused = []     # [body, condition, type, Unix time] of posts answered with an error
        self.mam = []         # [body, stanza-id] of the whole archive, with --mam
        self.unanswered = []  # bodies the first session sent that its node never answered
        self.client = None
        self.dropped = False

    def on_stanza(self, s):
        if live_groupchat(s):
            sid, _ = stanza_id(s)
            body = text_of(s, "body")
            self.received.append([body, sid])
            self.seen.add(body)
            self.pending.discard(body)
        elif kind(s) == "message" and s["type"] == "error" and s["id"] in self.pending:
            self.pending.discard(s["id"])
            err = s.xml.find("{jabber:client}error")
            typ = err.get("type", "") if err is not None else ""
            self.refused.append([s["id"], error_condition(s), typ,
                                 f"{time.time():.3f}"])

    async def connect(self, port):
        self.args.port = port
        c = MUCClient(self.args, self.user, self.nick)
        c.add_event_handler("disconnected", lambda _: setattr(self, "dropped", True))
        await c.login()
        c.register_handler(Callback("pool occupant: record", MatchXPath("{jabber:client}message"),
                                    self.on_stanza))
        await c.join(self.room, self.nick, f"join {self.room}", maxstanzas=0)
        step(f"{self.nick}: joined {self.room} on port {port}")
        self.client = c
        self.dropped = False

    async def post_until(self, deadline):
        while time.monotonic() < deadline and not self.dropped:
            # The body is the message id too, so that an error reply
            # names the post it answers.
            body = f"{self.nick}-{self.sent}"
            self.sent += 1
            self.pending.add(body)
            m = self.client.make_message(mto=JID(self.room), mbody=body, mtype="groupchat")
            m["id"] = body
            m.send()
            await asyncio.sleep(float(OWN["--interval"]))

    async def catch_up(self):
        # From the last message the first session saw: live messages may
        # already have reached the second one before this query.
        seen = self.received[:self.reconnected_at]
        last = seen[-1][1] if seen else None
        rsm = {"max": "1000"}
        if last:
            rsm["after"] = last
        results, fin, _ = await self.client.mam_query(self.room, rsm=rsm, what="MAM catch-up")
        self.caught_up += archived(results)
        step(f"{self.nick}: MAM caught up {len(self.caught_up)} messages after {last}; "
             f"complete={fin.get('complete')}")

    async def read_archive(self):
        """The room's whole archive, a page at a time."""
        after = None
        while True:
            rsm = {"max": "250"}
            if after:
                rsm["after"] = after
            results, fin, _ = await self.client.mam_query(self.room, rsm=rsm, what="MAM: the whole archive")
            self.mam += archived(results)
            last = fin.find("{http://jabber.org/protocol/rsm}set/{http://jabber.org/protocol/rsm}last")
            if fin.get("complete") == "true" or not results or last is None:
                break
            after = last.text
        step(f"{self.nick}: the archive holds {len(self.mam)} messages")

    async def wait(self, pred, what, limit):
        """Poll pred until it holds or limit seconds pass, or the session
        drops; say whether it holds."""
        deadline = time.monotonic() + limit
        while not pred() and not self.dropped and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if not pred():
            step(f"{self.nick}: gave up waiting {limit}s for {what}"
                 + (" (session dropped)" if self.dropped else ""))
        return pred()


def write_atomic(path, data):
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.replace(path + ".tmp", path)


async def main(args):
    o = Occupant(args)
    out = OWN["--out"]
    check(o.room and o.nick and out, "--room, --nick and --out are required")
    deadline = time.monotonic() + float(OWN["--duration"])
    await o.connect(args.port)
    await o.post_until(deadline)
    fallback = int(OWN["--fallback-port"])
    if o.dropped and fallback:
        step(f"{o.nick}: disconnected; logging in again on port {fallback}")
        o.reconnected_at = len(o.received)
        # What the lost node had not answered may or may not have been
        # committed: history says.
        o.unanswered = sorted(o.pending)
        o.pending = set()
        for attempt in range(20):
            try:
                await o.connect(fallback)
                break
            except Failure as e:
                step(f"{o.nick}: reconnect attempt {attempt + 1}: {e}")
                await asyncio.sleep(0.5)
        else:
            raise Failure(f"{o.nick}: could not log in again on port {fallback}")
        await o.catch_up()
        await o.post_until(deadline)
    check(not o.dropped, f"{o.nick}: the session dropped at the end of posting")
    step(f"{o.nick}: sent {o.sent}; waiting for the answers to {len(o.pending)} posts")
    stop = out + ".stop"
    settle = float(OWN["--settle"])
    # (A stop file now means the test failed early and ends everything.)
    await o.wait(lambda: not o.pending or os.path.exists(stop), "every post's reflection or error", settle)
    if o.pending and not os.path.exists(stop):
        raise Failure(f"{o.nick}: {len(o.pending)} posts neither reflected nor refused "
                      f"{settle}s after the last was sent: {sorted(o.pending)[:10]}")
    step(f"{o.nick}: every post answered ({len(o.refused)} refused); waiting for the test")
    write_atomic(out + ".posted", {"sent": o.sent})
    check(await o.wait(lambda: os.path.exists(stop), "the test's stop file", float(OWN["--stop-wait"])),
          f"{o.nick}: the test did not say stop")
    with open(stop) as f:
        last = json.load(f)["last"]
    if last:
        # The last post in history when the test looked: seeing it live
        # means this session has had everything before it.
        await o.wait(lambda: last in o.seen, f"the last post in history, {last!r}", settle)
    if OWN["--mam"]:
        await o.read_archive()
    write_atomic(out, {"nick": o.nick, "received": o.received, "caught_up": o.caught_up,
                       "reconnected_at": o.reconnected_at, "sent": o.sent,
                       "refused": o.refused, "unanswered": o.unanswered, "dropped": o.dropped,
                       "mam": o.mam})
    step(f"{o.nick}: sent {o.sent}, received {len(o.received)} live, "
         f"{len(o.caught_up)} from MAM, {len(o.refused)} refused")
    if o.client and not o.dropped:
        await o.client.logout()


if __name__ == "__main__":
    run(main, timeout=float(OWN["--scenario-timeout"]))

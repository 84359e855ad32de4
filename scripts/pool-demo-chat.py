#!/usr/bin/python3
"""Chat in a room of the Parley pool demo (scripts/pool-demo.sh) with slixmpp,
and survive the loss of the node you are on.

    /usr/bin/python3 scripts/pool-demo-chat.py --user alice --password PW --node 1 \\
        --ca pool-demo/tls/cert.pem

Every room message is printed as `[node N] nick: text`; every line you type
is posted. When the node goes away (kill -9 it), the client connects to the
next node (a standby answers with <see-other-host/>, which the client follows),
rejoins without history and fetches what it missed from the room's archive
(MAM, XEP-0313, after the last stanza-id it saw), marked `(archive)`.

Type /check (or end the input) to compare with the archive: every post of
yours that the room reflected must be there exactly once, and every archived
message must have been seen, live or caught up. At end of input the client
checks, prints the result and exits (status 1 if anything is missing).

Run it with /usr/bin/python3: Debian's slixmpp (python3-slixmpp).
"""

import argparse
import asyncio
import contextlib
import io
import logging
import sys
from datetime import datetime, timezone

import slixmpp
from slixmpp import JID
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

NS_CLIENT = "jabber:client"
NS_SID = "urn:xmpp:sid:0"
NS_DELAY = "urn:xmpp:delay"


def stanza_id(xml, room):
    """The XEP-0359 stanza-id the room stamped on a message, or None."""
    for el in xml.findall(f"{{{NS_SID}}}stanza-id"):
        if el.get("by") == room:
            return el.get("id")
    return None


def body_of(xml):
    b = xml.find(f"{{{NS_CLIENT}}}body")
    return None if b is None else (b.text or "")


class PoolChat(slixmpp.ClientXMPP):
    def __init__(self, a):
        super().__init__(f"{a.user}@{a.domain}/pool-demo", a.password)
        self.a = a
        self.room = f"{a.room}@conference.{a.domain}"
        self.nick = a.nick or a.user
        self.node = a.node
        self.ca_certs = a.ca
        self.seen = {}  # stanza-id -> (nick, body), every room message shown
        self.last = None  # the newest stanza-id shown
        self.mine = {}  # body -> stanza-id of the reflection (None until reflected)
        self.joined = False
        self.since = None  # when we first joined: /check looks at the archive from then on
        self.outbox = []  # lines typed while out of the room
        self.ended = False
        self.redirect = None  # the node a <see-other-host/> named
        # Redirects are followed here, not by slixmpp, whose own reconnect
        # would race the one on_lost starts.
        self.max_redirects = -1
        logging.getLogger("slixmpp.basexmpp").setLevel(logging.CRITICAL)
        self.done = self.loop.create_future()
        for p in ("xep_0004", "xep_0045", "xep_0059", "xep_0082", "xep_0297", "xep_0313", "xep_0359"):
            self.register_plugin(p)
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("disconnected", self.on_lost)
        self.add_event_handler("connection_failed", self.on_lost)
        self.add_event_handler("stream_error", self.on_stream_error)
        self.register_handler(Callback("room messages", MatchXPath(f"{{{NS_CLIENT}}}message"), self.on_message))

    def say(self, text):
        if self.a.timestamps:
            text = datetime.now().strftime("%H:%M:%S.%f")[:-3] + " " + text
        # The real stdout: join_muc_wait runs with stdout redirected.
        try:
            print(text, file=sys.__stdout__, flush=True)
        except BrokenPipeError:
            # Whoever read our output is gone (| head): stop.
            self.ended = True
            self.disconnect()
            if not self.done.done():
                self.done.set_result(1)

    def connect_node(self):
        self.say(f"* connecting to node {self.node} (127.0.0.{self.node}:{self.a.port})")
        self.connect((f"127.0.0.{self.node}", self.a.port))

    def on_stream_error(self, err):
        if err["condition"] == "see-other-host":
            other = err["see_other_host"]
            self.say(f"* node {self.node} sends us to {other} (see-other-host)")
            host = other.rsplit(":", 1)[0]
            if host.startswith("127.0.0.") and host[len("127.0.0."):].isdigit():
                self.redirect = int(host[len("127.0.0."):])

    def on_lost(self, _event):
        if self.ended:
            return
        if self.redirect is not None:
            self.node, self.redirect = self.redirect, None
            self.loop.call_soon(self.connect_node)
            return
        was = self.joined
        self.joined = False
        if was:
            self.say(f"* lost node {self.node}")
        # The next node; a standby or busy node redirects us.
        self.node = self.node % self.a.nodes + 1
        self.loop.call_later(self.a.reconnect_delay, self.connect_node)

    async def on_start(self, _event):
        self.send_presence()
        first = self.last is None
        try:
            # join_muc_wait print()s each history message's delay.
            with contextlib.redirect_stdout(io.StringIO()):
                await self.plugin["xep_0045"].join_muc_wait(
                    JID(self.room), self.nick, maxstanzas=10 if first else 0, timeout=15)
        except Exception as e:  # noqa: BLE001 - shown, then we try the next node
            self.say(f"* joining {self.room} on node {self.node} failed: {e!r}")
            self.disconnect()
            return
        self.say(f"* in {self.room} as {self.nick} via node {self.node}")
        if self.since is None:
            self.since = datetime.now(timezone.utc)
        if not first:
            await self.catch_up()
        self.joined = True
        while self.outbox and self.joined:
            self.post(self.outbox.pop(0))

    async def catch_up(self):
        """What the room archived after the last message we saw (MAM with
        RSM 'after', XEP-0313 §4.3 / XEP-0059)."""
        n = 0
        async for m in self.plugin["xep_0313"].iterate(jid=JID(self.room), rsm={"after": self.last, "max": 50}):
            fwd = m["mam_result"]["forwarded"]["stanza"]
            if self.show(m["mam_result"]["id"], JID(fwd["from"]).resource, fwd["body"], "(archive) "):
                n += 1
        self.say(f"* caught up from the archive: {n} message(s) missed while away")

    def on_message(self, msg):
        x = msg.xml
        frm = JID(x.get("from", ""))
        if frm.bare != self.room:
            return
        if x.get("type") == "error":
            self.say(f"* the room refused a message: {msg['error']['condition']} {msg['error']['text']!r}")
            return
        if x.get("type") != "groupchat":
            return
        body = body_of(x)
        sid = stanza_id(x, self.room)
        if body is None or sid is None:
            return
        self.show(sid, frm.resource, body, "(history) " if x.find(f"{{{NS_DELAY}}}delay") is not None else "")

    def show(self, sid, nick, body, how):
        if sid in self.seen:
            return False
        self.seen[sid] = (nick, body)
        self.last = sid
        if nick == self.nick and body in self.mine:
            self.mine[body] = sid
        self.say(f"[node {self.node}] {how}{nick}: {body}")
        return True

    def post(self, line):
        if not self.joined:
            self.outbox.append(line)
            return
        self.mine.setdefault(line, None)
        self.send_message(mto=JID(self.room), mbody=line, mtype="groupchat")
        if self.a.timestamps:
            self.say(f"> {line}")  # when it was sent, for latencies

    def on_stdin(self):
        line = sys.stdin.readline()
        if line == "":
            self.loop.remove_reader(sys.stdin.fileno())
            asyncio.ensure_future(self.finish())
            return
        line = line.rstrip("\n")
        if line == "/check":
            asyncio.ensure_future(self.check())
        elif line:
            self.post(line)

    async def check(self):
        """Compare what we saw and posted with the archive since we joined."""
        archive = []
        async for m in self.plugin["xep_0313"].iterate(jid=JID(self.room), start=self.since, rsm={"max": 100}):
            fwd = m["mam_result"]["forwarded"]["stanza"]
            archive.append((m["mam_result"]["id"], JID(fwd["from"]).resource, fwd["body"]))
        ids = [a[0] for a in archive]
        mine = [a for a in archive if a[1] == self.nick]
        reflected = {b: s for b, s in self.mine.items() if s is not None}
        missing = [b for b, s in reflected.items() if ids.count(s) != 1]
        doubled = [b for b in reflected if sum(1 for a in mine if a[2] == b) > 1]
        unseen = [a for a in archive if a[0] not in self.seen]
        unreflected = [b for b, s in self.mine.items() if s is None]
        self.say(f"* archive: {len(archive)} messages; posts of mine reflected: {len(reflected)}, "
                 f"missing from the archive: {len(missing)}, archived twice: {len(doubled)}; "
                 f"archived but never shown here: {len(unseen)}; sent but not reflected: {len(unreflected)}")
        for b in missing + doubled:
            self.say(f"*   {b!r}")
        return not missing and not doubled and not unseen

    async def finish(self):
        while not self.joined or self.outbox:
            await asyncio.sleep(0.2)
        await asyncio.sleep(self.a.settle)
        ok = await self.check()
        self.ended = True
        self.disconnect()
        if not self.done.done():
            self.done.set_result(0 if ok else 1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--node", type=int, default=1, help="start on node N (127.0.0.N)")
    p.add_argument("--nodes", type=int, default=5, help="how many nodes the demo has")
    p.add_argument("--port", type=int, default=5222)
    p.add_argument("--ca", required=True, help="the demo's certificate, pool-demo/tls/cert.pem")
    p.add_argument("--domain", default="localhost")
    p.add_argument("--room", default="lobby")
    p.add_argument("--nick", default="")
    p.add_argument("--reconnect-delay", type=float, default=1, help="seconds to wait before connecting to the next node")
    p.add_argument("--timestamps", action="store_true", help="start each line with the time, and show each post when it is sent")
    p.add_argument("--settle", type=float, default=2, help="seconds to wait at end of input before the check")
    a = p.parse_args()
    c = PoolChat(a)
    c.loop.add_reader(sys.stdin.fileno(), c.on_stdin)
    c.connect_node()
    try:
        return c.loop.run_until_complete(c.done)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())

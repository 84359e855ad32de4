"""Shared pieces of the slixmpp interop scenarios (imported by the scripts
next to it; not run on its own).

Every scenario script takes the same arguments (see parse_args), prints one
line per step, and exits 0 on success or 1 with a "FAIL: ..." line. Every
wait has a timeout, and the whole scenario is bounded by SCENARIO_TIMEOUT.
slixmpp's DEBUG log, which shows every stanza sent and received, goes to
the file given with --log.
"""

import argparse
import asyncio
import logging
import ssl
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

try:
    import slixmpp
    from slixmpp.exceptions import IqError, IqTimeout
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath
except ImportError as e:  # the Go test checks this first; be clear anyway
    print(f"FAIL: cannot import slixmpp ({e}): apt-get install -y python3-slixmpp",
          file=sys.stderr)
    sys.exit(1)

WAIT = 10               # seconds for any single wait
# A login (TLS, SCRAM's PBKDF2 on both sides, bind, roster) waits longer:
# on a loaded 2-core machine it has taken over 10 s, with nothing wrong.
LOGIN_WAIT = 30
SCENARIO_TIMEOUT = 55   # seconds for a whole script
MECH = "SCRAM-SHA-256"

NS_ROSTER = "jabber:iq:roster"
NS_DELAY = "urn:xmpp:delay"

_start = time.monotonic()

# Every byte each client sends and receives, labelled with the client; the
# Go test shows the end of this when a scenario fails.
wire = logging.getLogger("wire")


class Failure(Exception):
    """A check failed; the message says which and why."""


def step(msg):
    print(f"[{time.monotonic() - _start:6.2f}s] {msg}", flush=True)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


async def wait_for(aw, what, timeout=WAIT):
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        raise Failure(f"timeout after {timeout}s waiting for {what}") from None


# Failed soft checks: the scenario goes on (to find more), but still fails.
soft_failures = []


async def soft_until(pred, what, timeout=3):
    """Like until, but a timeout is recorded and the scenario goes on."""
    try:
        await until(pred, what, timeout)
        return True
    except Failure as e:
        soft_failures.append(str(e))
        step(f"   FAILED (going on): {e}")
        return False


async def until(pred, what, timeout=WAIT):
    """Poll pred() until it is true; fail after timeout with what."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise Failure(f"timeout after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def iq(aw, what):
    """Await an IQ round trip; turn errors and timeouts into a Failure."""
    try:
        return await wait_for(aw, what)
    except IqError as e:
        raise Failure(f"{what}: error reply {e.iq['error']['condition']!r}: {e.iq}") from None
    except IqTimeout:
        raise Failure(f"{what}: no reply (IqTimeout)") from None


def take_args(mine):
    """Take a script's own "--name value" arguments (mine: name -> default)
    out of sys.argv, before parse_args sees the common ones; returns mine
    with the values given."""
    mine = dict(mine)
    rest = []
    argv = sys.argv[1:]
    i = 0
    while i < len(argv):
        if argv[i] in mine and i + 1 < len(argv):
            mine[argv[i]] = argv[i + 1]
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    sys.argv[1:] = rest
    return mine


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="c2s (STARTTLS) port")
    p.add_argument("--tls-port", type=int, default=0, help="direct TLS (XEP-0368) port")
    p.add_argument("--domain", default="localhost")
    p.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD")
    p.add_argument("--phase", default="")
    p.add_argument("--state", default="",
                   help="a JSON file one phase leaves for the next (e.g. across a restart)")
    p.add_argument("--log", default="", help="slixmpp DEBUG log file (stanzas)")
    a = p.parse_args()
    a.passwords = dict(u.split(":", 1) for u in a.user)
    if a.log:
        logging.basicConfig(filename=a.log, level=logging.DEBUG,
                            format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return a


class Client(slixmpp.ClientXMPP):
    """One client session: records every message and subscription request
    it gets, and logs what it sends and receives (logger "wire")."""

    def __init__(self, args, user, resource, *, auto_authorize=None, check_self_presence=False,
                 mech=MECH):
        jid = f"{user}@{args.domain}/{resource}"
        super().__init__(jid, args.passwords[user], sasl_mech=mech)
        self.mech = mech
        self.args = args
        self.label = f"{user}/{resource}"
        self.check_self_presence = check_self_presence
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        # Subscriptions are answered by the scenario unless told otherwise,
        # and never reciprocated automatically, so states are predictable.
        self.auto_authorize = auto_authorize
        self.auto_subscribe = False
        for plugin in ("xep_0030", "xep_0092", "xep_0199", "xep_0203"):
            self.register_plugin(plugin)
        self.messages = asyncio.Queue()
        self.subscribe_requests = []
        # The "message" event only fires for stanzas with a body; record all.
        self.register_handler(Callback("record messages",
                                       MatchXPath("{jabber:client}message"),
                                       self.messages.put_nowait))
        self.add_event_handler("presence_subscribe",
                               lambda p: self.subscribe_requests.append(p))
        self._outcome = None
        for ev in ("session_start", "failed_auth", "failed_all_auth", "no_auth",
                   "connection_failed", "disconnected", "stream_error"):
            self.add_event_handler(ev, self._make_outcome(ev))

    def _make_outcome(self, ev):
        def handler(data):
            if self._outcome is not None and not self._outcome.done():
                self._outcome.set_result((ev, data))
        return handler

    def send_raw(self, data):
        wire.info("%s SEND: %s", self.label, data)
        return super().send_raw(data)

    def data_received(self, data):
        wire.info("%s RECV: %s", self.label, data.decode("utf-8", "replace"))
        return super().data_received(data)

    async def login(self, direct_tls=False, presence=True):
        """Connect, STARTTLS (or direct TLS), SCRAM-SHA-256, bind, roster, presence."""
        how = "direct TLS" if direct_tls else "STARTTLS"
        self._outcome = asyncio.get_running_loop().create_future()
        port = self.args.tls_port if direct_tls else self.args.port
        self.connect((self.args.host, port), use_ssl=direct_tls)
        ev, data = await wait_for(self._outcome, f"{self.label} to log in over {how}", LOGIN_WAIT)
        if ev != "session_start":
            raise Failure(f"{self.label} login over {how} failed: {ev}: {data}")
        ssl_obj = self.transport.get_extra_info("ssl_object") if self.transport else None
        check(ssl_obj is not None, f"{self.label}: stream is not encrypted")
        if not direct_tls:
            check("starttls" in self.features, f"{self.label}: STARTTLS was not negotiated")
        mech = self.plugin["feature_mechanisms"].mech
        check(mech is not None and mech.name == self.mech,
              f"{self.label}: authenticated with {getattr(mech, 'name', None)}, want {self.mech}")
        step(f"{self.label}: logged in as {self.boundjid.full} over {how} "
             f"({ssl_obj.version()}, {mech.name})")
        if presence:
            await iq(self.get_roster(), f"{self.label} roster get")
            self.send_presence()
            # The server handles a session's stanzas in order: once this
            # ping is answered the presence has been processed, and other
            # clients' messages to our bare JID reach this resource.
            await iq(self.plugin["xep_0199"].send_ping(self.args.domain, timeout=WAIT),
                     f"{self.label} ping after initial presence")
            if self.check_self_presence:
                # RFC 6121 4.2.2: the server MUST broadcast initial presence
                # to all the user's available resources, "including the
                # resource that generated the presence notification".
                await soft_until(lambda: self.boundjid.resource in
                                 self.client_roster[self.boundjid.bare].resources,
                                 f"{self.label} to get its own initial presence back "
                                 f"(RFC 6121 4.2.2)")
        return self

    async def logout(self):
        step(f"{self.label}: disconnecting")
        await wait_for(self.disconnect(wait=5), f"{self.label} to disconnect")

    async def next_message(self, what, timeout=WAIT):
        return await wait_for(self.messages.get(), f"{self.label}: {what}", timeout)

    async def expect_chat(self, frm, body, what, delayed=False):
        msg = await self.next_message(what)
        check(msg["type"] != "error", f"{self.label}: {what}: got an error message: {msg}")
        check(msg["body"] == body, f"{self.label}: {what}: body {msg['body']!r}, want {body!r}")
        check(msg["from"].bare == frm.bare,
              f"{self.label}: {what}: from {msg['from']}, want {frm}")
        check(msg["type"] == "chat", f"{self.label}: {what}: type {msg['type']!r}, want 'chat'")
        delay = msg.xml.find(f"{{{NS_DELAY}}}delay")
        if delayed:
            check(delay is not None,
                  f"{self.label}: {what}: no XEP-0203 <delay/> on an offline message: {msg}")
            stamp = msg["delay"]["stamp"]
            check(stamp is not None, f"{self.label}: {what}: <delay/> has no valid stamp: {msg}")
            age = (datetime.now(timezone.utc) - stamp).total_seconds()
            check(-5 < age < 120, f"{self.label}: {what}: delay stamp {stamp.isoformat()} "
                  f"is {age:.1f}s old; want the time the message was sent")
            step(f"{self.label}: got {body!r} from {msg['from']} "
                 f"(delayed, stamp {msg['delay']['stamp'].isoformat()}, from {delay.get('from')!r})")
        else:
            check(delay is None, f"{self.label}: {what}: unexpected <delay/> on a live message: {msg}")
            step(f"{self.label}: got {body!r} from {msg['from']}")
        return msg

    async def expect_no_message(self, what):
        """Make sure nothing more is queued: a ping round trip, then a moment."""
        await iq(self.plugin["xep_0199"].send_ping(self.args.domain, timeout=WAIT),
                 f"{self.label} ping (sync)")
        await asyncio.sleep(0.5)
        if not self.messages.empty():
            raise Failure(f"{self.label}: {what}: unexpected message {self.messages.get_nowait()}")

    async def server_roster(self):
        """Fetch the roster from the server without a version (so in full) and
        return {bare jid: (subscription, ask, name, groups)} and the version."""
        q = self.Iq()
        q["type"] = "get"
        q.append(ET.Element(f"{{{NS_ROSTER}}}query"))
        res = await iq(q.send(timeout=WAIT), f"{self.label} roster get (full)")
        query = res.xml.find(f"{{{NS_ROSTER}}}query")
        check(query is not None, f"{self.label}: roster result without <query/>: {res}")
        items = {}
        for it in query.findall(f"{{{NS_ROSTER}}}item"):
            groups = sorted(g.text or "" for g in it.findall(f"{{{NS_ROSTER}}}group"))
            items[it.get("jid")] = (it.get("subscription", "none"), it.get("ask"),
                                    it.get("name"), groups)
        return items, query.get("ver")


def run(main, timeout=SCENARIO_TIMEOUT):
    """Run main(args) under the scenario timeout (seconds); exit 1 on any
    failure."""
    args = parse_args()

    async def bounded():
        try:
            await asyncio.wait_for(main(args), timeout)
        except asyncio.TimeoutError:
            raise Failure(f"scenario did not finish within {timeout}s") from None

    try:
        asyncio.run(bounded())
    except Failure as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)
    except Exception as e:  # a bug in the script or in slixmpp: still a failure
        import traceback
        traceback.print_exc()
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
    if soft_failures:
        for f in soft_failures:
            print(f"FAIL: {f}", flush=True)
        sys.exit(1)
    step("PASS")

"""Revocation reaches people already inside (issue 18): an administrator
changes who may be in a room with parleyctl while slixmpp clients sit in
it, and the ones shut out are removed at once (XEP-0045 §15.6 status codes
on their unavailable self-presence), can no longer post, read the archive
or receive the room's posts, while everyone else goes on.

Needs four accounts: --user owner:PW --user member:PW --user member2:PW
--user walled:PW, and the rooms the Go test made with parleyctl: "brief"
(closed; owner manages it; member and member2 are members) and "plaza"
(open, in category "legal"; owner manages it).

--ctl is a JSON list: the parleyctl command line (binary and the flags
that reach parleyd's database) the script runs for each change.
--port2, when given, is the c2s port of a second pool node: member2 and
walled log in there, the others on --port, so that some occupants are on
the node hosting the room and some are not.

Steps:
  1. owner, member, member2 in brief; a post reaches all.
  2. parleyctl room members remove brief member member2: each gets its
     unavailable self-presence with 321 and 110, owner sees both leave
     with 321; member's post is refused (not-acceptable), its MAM query
     too; owner's next post reaches neither.
  3. owner, member, walled in plaza; parleyctl category set legal --deny
     walled: walled gets 321 and is out; member is not affected.
  4. parleyctl room set plaza --privacy closed: member (no member of
     plaza) gets 322; owner stays.
For each removal the script prints "LATENCY <what> <ms from parleyctl's
start> <ms from parleyctl's exit>" (the second is negative when the
removal arrived before parleyctl had exited).
"""

import asyncio
import copy
import json
import time

from slixmpp import JID
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from muc import MUCClient, error_condition, kind, status_codes, text_of
from slixclient import Failure, check, run, step, take_args

OWN = take_args({"--ctl": "[]", "--port2": "0"})
CTL = json.loads(OWN["--ctl"])


class TimedClient(MUCClient):
    """A MUCClient that also notes when each presence arrived."""

    def __init__(self, args, user, resource):
        super().__init__(args, user, resource)
        self.arrived = {}  # id(stanza) -> time.monotonic()
        self.register_handler(Callback("revoke: presence arrival", MatchXPath("{jabber:client}presence"),
                                       lambda s: self.arrived.setdefault(id(s), time.monotonic())))


async def login(args, user, resource, port=0):
    if port:
        args = copy.copy(args)
        args.port = port
    return await TimedClient(args, user, resource).login()


async def parleyctl(*words):
    """Run parleyctl; return (start, exit) monotonic times."""
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(*CTL, *words, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    end = time.monotonic()
    check(proc.returncode == 0, f"parleyctl {' '.join(words)} exited {proc.returncode}: {out.decode()}")
    step(f"   parleyctl {' '.join(words)}: {out.decode().strip()} ({(end - start) * 1000:.0f} ms)")
    return start, end


def removal(room, nick, status, self_presence):
    """A predicate: nick's unavailable presence from room with status."""
    def match(s):
        codes = status_codes(s)
        return (kind(s) == "presence" and s["from"] == f"{room}/{nick}" and s["type"] == "unavailable"
                and status in codes and (110 in codes) == self_presence)
    return match


async def removed(c, room, nick, status, since, ctl_times, what):
    """Wait for c's own removal from room with status; print its latency."""
    _, s = await c.expect(removal(room, nick, status, True),
                          f"its unavailable self-presence with status {status} ({what})", since)
    at = c.arrived.get(id(s), time.monotonic())
    start, end = ctl_times
    print(f"LATENCY {what} {(at - start) * 1000:.0f} {(at - end) * 1000:.0f}", flush=True)
    step(f"   {c.label}: removed from {room} with {sorted(status_codes(s))}, "
         f"{(at - start) * 1000:.0f} ms after parleyctl started, {(at - end) * 1000:.0f} ms after it exited")
    return s


async def gets_nothing(c, body, since):
    await c.sync()
    check(not any(text_of(s, "body") == body for s in c.seen[since:]),
          f"{c.label} was removed but still got {body!r}")


async def main(args):
    d = args.domain
    conf = f"conference.{d}"
    brief, plaza = f"brief@{conf}", f"plaza@{conf}"
    port2 = int(OWN["--port2"])
    check(CTL, "--ctl is required")

    step("1. owner, member and member2 sit in the closed room brief" +
         (f" (member2 and walled on the second node, port {port2})" if port2 else ""))
    owner = await login(args, "owner", "desk")
    member = await login(args, "member", "laptop")
    member2 = await login(args, "member2", "phone", port2)
    walled = await login(args, "walled", "tablet", port2)
    await owner.join(brief, "Olive", "owner joins brief", maxstanzas=0)
    await member.join(brief, "Max", "member joins brief", maxstanzas=0)
    await member2.join(brief, "Mia", "member2 joins brief", maxstanzas=0)
    await owner.post(brief, "agenda for today", others=[member, member2])

    step("2. parleyctl room members remove brief member member2")
    marks = {c.label: c.mark() for c in (owner, member, member2)}
    times = await parleyctl("room", "members", "remove", "brief", "member", "member2")
    await removed(member, brief, "Max", 321, marks[member.label], times, "member-removed")
    await removed(member2, brief, "Mia", 321, marks[member2.label], times, "member-removed-2")
    for nick in ("Max", "Mia"):
        await owner.expect(removal(brief, nick, 321, False), f"{nick} leaving brief with 321",
                           marks[owner.label])
    step("   owner saw both leave with 321")
    err = await member.post_refused(brief, "am I still here?", "not-acceptable", others=[owner])
    step(f"   member's post refused: {error_condition(err)}")
    cond = await member.mam_refused(brief, "MAM on brief after the removal")
    step(f"   member's MAM query refused: {cond}")
    mark_m, mark_m2 = member.mark(), member2.mark()
    await owner.post(brief, "members only from here")
    await gets_nothing(member, "members only from here", mark_m)
    await gets_nothing(member2, "members only from here", mark_m2)
    step("   owner's next post reached neither")

    step("3. owner, member and walled in the open room plaza (category legal); "
         "parleyctl category set legal --deny walled")
    await owner.join(plaza, "Olive", "owner joins plaza", maxstanzas=0)
    await member.join(plaza, "Max", "member joins plaza", maxstanzas=0)
    await walled.join(plaza, "Wes", "walled joins plaza", maxstanzas=0)
    marks = {c.label: c.mark() for c in (owner, member, walled)}
    times = await parleyctl("category", "set", "legal", "--deny", "walled")
    await removed(walled, plaza, "Wes", 321, marks[walled.label], times, "ethical-wall")
    await owner.expect(removal(plaza, "Wes", 321, False), "Wes leaving plaza with 321", marks[owner.label])
    await walled.post_refused(plaza, "let me back in", "not-acceptable", others=[owner, member])
    mark_w = walled.mark()
    await owner.post(plaza, "behind the wall", others=[member])
    await gets_nothing(walled, "behind the wall", mark_w)
    step("   walled is out; member, allowed, still reads plaza")

    step("4. parleyctl room set plaza --privacy closed: member is no member of plaza")
    marks = {c.label: c.mark() for c in (owner, member)}
    times = await parleyctl("room", "set", "plaza", "--privacy", "closed")
    await removed(member, plaza, "Max", 322, marks[member.label], times, "members-only")
    await owner.expect(removal(plaza, "Max", 322, False), "Max leaving plaza with 322", marks[owner.label])
    await owner.post(plaza, "managers only now")
    step("   owner stays and posts")

    for c in (owner, member, member2, walled):
        await c.logout()


if __name__ == "__main__":
    run(main)

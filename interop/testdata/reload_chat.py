"""Sessions chat in one room while parleyd reloads (TestSIGHUPKeepsSessions).

Every user given with --user logs in --sessions times (resources s1, s2,
...), and each session joins --room. Then, round after round, every session
posts once and every session must get every post of the round; --state
holds the number of rounds done. The Go test sends parleyd SIGHUPs; after
reload K it writes STATE.reloaded-K, and at the end of its round the script
probes the stanza size limit a new session gets, then writes STATE.probed-K:
a fresh session of the first user sends itself a 16 KiB message, which must
end its stream with policy-violation after reload 1 (the limit went down to
8 KiB) and arrive after reload 2 (back to 256 KiB). When STATE.stop exists
the script does one last round and checks that no session was ever
disconnected.
"""

import asyncio
import os

from slixmpp import JID

from slixclient import check, run, step, take_args, wait_for
from muc import MUCClient, kind, text_of

_mine = take_args({"--room": "lobby", "--sessions": "2"})
ROOM, SESSIONS = _mine["--room"], int(_mine["--sessions"])
BIG = "y" * (16 << 10)


async def chat_round(clients, room, r):
    """Every client posts once; every client gets every post."""
    marks = [c.mark() for c in clients]
    bodies = [f"{c.label} round {r}" for c in clients]
    for c, body in zip(clients, bodies):
        c.send_message(mto=JID(room), mbody=body, mtype="groupchat")
    for c, mark in zip(clients, marks):
        for body in bodies:
            await c.expect(lambda s, b=body: kind(s) == "message" and s["type"] == "groupchat"
                           and text_of(s, "body") == b, f"{body!r} in round {r}", mark)


async def probe(args, user, k):
    """A fresh session sends itself a 16 KiB message: cut off with
    policy-violation after reload 1, delivered after reload 2."""
    p = MUCClient(args, user, f"probe{k}")
    await p.login()
    ended = asyncio.get_running_loop().create_future()
    errors = []
    p.add_event_handler("stream_error", lambda e: errors.append(e))
    p.add_event_handler("disconnected", lambda e: ended.done() or ended.set_result(e))
    mark = p.mark()
    p.send_message(mto=p.boundjid, mbody=BIG, mtype="chat")
    if k == 1:
        await wait_for(ended, f"{p.label}: its stream to end after a 16 KiB stanza (8 KiB limit)")
        conditions = [e["condition"] for e in errors]
        check(conditions == ["policy-violation"],
              f"{p.label}: stream errors {conditions}, want ['policy-violation']")
        step(f"   {p.label}: a 16 KiB message ended its stream with policy-violation (8 KiB limit)")
    else:
        await p.expect(lambda s: kind(s) == "message" and text_of(s, "body") == BIG,
                       "its own 16 KiB message back (256 KiB limit)", mark)
        step(f"   {p.label}: its 16 KiB message arrived (256 KiB limit again)")
        await p.logout()


async def main(args):
    check(args.state, "needs --state FILE")
    room = f"{ROOM}@conference.{args.domain}"
    users = sorted(args.passwords)
    clients = [MUCClient(args, user, f"s{i}") for user in users for i in range(1, SESSIONS + 1)]
    dropped = []

    async def enter(c):
        await c.login()
        await c.join(room, c.label.replace("/", "-"), f"{c.label} joins {room}", maxstanzas=0)
        c.add_event_handler("disconnected", lambda e: dropped.append(c.label))
    await asyncio.gather(*(enter(c) for c in clients))
    step(f"1. {len(clients)} sessions in {room}; chatting until {args.state}.stop")
    r, k = 0, 1
    while True:
        r += 1
        await chat_round(clients, room, r)
        check(not dropped, f"sessions disconnected: {dropped}")
        with open(args.state, "w") as f:
            f.write(f"{r}\n")
        if os.path.exists(args.state + ".stop"):
            break
        if k <= 2 and os.path.exists(f"{args.state}.reloaded-{k}"):
            step(f"2.{k} round {r}: parleyd reloaded ({k}); probing the stanza size limit")
            await probe(args, users[0], k)
            open(f"{args.state}.probed-{k}", "w").close()
            k += 1
        await asyncio.sleep(0.1)
    step(f"3. {r} rounds, {r * len(clients)} posts each seen by all {len(clients)} sessions; "
         f"none disconnected")
    for c in clients:
        await c.logout()


if __name__ == "__main__":
    run(main)

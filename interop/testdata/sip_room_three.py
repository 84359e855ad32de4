"""The issue's first acceptance line, the XMPP side: in one room a slixmpp
user (carol), a baresip user (alice) and a sipp user (dave) exchange
posts; see TestThreeClientsOneRoom for the SIP sides.

carol joins --room and writes --state.ready; she waits for p-dave-1 and
p-alice-1 (posted one after the other by the Go test), posts p-carol-1,
then waits for --go (a file): the Go test then has alice post p-alice-2
and dave p-dave-2 at the same moment, and carol posts p-carol-2. Once she
has all six she reads the room's MAM archive and writes --state: JSON
{"mam": [bodies in archive order], "live": [what carol got, in order]}.
Every post must be in MAM once, and carol must have got each of the
others' posts once, in MAM order.

Needs --user carol:PW.
"""

import json
import os

from slixclient import check, run, step, take_args
from muc import MUCClient, archived, inner_body, kind, service, text_of

_mine = take_args({"--room": "lobby", "--go": ""})
ROOM, GO = _mine["--room"], _mine["--go"]
ALL = ["p-dave-1", "p-alice-1", "p-carol-1", "p-alice-2", "p-dave-2", "p-carol-2"]


def live_posts(c, room):
    """Bodies of the posts c got live from the room, in order."""
    return [text_of(s, "body") for s in c.seen
            if kind(s) == "message" and s["type"] == "groupchat" and str(s["from"]).startswith(room + "/")
            and (text_of(s, "body") or "").startswith("p-")
            and s.xml.find("{urn:xmpp:delay}delay") is None]


async def main(args):
    check(args.state and GO, "needs --state FILE and --go FILE")
    room = f"{ROOM}@{service(args)}"
    carol = await MUCClient(args, "carol", "desk").login()
    await carol.join(room, "carol", f"carol joins {room}", maxstanzas=0)
    with open(args.state + ".ready", "w") as f:
        f.write("ready\n")
    step(f"1. carol is in {room}")

    def have(*bodies):
        got = live_posts(carol, room)
        return all(b in got for b in bodies)
    from slixclient import until
    await until(lambda: have("p-dave-1", "p-alice-1"), "p-dave-1 and p-alice-1", 30)
    step("2. got p-dave-1 and p-alice-1")
    await carol.post(room, "p-carol-1")
    await until(lambda: os.path.exists(GO), f"the Go test's {GO}", 30)
    carol.send_message(mto=room, mbody="p-carol-2", mtype="groupchat")
    await until(lambda: have("p-alice-2", "p-dave-2", "p-carol-2"), "the second round", 30)
    step(f"3. live: {live_posts(carol, room)}")

    got = await carol.mam_iterate(room, reverse=False, page=20)
    mam = [inner_body(archived(r)[1]) for r in got]
    mam = [b for b in mam if b and b.startswith("p-")]
    step(f"4. MAM: {mam}")
    check(sorted(mam) == sorted(ALL), f"MAM has {mam}, want each of {ALL} once")
    live = live_posts(carol, room)
    others = [b for b in mam if not b.startswith("p-carol")]
    mine = [b for b in live if not b.startswith("p-carol")]
    check(mine == others, f"carol got the others' posts as {mine}; MAM order is {others}")
    check(live == mam, f"carol's live view (with her reflections) {live} is not MAM's {mam}")
    with open(args.state, "w") as f:
        json.dump({"mam": mam, "live": live}, f)
    await carol.logout()


if __name__ == "__main__":
    run(main)

"""An XMPP occupant sees a post made over SIP: bob joins an open room (made
with parleyctl), writes --state when he is in, then waits for the SIP
user's post (made by sipp, see TestSippPostsToRoomSeenBySlixmpp) as a
groupchat message from the SIP user's nick with the room's stanza-id, and
finds it in the room's MAM archive exactly once, with the same id.

Needs --user bob:PW; --room, --nick (the SIP user's nick), --body.
"""

import asyncio

from slixclient import Failure, check, run, step, take_args, until
from muc import (MUCClient, archived, inner_body, kind, stanza_id, service, short)

LIVE_WAIT = 20  # seconds for the SIP post to arrive


def extra_args():
    mine = take_args({"--room": "lobby", "--nick": "alice", "--body": "hello from sipp"})
    return mine["--room"], mine["--nick"], mine["--body"]


ROOM, NICK, BODY = extra_args()


async def main(args):
    check(args.state, "needs --state FILE (written once bob is in the room)")
    room = f"{ROOM}@{service(args)}"
    bob = await MUCClient(args, "bob", "desk").login()
    await bob.join(room, "bob", f"bob joins {room}", maxstanzas=0)
    step(f"1. bob is in {room}; waiting up to {LIVE_WAIT}s for {BODY!r} from {NICK}")
    mark = bob.mark()
    with open(args.state, "w") as f:
        f.write("ready\n")

    occupant = f"{room}/{NICK}"
    _, msg = await bob.expect(lambda s: kind(s) == "message" and s["type"] == "groupchat"
                              and s["body"] == BODY,
                              f"groupchat {BODY!r} from the SIP user", mark, LIVE_WAIT)
    step(f"   got: {short(msg)}")
    check(str(msg["from"]) == occupant,
          f"the post is from {msg['from']}, want {occupant}: {msg}")
    sid, by = stanza_id(msg)
    check(sid, f"the post has no XEP-0359 stanza-id: {msg}")
    check(by == room, f"the post's stanza-id is by {by!r}, want {room!r}: {msg}")
    step(f"2. live post from {msg['from']} with stanza-id {sid}")

    got = await bob.mam_iterate(room, reverse=False, page=20)
    hits = []
    for res in got:
        aid, inner, _ = archived(res)
        if inner_body(inner) == BODY:
            hits.append((aid, inner.get("from")))
    step(f"3. MAM: {len(got)} archived messages, {BODY!r} in {hits}")
    check(len(hits) == 1, f"MAM has {BODY!r} {len(hits)} times, want once: {hits}")
    check(hits[0][0] == sid, f"MAM archive id {hits[0][0]!r} is not the live stanza-id {sid!r}")
    check(hits[0][1] == occupant, f"MAM has the post from {hits[0][1]!r}, want {occupant!r}")
    await bob.logout()


if __name__ == "__main__":
    run(main)

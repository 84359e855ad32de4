"""An XMPP occupant joins and leaves a room while a SIP user (sipp)
watches its conference roster: bob waits for --go (written by sipp once
its subscription is live), joins ROOM as bob, leaves, and logs out.

Needs --user bob:PW; --room, --go.
"""

import os

from slixclient import check, run, step, take_args, until
from muc import MUCClient, service

GO_WAIT = 30  # seconds for the SIP subscription


def extra_args():
    mine = take_args({"--room": "lobby", "--go": ""})
    return mine["--room"], mine["--go"]


ROOM, GO = extra_args()


async def main(args):
    check(GO, "needs --go FILE")
    room = f"{ROOM}@{service(args)}"
    bob = await MUCClient(args, "bob", "desk").login()
    await until(lambda: os.path.exists(GO), "the SIP subscription", GO_WAIT)
    await bob.join(room, "bob", f"bob joins {room}", maxstanzas=0)
    step(f"1. bob joined {room}")
    await bob.leave(room, "bob")
    step(f"2. bob left {room}")
    await bob.logout()


if __name__ == "__main__":
    run(main)

"""An XMPP occupant in the same room as a SIP user (sipp): bob joins an open
room and posts --seed (for the SIP user's /history), writes --state, then
waits for --go (written once the SIP user joined over SIP and ran its
commands). He must see the SIP user as an ordinary occupant: available
presence from ROOM/NICK with an XEP-0421 occupant-id. Then he posts --live
(which the SIP user's contact, a sipp UAS, must get) and leaves.

Needs --user bob:PW; --room, --nick (the SIP user's), --seed, --live, --go.
"""

import os

from slixclient import check, run, step, take_args, until
from muc import MUCClient, kind, occupant_id, service, short

GO_WAIT = 30  # seconds for the SIP side


def extra_args():
    mine = take_args({"--room": "lobby", "--nick": "alice", "--seed": "seed", "--live": "live", "--go": ""})
    return mine["--room"], mine["--nick"], mine["--seed"], mine["--live"], mine["--go"]


ROOM, NICK, SEED, LIVE, GO = extra_args()


async def main(args):
    check(args.state and GO, "needs --state FILE and --go FILE")
    room = f"{ROOM}@{service(args)}"
    bob = await MUCClient(args, "bob", "desk").login()
    await bob.join(room, "bob", f"bob joins {room}", maxstanzas=0)
    await bob.post(room, SEED)
    step(f"1. bob is in {room} and posted {SEED!r}")
    with open(args.state, "w") as f:
        f.write("ready\n")

    await until(lambda: os.path.exists(GO), "the SIP user's commands", GO_WAIT)
    occupant = f"{room}/{NICK}"
    _, pres = await bob.expect(lambda s: kind(s) == "presence" and s["from"] == occupant,
                               f"the SIP user's presence as {occupant}")
    step(f"2. the SIP user is an occupant: {short(pres)}")
    check(pres["type"] not in ("unavailable", "error"), f"the SIP user's presence is {pres['type']}: {pres}")
    check(occupant_id(pres), f"the SIP user's presence has no XEP-0421 occupant-id: {pres}")
    check(pres["muc"]["role"] == "participant", f"the SIP user's role is {pres['muc']['role']!r}: {pres}")

    await bob.post(room, LIVE)
    step(f"3. bob posted {LIVE!r}; leaving")
    await bob.leave(room, "bob")
    await bob.logout()


if __name__ == "__main__":
    run(main)

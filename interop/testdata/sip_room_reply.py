"""An XMPP occupant and a SIP occupant (baresip, driven by the Go test; see
TestBaresipPostsToRoom) talk in one room: bob joins --room and writes
--state; the SIP user's --body must arrive as a groupchat message from
ROOM/--nick with the room's stanza-id, and bob answers in the room with
--reply (which the Go test checks baresip receives as "bob: REPLY").

Needs --user bob:PW.
"""

from slixclient import check, run, step, take_args
from muc import MUCClient, kind, service, short, stanza_id

_mine = take_args({"--room": "lobby", "--nick": "alice", "--body": "", "--reply": ""})
ROOM, NICK, BODY, REPLY = (_mine[k] for k in ("--room", "--nick", "--body", "--reply"))


async def main(args):
    check(args.state, "needs --state FILE (written once bob is in the room)")
    room = f"{ROOM}@{service(args)}"
    bob = await MUCClient(args, "bob", "desk").login()
    await bob.join(room, "bob", f"bob joins {room}", maxstanzas=0)
    mark = bob.mark()
    with open(args.state, "w") as f:
        f.write("ready\n")
    step(f"1. bob is in {room}; waiting for {BODY!r} from {NICK}")
    _, msg = await bob.expect(lambda s: kind(s) == "message" and s["type"] == "groupchat"
                              and s["body"] == BODY, f"{BODY!r} from the SIP user", mark, 20)
    check(str(msg["from"]) == f"{room}/{NICK}", f"from {msg['from']}, want {room}/{NICK}: {msg}")
    check(stanza_id(msg)[0], f"no stanza-id: {msg}")
    step(f"2. got {short(msg)}")
    await bob.post(room, REPLY)
    step(f"3. bob posted {REPLY!r}")
    await bob.logout()


if __name__ == "__main__":
    run(main)

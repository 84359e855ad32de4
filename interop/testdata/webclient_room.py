"""A slixmpp user and the web client in a browser (driven by the Go test;
see TestWebClientRoomWithSlixmpp) in one room: bob joins --room, posts
--history before the browser user comes (which the browser must show from
the room's history), writes --state; the browser user's --body must arrive
as a groupchat message from ROOM/--nick with the room's stanza-id, and bob
answers with --reply (which the Go test checks the browser shows).

Needs --user bob:PW.
"""

from slixclient import check, run, step, take_args
from muc import MUCClient, kind, service, short, stanza_id

_mine = take_args({"--room": "lobby", "--nick": "alice", "--body": "", "--reply": "", "--history": ""})
ROOM, NICK, BODY, REPLY, HISTORY = (_mine[k] for k in ("--room", "--nick", "--body", "--reply", "--history"))


async def main(args):
    check(args.state, "needs --state FILE (written once bob is in the room)")
    room = f"{ROOM}@{service(args)}"
    bob = await MUCClient(args, "bob", "desk").login()
    await bob.join(room, "bob", f"bob joins {room}", maxstanzas=0)
    await bob.post(room, HISTORY)
    step(f"1. bob is in {room} and posted {HISTORY!r}")
    mark = bob.mark()
    with open(args.state, "w") as f:
        f.write("ready\n")
    step(f"2. waiting for {BODY!r} from {NICK}")
    _, msg = await bob.expect(lambda s: kind(s) == "message" and s["type"] == "groupchat"
                              and s["body"] == BODY, f"{BODY!r} from the browser", mark, 45)
    check(str(msg["from"]) == f"{room}/{NICK}", f"from {msg['from']}, want {room}/{NICK}: {msg}")
    check(stanza_id(msg)[0], f"no stanza-id: {msg}")
    step(f"3. got {short(msg)}")
    await bob.post(room, REPLY)
    step(f"4. bob posted {REPLY!r}")
    await bob.logout()


if __name__ == "__main__":
    run(main)

"""What an administrator made in the web admin console (driven by the Go
test; see TestAdminConsole), seen from a slixmpp client: bob finds --room
in the MUC service's rooms (disco#items), its disco#info says it is
members-only and public (a closed room), and bob, a member, joins it;
mallory, walled off by the room's category, is refused. With --state
FILE, bob then stays in the room, writes FILE, and waits to be removed
(status 321, XEP-0045 §15.6) when the administrator takes him off the
room's members in the console: the room engine's live enforcement; then
he writes FILE.kick and waits for his stream to end with
policy-violation when the administrator kicks him (parleyctl --server
user kick).

Needs --user bob:PW --user mallory:PW.
"""

import asyncio

from slixclient import check, run, step, take_args, wait_for
from muc import MUCClient, disco_info, disco_items, kind, service, status_codes

_mine = take_args({"--room": "board", "--state": ""})
ROOM, STATE = _mine["--room"], _mine["--state"]


async def main(args):
    room = f"{ROOM}@{service(args)}"
    bob = await MUCClient(args, "bob", "desk").login()
    items = await disco_items(bob, service(args), "disco#items on the MUC service")
    jids = [str(i[0]) for i in items]
    check(room in jids, f"{room} not among the service's rooms: {jids}")
    step(f"1. bob finds {room} among the rooms: {jids}")
    info = await disco_info(bob, room, f"disco#info on {room}")
    features = info["features"]
    check("muc_membersonly" in features and "muc_public" in features,
          f"{room} is not a closed room (members-only, public): {features}")
    step(f"2. {room} is members-only and public (closed)")
    await bob.join(room, "bob", f"bob, a member, joins {room}", maxstanzas=0)
    step(f"3. bob joined {room}")
    mallory = await MUCClient(args, "mallory", "desk").login()
    await mallory.join_refused(room, "mallory", None, f"mallory, walled off, joins {room}")
    step(f"4. mallory is refused")
    await mallory.logout()
    if STATE:
        mark = bob.mark()
        with open(STATE, "w") as f:
            f.write("joined\n")
        step("5. waiting for the administrator to take bob off the members")
        _, s = await bob.expect(lambda s: kind(s) == "presence" and s["from"] == f"{room}/bob"
                                and s["type"] == "unavailable" and 321 in status_codes(s)
                                and 110 in status_codes(s),
                                "bob's unavailable self-presence with 321", mark, 40)
        step(f"6. bob was removed from {room}: {sorted(status_codes(s))}")
        ended = asyncio.get_running_loop().create_future()
        errors = []
        bob.add_event_handler("stream_error", lambda e: errors.append(e))
        bob.add_event_handler("disconnected", lambda e: ended.done() or ended.set_result(e))
        with open(STATE + ".kick", "w") as f:
            f.write("kick me\n")
        await wait_for(ended, "bob's stream to end when the administrator kicks him", 40)
        conditions = [e["condition"] for e in errors]
        check(conditions == ["policy-violation"], f"stream errors {conditions}, want ['policy-violation']")
        step("7. bob was kicked: policy-violation")
        return
    await bob.logout()


if __name__ == "__main__":
    run(main)

"""What an administrator made in the web admin console (driven by the Go
test; see TestAdminConsole), seen from a slixmpp client: bob finds --room
in the MUC service's rooms (disco#items), its disco#info says it is
members-only and public (a closed room), and bob, a member, joins it;
mallory, walled off by the room's category, is refused.

Needs --user bob:PW --user mallory:PW.
"""

from slixclient import check, run, step, take_args
from muc import MUCClient, disco_info, disco_items, service

_mine = take_args({"--room": "board"})
ROOM = _mine["--room"]


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
    await bob.logout()


if __name__ == "__main__":
    run(main)

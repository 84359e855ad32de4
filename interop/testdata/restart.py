"""slixmpp against parleyd across a restart: what alice leaves behind must
survive it.

--phase before (bob has never logged in):
    alice logs in, adds bob to her roster (name, group), asks to subscribe
    to his presence, sends him a message, and logs out.
--phase after (run against the restarted server, same storage):
    alice logs in again: her roster still has bob, with the pending request;
    bob logs in: he gets the message, with a XEP-0203 delay, and alice's
    subscription request, which he approves; alice's item becomes 'to'.

Needs --user alice:PW --user bob:PW.
"""

from slixclient import Client, Failure, check, iq, run, step, until

BODY = "Left for you before the restart"


async def before(args):
    bob_bare = f"bob@{args.domain}"
    step("1. alice logs in over STARTTLS with SCRAM-SHA-256")
    alice = await Client(args, "alice", "laptop").login()

    step("2. alice adds bob to her roster and asks to subscribe to him")
    await iq(alice.update_roster(bob_bare, name="Bobby", groups=["Work"], timeout=10),
             "alice roster set")
    alice.send_presence_subscription(pto=bob_bare, ptype="subscribe")
    await until(lambda: alice.client_roster[bob_bare]["name"] == "Bobby",
                "alice's roster push for bob")
    items, ver = await alice.server_roster()
    step(f"   server roster of alice: {items} (ver {ver!r})")
    check(bob_bare in items, f"bob is not in alice's roster on the server: {items}")

    step("3. alice sends bob (offline, never logged in) a message")
    alice.send_message(mto=bob_bare, mbody=BODY, mtype="chat")
    await alice.expect_no_message("no error bounce for a message to an offline user")
    await alice.logout()


async def after(args):
    alice_bare, bob_bare = f"alice@{args.domain}", f"bob@{args.domain}"
    step("1. alice logs in again after the restart; her roster is intact")
    alice = await Client(args, "alice", "desktop").login()
    check(alice.client_roster.has_jid(bob_bare),
          f"bob is gone from alice's roster: {list(alice.client_roster.keys())}")
    item = alice.client_roster[bob_bare]
    step(f"   alice's roster: {bob_bare} name={item['name']!r} groups={item['groups']} "
         f"subscription={item['subscription']!r} pending_out={item['pending_out']}")
    check(item["name"] == "Bobby" and item["groups"] == ["Work"],
          f"alice's item for bob lost its name or group: {item['name']!r} {item['groups']}")
    items, _ = await alice.server_roster()
    check(items.get(bob_bare, (None, None))[1] == "subscribe",
          f"alice's pending subscription request to bob (ask='subscribe') is gone: "
          f"{items.get(bob_bare)}")

    step("2. bob logs in for the first time; he gets the offline message")
    bob = await Client(args, "bob", "phone").login()
    await bob.expect_chat(alice.boundjid, BODY, "the message left before the restart",
                          delayed=True)

    step("3. ... and alice's subscription request (stored while he was offline)")
    await until(lambda: any(p["from"].bare == alice_bare for p in bob.subscribe_requests),
                "bob to get alice's stored subscription request")
    bob.send_presence(pto=alice_bare, ptype="subscribed")
    await until(lambda: alice.client_roster[bob_bare]["subscription"] == "to",
                f"alice's item for bob to become 'to' "
                f"(is {alice.client_roster[bob_bare]['subscription']!r})")
    await until(lambda: bob.client_roster[alice_bare]["subscription"] == "from",
                f"bob's item for alice to become 'from' "
                f"(is {bob.client_roster[alice_bare]['subscription']!r})")
    await until(lambda: bob.boundjid.resource in alice.client_roster[bob_bare].resources,
                "alice to get bob's presence after the approval")
    step("   alice: bob is 'to' and online; bob: alice is 'from'")
    await bob.expect_no_message("nothing else is waiting for bob")
    await bob.logout()
    await alice.logout()


async def main(args):
    if args.phase == "before":
        await before(args)
    elif args.phase == "after":
        await after(args)
    else:
        raise Failure(f"--phase must be before or after, not {args.phase!r}")


if __name__ == "__main__":
    run(main)

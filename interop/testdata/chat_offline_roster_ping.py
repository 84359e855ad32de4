"""slixmpp against parleyd: chat both ways, offline delivery, roster and
subscriptions, ping, disco#info, version, direct TLS.

Needs two accounts, given as --user alice:PW --user bob:PW.
Run: /usr/bin/python3 -B chat_offline_roster_ping.py --port 5222 --tls-port 5223 --user ...

With --bob-port PORT, bob logs in on another node of a pool (interop's
TestPoolChatAcrossNodes): every step then crosses the nodes.
"""

import copy

from slixmpp.exceptions import IqError

from slixclient import Client, Failure, check, iq, run, step, take_args, until

OWN = take_args({"--bob-port": "0"})

SERVER_FEATURES = [
    "http://jabber.org/protocol/disco#info",
    "urn:xmpp:ping",
    "jabber:iq:version",
]


async def main(args):
    domain = args.domain
    bob_args = args
    if int(OWN["--bob-port"]):
        bob_args = copy.copy(args)
        bob_args.port = int(OWN["--bob-port"])
    alice_bare, bob_bare = f"alice@{domain}", f"bob@{domain}"

    step("1. alice and bob log in over STARTTLS with SCRAM-SHA-256")
    alice = await Client(args, "alice", "laptop", auto_authorize=True,
                         check_self_presence=True).login()
    bob = await Client(bob_args, "bob", "phone").login()

    step("2. messages both ways (to a bare JID, then to a full JID)")
    alice.send_message(mto=bob_bare, mbody="Hello Bob", mtype="chat")
    await bob.expect_chat(alice.boundjid, "Hello Bob", "alice's message")
    bob.send_message(mto=alice.boundjid.full, mbody="Hi Alice, b\u00f6b here", mtype="chat")
    await alice.expect_chat(bob.boundjid, "Hi Alice, b\u00f6b here", "bob's reply")

    step("3. alice adds bob to her roster")
    await iq(alice.update_roster(bob_bare, name="Bob", groups=["Friends"], timeout=10),
             "alice roster set")
    await until(lambda: alice.client_roster.has_jid(bob_bare) and
                alice.client_roster[bob_bare]["name"] == "Bob",
                "alice's roster push for bob")
    item = alice.client_roster[bob_bare]
    check(item["groups"] == ["Friends"], f"alice's item for bob has groups {item['groups']}")
    check(item["subscription"] == "none",
          f"alice's new item for bob has subscription {item['subscription']!r}, want 'none'")
    step(f"   alice's roster: {bob_bare} name={item['name']!r} groups={item['groups']} "
         f"subscription={item['subscription']!r}")

    step("4. alice subscribes to bob; bob approves explicitly")
    alice.send_presence_subscription(pto=bob_bare, ptype="subscribe")
    await until(lambda: any(p["from"].bare == alice_bare for p in bob.subscribe_requests),
                "bob to get alice's subscription request")
    step("   bob got the request; sending 'subscribed'")
    bob.send_presence(pto=alice_bare, ptype="subscribed")
    await until(lambda: alice.client_roster[bob_bare]["subscription"] == "to",
                f"alice's item for bob to become 'to' "
                f"(is {alice.client_roster[bob_bare]['subscription']!r})")
    await until(lambda: bob.client_roster[alice_bare]["subscription"] == "from",
                f"bob's item for alice to become 'from' "
                f"(is {bob.client_roster[alice_bare]['subscription']!r})")
    # After approval the contact's server sends its current presence.
    await until(lambda: bob.boundjid.resource in alice.client_roster[bob_bare].resources,
                "alice to get bob's presence after the approval")
    step("   alice: bob is 'to' and online; bob: alice is 'from'")

    step("5. bob subscribes back; alice's client approves (auto_authorize)")
    bob.send_presence_subscription(pto=alice_bare, ptype="subscribe")
    await until(lambda: alice.client_roster[bob_bare]["subscription"] == "both",
                f"alice's item for bob to become 'both' "
                f"(is {alice.client_roster[bob_bare]['subscription']!r})")
    await until(lambda: bob.client_roster[alice_bare]["subscription"] == "both",
                f"bob's item for alice to become 'both' "
                f"(is {bob.client_roster[alice_bare]['subscription']!r})")
    await until(lambda: alice.boundjid.resource in bob.client_roster[alice_bare].resources,
                "bob to get alice's presence after the approval")
    step("   both rosters say 'both'; each sees the other online")

    step("6. the server's own view of both rosters (full roster get, no version)")
    items, ver = await alice.server_roster()
    check(items.get(bob_bare, (None,))[0] == "both",
          f"server roster of alice: bob is {items.get(bob_bare)}, want subscription 'both'")
    check(items[bob_bare][2] == "Bob" and items[bob_bare][3] == ["Friends"],
          f"server roster of alice: bob is {items[bob_bare]}, want name 'Bob', group 'Friends'")
    items_b, _ = await bob.server_roster()
    check(items_b.get(alice_bare, (None,))[0] == "both",
          f"server roster of bob: alice is {items_b.get(alice_bare)}, want 'both'")
    step(f"   alice: {items}  (ver {ver!r}); bob: {items_b}")

    step("7. bob goes offline; alice sees it and sends him a message")
    await bob.logout()
    await until(lambda: not alice.client_roster[bob_bare].resources,
                "alice to get bob's unavailable presence")
    alice.send_message(mto=bob_bare, mbody="Are you there, Bob?", mtype="chat")
    await alice.expect_no_message("no error bounce for a message to an offline contact")

    step("8. bob logs in again and gets the offline message, with a delay stamp")
    bob = await Client(bob_args, "bob", "desktop").login()
    await bob.expect_chat(alice.boundjid, "Are you there, Bob?", "the offline message",
                          delayed=True)
    await bob.expect_no_message("the offline message comes once")
    check(bob.client_roster[alice_bare]["subscription"] == "both",
          f"bob's roster after re-login: alice is "
          f"{bob.client_roster[alice_bare]['subscription']!r}, want 'both'")
    await until(lambda: bob.boundjid.resource in alice.client_roster[bob_bare].resources,
                "alice to see bob online again")
    step("   bob's roster still says 'both'; alice sees him online again")

    step("9. XEP-0199 ping to the server")
    rtt = await iq(alice.plugin["xep_0199"].ping(jid=domain, timeout=10), "ping to the server")
    step(f"   pong in {rtt * 1000:.1f} ms")

    step("10. XEP-0030 disco#info on the server")
    info = await iq(alice.plugin["xep_0030"].get_info(jid=domain, local=False, timeout=10),
                    "disco#info to the server")
    features = info["disco_info"]["features"]
    identities = info["disco_info"]["identities"]
    step(f"   identities {identities}; features {features}")
    for f in SERVER_FEATURES:
        check(f in features, f"server disco#info lacks feature {f!r}: {features}")
    check(any(i[0] == "server" and i[1] == "im" for i in identities),
          f"server disco#info lacks identity server/im: {identities}")

    step("11. XEP-0092 software version of the server")
    ver = await iq(alice.plugin["xep_0092"].get_version(domain, timeout=10),
                   "version query to the server")
    sv = ver["software_version"]
    step(f"   name={sv['name']!r} version={sv['version']!r} os={sv['os']!r}")
    check(sv["name"], "version reply has no name")
    check(sv["version"], "version reply has no version")

    step("11b. IQs to each other's full JID (XEP-0199 ping, XEP-0092 version), answered by the "
         "client: across the nodes in a pool")
    rtt = await iq(alice.plugin["xep_0199"].ping(jid=bob.boundjid, timeout=10), "alice's ping to bob's full JID")
    step(f"   bob's client answered alice's ping in {rtt * 1000:.1f} ms")
    rtt = await iq(bob.plugin["xep_0199"].ping(jid=alice.boundjid, timeout=10), "bob's ping to alice's full JID")
    step(f"   alice's client answered bob's ping in {rtt * 1000:.1f} ms")
    ver = await iq(alice.plugin["xep_0092"].get_version(bob.boundjid, timeout=10),
                   "alice's version query to bob's full JID")
    check(ver["from"] == bob.boundjid and ver["software_version"]["name"] == "Slixmpp",
          f"the version of bob's full JID came from {ver['from']}: {ver['software_version']}; "
          f"want bob's client (Slixmpp)")
    step(f"   bob's client says it is {ver['software_version']['name']!r}")
    try:
        res = await alice.plugin["xep_0199"].ping(jid=f"{bob_bare}/nowhere", timeout=10)
        raise Failure(f"a ping to a resource nobody has was answered: {res}")
    except IqError as e:
        check(e.iq["error"]["condition"] == "service-unavailable",
              f"a ping to a resource nobody has: {e.iq['error']['condition']!r}, want service-unavailable")
    step("   a ping to a resource nobody has: service-unavailable")

    if args.tls_port:
        step("12. alice logs in a second resource over direct TLS (XEP-0368)")
        tablet = await Client(args, "alice", "tablet").login(direct_tls=True)
        rtt = await iq(tablet.plugin["xep_0199"].ping(jid=domain, timeout=10), "ping over direct TLS")
        tablet.send_message(mto=bob_bare, mbody="from the tablet", mtype="chat")
        await bob.expect_chat(tablet.boundjid, "from the tablet", "message from alice's tablet")
        await tablet.logout()

    step("13. everyone logs out")
    await alice.logout()
    await bob.logout()


if __name__ == "__main__":
    run(main)

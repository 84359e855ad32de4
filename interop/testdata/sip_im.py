"""1:1 messages between an XMPP user (slixmpp) and a SIP user (baresip,
driven by the Go test; see baresip_im_test.go), RFC 7572 through parleyd.

--phase:
reply     bob logs in and writes --state; the SIP user's --body must arrive
          as a live chat message from the bare JID SIPUSER@DOMAIN (RFC 7572
          §5), and bob answers it with --reply.
stored    bob logs in after the SIP user wrote to him while he was offline
          everywhere: --body arrives as a chat from SIPUSER@DOMAIN with a
          XEP-0203 delay (offline storage, XEP-0160).
offline   bob sends --body to the SIP user, who has no XMPP session and no
          SIP contact now (or is another domain's, --peer-domain); no error
          may come back (it is stored, or taken by the other domain).
both      alice sends --body to bob; bob's XMPP client gets it (the Go test
          checks bob's SIP contact got it too).
bounce    bob sends --body to the SIP user, whose only contact refuses it;
          an error message with --condition comes back with bob's id.

Needs --user bob:PW (and alice:PW for both); --peer is the SIP user's name,
--peer-domain their domain when it is not parleyd's (SIP federation).
"""

from slixmpp import JID

from slixclient import Client, Failure, check, run, step, take_args

NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


_mine = take_args({"--peer": "alice", "--peer-domain": "", "--body": "", "--reply": "", "--condition": ""})
PEER, PEER_DOMAIN, BODY, REPLY, CONDITION = (_mine[k] for k in ("--peer", "--peer-domain", "--body", "--reply", "--condition"))


async def main(args):
    peer = f"{PEER}@{PEER_DOMAIN or args.domain}"
    if args.phase == "reply":
        check(args.state, "needs --state FILE")
        bob = await Client(args, "bob", "desk").login()
        with open(args.state, "w") as f:
            f.write("ready\n")
        step(f"1. bob is online; waiting for {BODY!r} from {peer}")
        msg = await bob.next_message(f"{BODY!r} from {peer}", timeout=20)
        check(msg["type"] == "chat", f"type {msg['type']!r}, want chat: {msg}")
        check(msg["body"] == BODY, f"body {msg['body']!r}, want {BODY!r}: {msg}")
        check(str(msg["from"]) == peer, f"from {msg['from']}, want the bare JID {peer}: {msg}")
        check(msg.xml.find("{urn:xmpp:delay}delay") is None, f"a live message has <delay/>: {msg}")
        step(f"2. got {msg['body']!r} from {msg['from']} (id {msg['id']!r}, thread {msg['thread']!r})")
        bob.send_message(mto=msg["from"], mbody=REPLY, mtype="chat")
        step(f"3. replied {REPLY!r}")
        await bob.expect_no_message("after the reply (no error may come back)")
        await bob.logout()
    elif args.phase == "stored":
        bob = await Client(args, "bob", "desk").login()
        msg = await bob.expect_chat(JID(peer), BODY, f"the stored {BODY!r} from {peer}", delayed=True)
        check(str(msg["from"]) == peer, f"from {msg['from']}, want the bare JID {peer}: {msg}")
        await bob.logout()
    elif args.phase == "offline":
        bob = await Client(args, "bob", "desk").login()
        bob.send_message(mto=peer, mbody=BODY, mtype="chat")
        step(f"1. bob sent {BODY!r} to {peer}, who is offline everywhere")
        await bob.expect_no_message("the message is stored, not bounced")
        await bob.logout()
    elif args.phase == "both":
        bob = await Client(args, "bob", "desk").login()
        alice = await Client(args, "alice", "desk").login()
        alice.send_message(mto=f"bob@{args.domain}", mbody=BODY, mtype="chat")
        step(f"1. alice sent {BODY!r} to bob")
        await bob.expect_chat(alice.boundjid, BODY, f"{BODY!r} from alice")
        await alice.expect_no_message("no error for alice")
        await alice.logout()
        await bob.logout()
    elif args.phase == "bounce":
        bob = await Client(args, "bob", "desk").login()
        msg = bob.make_message(mto=peer, mbody=BODY, mtype="chat")
        sent_id = msg["id"]
        msg.send()
        step(f"1. bob sent {BODY!r} (id {sent_id}) to {peer}, whose contact refuses it")
        got = await bob.next_message("the error back", timeout=20)
        check(got["type"] == "error", f"want an error message, got {got}")
        check(got["id"] == sent_id, f"error id {got['id']!r}, want {sent_id!r}: {got}")
        check(got["from"].bare == peer, f"error from {got['from']}, want {peer}: {got}")
        err = got.xml.find("{jabber:client}error")
        check(err is not None, f"no <error/>: {got}")
        conds = [c.tag.split("}")[1] for c in err if c.tag.startswith("{" + NS_STANZAS) and
                 not c.tag.endswith("}text")]
        check(conds == [CONDITION], f"conditions {conds}, want [{CONDITION!r}]: {got}")
        step(f"2. got the error {conds[0]} (type {err.get('type')}) for id {sent_id}")
        await bob.logout()
    else:
        raise Failure(f"unknown --phase {args.phase!r}")


if __name__ == "__main__":
    run(main)

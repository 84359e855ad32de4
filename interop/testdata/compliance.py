"""A scripted session whose every step the compliance service must capture
(issue 5, Tests, first bullet; see TestComplianceCapturesScriptedSession).

alice (a manager of the open room made with parleyctl) and bob join with
no history, alice posts and corrects her post (XEP-0308), bob posts and
retracts his (XEP-0424, urn:xmpp:message-retract:1), alice uploads a file
with slixmpp's XEP-0363 plugin and posts its URL, bob downloads it; then the
script writes --ready and waits for the SIP user's post (sipp, run by the Go
test) to reach both; alice kicks bob, reads the archive (MAM), searches it
(full text), leaves, and both log out. What the clients saw (stanza-ids,
the file's URL and hash) goes to --out as JSON, for the Go test to compare
with the compliance database.

Needs --user alice:PW --user bob:PW; --room, --sip-nick, --sip-body,
--ready FILE, --out FILE.
"""

import asyncio
import hashlib
import io
import json
import xml.etree.ElementTree as ET

from aiohttp import ClientSession
from slixmpp import JID

from slixclient import WAIT, check, iq, run, step, take_args
from muc import (FULLTEXT, NS_RETRACT, MUCClient, archived, inner_body, is_from_room, kind,
                 muc_item, service, short, stanza_id, status_codes, text_of)

NS_CORRECT = "urn:xmpp:message-correct:0"
SIP_WAIT = 30  # seconds for the SIP post to arrive
FILE_NAME = "audit-report.txt"
FILE_DATA = ("Quarterly audit report\n" + "line of figures 12345\n" * 200).encode()


OPT = take_args({"--room": "audit", "--sip-nick": "carol", "--sip-body": "hello from sip",
                 "--ready": "", "--out": ""})


async def reflected(clients, room, pred, what):
    """Wait until every client got a message from room matching pred;
    returns what the first one got."""
    got = []
    for c, mark in clients:
        _, s = await c.expect(lambda s: kind(s) == "message" and is_from_room(s, room) and pred(s),
                              what, mark)
        check(s["type"] != "error", f"{c.label}: {what}: an error came back: {s}")
        got.append(s)
    return got[0]


async def main(args):
    check(OPT["--ready"] and OPT["--out"], "needs --ready FILE and --out FILE")
    room = f"{OPT['--room']}@{service(args)}"
    seen = {}

    step("1. alice (a manager) and bob join the open room, asking for no history")
    alice = MUCClient(args, "alice", "desk")
    for p in ("xep_0308", "xep_0363"):
        alice.register_plugin(p)
    await alice.login()
    bob = await MUCClient(args, "bob", "laptop").login()
    pres, _, _, _ = await alice.join(room, "Alice", "alice joins", maxstanzas=0)
    check(muc_item(pres).get("role") == "moderator", f"alice is not a moderator: {pres}")
    await bob.join(room, "Bob", "bob joins", maxstanzas=0)

    step("2. alice posts, then corrects her post (XEP-0308)")
    first = await alice.post(room, "the figures are final", others=[bob])
    seen["post"] = stanza_id(first)[0]
    marks = [(alice, alice.mark()), (bob, bob.mark())]
    fix = alice.make_message(mto=JID(room), mbody="the figures are final, except Q3", mtype="groupchat")
    ET.SubElement(fix.xml, f"{{{NS_CORRECT}}}replace", {"id": first["id"]})
    fix.send()
    corr = await reflected(marks, room, lambda s: text_of(s, "body") == "the figures are final, except Q3",
                           "the correction")
    check(corr.xml.find(f"{{{NS_CORRECT}}}replace") is not None, f"the correction lost <replace/>: {corr}")
    seen["correction"] = stanza_id(corr)[0]

    step("3. bob posts by mistake and retracts it (XEP-0424, message-retract:1)")
    oops = await bob.post(room, "wrong room, sorry", others=[alice])
    seen["retracted"] = stanza_id(oops)[0]
    marks = [(alice, alice.mark()), (bob, bob.mark())]
    r = bob.make_message(mto=JID(room), mtype="groupchat")
    ET.SubElement(r.xml, f"{{{NS_RETRACT}}}retract", {"id": seen["retracted"]})
    r.send()

    def is_retraction(s):
        el = s.xml.find(f"{{{NS_RETRACT}}}retract")
        return el is not None and el.get("id") == seen["retracted"]
    ann = await reflected(marks, room, is_retraction, "the retraction")
    seen["retraction"] = stanza_id(ann)[0]

    step("4. alice uploads a file (XEP-0363, slixmpp's plugin) and posts its URL")
    up = alice.plugin["xep_0363"]
    # slixmpp 1.8.3's service discovery (get_info_from_domain) passes
    # coroutines to asyncio.wait, which Python 3.11 refuses: ask
    # upload.DOMAIN's disco#info ourselves and hand the plugin the service.
    svc = JID(f"upload.{args.domain}")
    info = await iq(alice.plugin["xep_0030"].get_info(jid=svc, timeout=WAIT), "disco#info upload")
    check("urn:xmpp:http:upload:0" in info["disco_info"]["features"],
          f"{svc} does not offer XEP-0363: {info}")
    up.upload_service = svc
    url = await asyncio.wait_for(up.upload_file(FILE_NAME, size=len(FILE_DATA), content_type="text/plain",
                                                input_file=io.BytesIO(FILE_DATA),
                                                timeout=WAIT), WAIT + 5)
    step(f"   uploaded to {url} (service {up.upload_service})")
    seen["url"] = url
    seen["sha256"] = hashlib.sha256(FILE_DATA).hexdigest()
    seen["size"] = len(FILE_DATA)
    link = await alice.post(room, url, others=[bob])
    seen["link"] = stanza_id(link)[0]

    step("5. bob downloads it")
    async with ClientSession() as http:
        async with http.get(url) as resp:
            check(resp.status == 200, f"GET {url}: {resp.status}")
            got = await resp.read()
    check(hashlib.sha256(got).hexdigest() == seen["sha256"], f"downloaded {len(got)} bytes that differ")

    step(f"6. ready for the SIP user; waiting up to {SIP_WAIT}s for {OPT['--sip-body']!r}")
    marks = [(alice, alice.mark()), (bob, bob.mark())]
    with open(OPT["--ready"], "w") as f:
        f.write("ready\n")
    sip = await reflected(marks, room, lambda s: text_of(s, "body") == OPT["--sip-body"],
                          "the SIP user's post")
    check(str(sip["from"]) == f"{room}/{OPT['--sip-nick']}", f"the SIP post is from {sip['from']}")
    seen["sip"] = stanza_id(sip)[0]

    step("7. alice kicks bob")
    mark_b = bob.mark()
    await iq(alice.plugin["xep_0045"].set_role(JID(room), "Bob", "none", reason="audit", timeout=WAIT),
             "kick (set_role none)")
    _, kicked = await bob.expect(lambda s: kind(s) == "presence" and s["from"] == f"{room}/Bob",
                                 "own presence after the kick", mark_b)
    check(kicked["type"] == "unavailable" and 307 in status_codes(kicked), f"kick: {kicked}")

    step("8. alice reads the archive (MAM) and searches it (full text)")
    res, fin, _ = await alice.mam_query(room, rsm={"max": "50"}, what="MAM read")
    bodies = [inner_body(archived(x)[1]) for x in res]
    step(f"   MAM: {bodies}")
    check(OPT["--sip-body"] in bodies and url in bodies, f"MAM lacks posts: {bodies}")
    res, fin, _ = await alice.mam_query(room, fields={FULLTEXT: "figures"}, what="search 'figures'")
    hits = [archived(x)[0] for x in res]
    step(f"   search 'figures': {hits}")
    check(seen["post"] in hits, f"the search did not find the post {seen['post']}: {hits}")
    seen["search_hits"] = len(hits)

    step("9. alice leaves; both log out")
    await alice.leave(room, "Alice")
    with open(OPT["--out"], "w") as f:
        json.dump(seen, f)
    await bob.logout()
    await alice.logout()


if __name__ == "__main__":
    run(main)

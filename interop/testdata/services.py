"""slixmpp against parleyd's server services (issue 12 item 6) and the room
configuration forms clients send (item 7).

The server runs with --admins admin, --allow-registration and
--contact-address admin=mailto:ops@example.com. Needs --user admin:PW
--user bob:PW.

  1. disco#info on the server (xep_0030): time, last activity,
     registration and ad-hoc commands are advertised; the XEP-0157
     serverinfo form carries the admin address; the stream features had
     the server's XEP-0115 <c/>.
  2. entity time (xep_0202) and the server's uptime (xep_0012).
  3. bob goes offline with a status; his next session, not yet available,
     reads his last activity: a few seconds and that status.
  4. the admin's XEP-0133 commands through xep_0050: add-user carol,
     change-user-password, get-online-users-list, announce (bob gets the
     headline), delete-user carol (carol's session ends); bob, no admin,
     is refused (forbidden).
  5. bob changes his password in band (xep_0077) and logs in with it.
  6. a new account registered in band before login (xep_0077's
     'register' event), which then logs in.
  7. bob creates a room and submits its form with
     muc#roomconfig_persistentroom=0 (what slixmpp's own itests send):
     accepted, a note from the room says it stays persistent, a post
     goes through.
"""

import asyncio
import ssl
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slixclient import WAIT, Client, Failure, check, iq, run, step, until

NS_CMD = "http://jabber.org/protocol/commands"
NS_ADMIN = "http://jabber.org/protocol/admin"
NS_XDATA = "jabber:x:data"
NS_CAPS = "http://jabber.org/protocol/caps"


class ServicesClient(Client):
    def __init__(self, args, user, resource, **kw):
        super().__init__(args, user, resource, **kw)
        for plugin in ("xep_0004", "xep_0050", "xep_0012", "xep_0202", "xep_0077", "xep_0045", "xep_0128"):
            self.register_plugin(plugin)
        self.stream_caps = None
        self.register_handler(Callback("services: stream features", MatchXPath("{http://etherx.jabber.org/streams}features"),
                                       self._features))

    def _features(self, stanza):
        c = stanza.xml.find(f"{{{NS_CAPS}}}c")
        if c is not None:
            self.stream_caps = dict(c.attrib)


def field_values(form_xml, var):
    for f in form_xml.findall(f"{{{NS_XDATA}}}field"):
        if f.get("var") == var:
            return [v.text or "" for v in f.findall(f"{{{NS_XDATA}}}value")]
    return None


def condition(e):
    return e.iq["error"]["condition"]


async def command(c, node, fields=None):
    """Execute node on the server; submit fields if it asks for a form.
    Returns the last <command/> as XML."""
    jid = c.args.domain
    r = await iq(c.plugin["xep_0050"].send_command(jid, node, timeout=WAIT), f"execute {node}")
    cmd = r.xml.find(f"{{{NS_CMD}}}command")
    if cmd.get("status") != "executing":
        return cmd
    x = ET.Element(f"{{{NS_XDATA}}}x", type="submit")
    for var, vals in (fields or {}).items():
        f = ET.SubElement(x, f"{{{NS_XDATA}}}field", var=var)
        for v in vals:
            ET.SubElement(f, f"{{{NS_XDATA}}}value").text = v
    q = c.Iq()
    q["type"], q["to"] = "set", jid
    sub = ET.SubElement(q.xml, f"{{{NS_CMD}}}command", node=node, sessionid=cmd.get("sessionid"), action="complete")
    sub.append(x)
    r = await iq(q.send(timeout=WAIT), f"submit {node}")
    cmd = r.xml.find(f"{{{NS_CMD}}}command")
    check(cmd.get("status") == "completed", f"{node}: {r}")
    return cmd


async def main(args):
    d = args.domain

    step("1. the server's disco#info and stream features")
    admin = await ServicesClient(args, "admin", "desk").login()
    check(admin.stream_caps and admin.stream_caps.get("hash") == "sha-1" and admin.stream_caps.get("ver"),
          f"the stream features had no server caps: {admin.stream_caps}")
    info = await iq(admin.plugin["xep_0030"].get_info(jid=d, timeout=WAIT), "disco#info on the server")
    feats = set(info["disco_info"]["features"])
    for f in ("urn:xmpp:time", "jabber:iq:last", "jabber:iq:register", NS_CMD):
        check(f in feats, f"the server does not advertise {f}: {sorted(feats)}")
    forms = info.xml.find("{http://jabber.org/protocol/disco#info}query").findall(f"{{{NS_XDATA}}}x")
    addrs = [field_values(x, "admin-addresses") for x in forms if field_values(x, "FORM_TYPE") == ["http://jabber.org/network/serverinfo"]]
    check(addrs == [["mailto:ops@example.com"]], f"serverinfo admin-addresses: {addrs}")
    step(f"   caps ver {admin.stream_caps['ver']}, {len(feats)} features, admin-addresses {addrs[0]}")

    step("2. entity time and uptime")
    t = await iq(admin.plugin["xep_0202"].get_entity_time(d, timeout=WAIT), "entity time")
    # Read the XML: slixmpp 1.8's xep_0202 get_utc appends a second 'Z' to
    # the value (which XEP-0202 requires to end in Z) and cannot parse it.
    utc = t.xml.find("{urn:xmpp:time}time/{urn:xmpp:time}utc")
    tzo = t.xml.find("{urn:xmpp:time}time/{urn:xmpp:time}tzo")
    check(utc is not None and tzo is not None and utc.text.endswith("Z"), f"entity time: {t}")
    last = await iq(admin.plugin["xep_0012"].get_last_activity(d, timeout=WAIT), "server last activity")
    check(last["last_activity"]["seconds"] >= 0, f"uptime: {last}")
    step(f"   utc {utc.text}, tzo {tzo.text}, up {last['last_activity']['seconds']} s")

    step("3. bob's last activity after he went offline with a status")
    bob = await ServicesClient(args, "bob", "phone").login()
    bob.send_presence(pstatus="Back at nine")
    await iq(bob.plugin["xep_0199"].send_ping(d, timeout=WAIT), "bob ping")
    bob.send_presence(ptype="unavailable", pstatus="Gone home")
    await iq(bob.plugin["xep_0199"].send_ping(d, timeout=WAIT), "bob ping")
    await bob.logout()
    bob = await ServicesClient(args, "bob", "laptop").login(presence=False)
    last = await iq(bob.plugin["xep_0012"].get_last_activity(f"bob@{d}", timeout=WAIT), "bob's last activity")
    check(last["last_activity"]["status"] == "Gone home" and 0 <= last["last_activity"]["seconds"] < 60,
          f"bob's last activity: {last}")
    step(f"   {last['last_activity']['seconds']} s ago: {last['last_activity']['status']!r}")
    bob.send_presence()
    await iq(bob.plugin["xep_0199"].send_ping(d, timeout=WAIT), "bob ping")

    step("4. service administration commands")
    await command(admin, NS_ADMIN + "#add-user",
                  {"accountjid": [f"carol@{d}"], "password": ["c4rol-pw"], "password-verify": ["c4rol-pw"]})
    await command(admin, NS_ADMIN + "#change-user-password", {"accountjid": [f"carol@{d}"], "password": ["n3w-c4rol"]})
    args.passwords["carol"] = "n3w-c4rol"
    carol = await ServicesClient(args, "carol", "desk").login()
    cmd = await command(admin, NS_ADMIN + "#get-online-users-list")
    online = field_values(cmd.find(f"{{{NS_XDATA}}}x"), "onlineuserjids")
    check(set(online) == {f"admin@{d}", f"bob@{d}", f"carol@{d}"}, f"online users: {online}")
    since = bob.messages.qsize()
    await command(admin, NS_ADMIN + "#announce", {"subject": ["Maintenance"], "announcement": ["Down at noon"]})
    while True:
        m = await bob.next_message("the announcement")
        if m["body"] == "Down at noon":
            check(m["type"] == "headline" and m["from"] == d, f"announcement: {m}")
            break
    gone = asyncio.get_running_loop().create_future()
    carol.add_event_handler("disconnected", lambda _: gone.done() or gone.set_result(True))
    await command(admin, NS_ADMIN + "#delete-user", {"accountjids": [f"carol@{d}"]})
    await asyncio.wait_for(gone, WAIT)
    try:
        await bob.plugin["xep_0050"].send_command(d, NS_ADMIN + "#add-user", timeout=WAIT)
        raise Failure("bob, no admin, ran add-user")
    except IqError as e:
        check(condition(e) == "forbidden", f"bob's add-user: {condition(e)}")
    step(f"   carol added, password changed, online {sorted(online)}, announced, carol deleted; bob refused")

    step("5. bob changes his password in band")
    await iq(bob.plugin["xep_0077"].change_password("b0b-n3w-pw", timeout=WAIT), "change password")
    args.passwords["bob"] = "b0b-n3w-pw"
    bob2 = await ServicesClient(args, "bob", "tablet").login()
    await bob2.logout()

    step("6. a new account registered in band before login")
    args.passwords["newbie"] = "n3wbie-pw"
    newbie = ServicesClient(args, "newbie", "desk")
    newbie.plugin["xep_0077"].create_account = True
    # slixmpp 1.8 holds every IQ but bind and session until the session
    # starts (xmlstream.send), its own xep_0077 registration included; this
    # private switch lets the registration IQs go out before SASL.
    newbie._always_send_everything = True
    registered = asyncio.get_running_loop().create_future()

    async def on_register(form):
        resp = newbie.Iq()
        resp["type"] = "set"
        resp["register"]["username"] = "newbie"
        resp["register"]["password"] = "n3wbie-pw"
        await resp.send(timeout=WAIT)
        registered.set_result(True)
    newbie.add_event_handler("register", on_register)
    await newbie.login()
    check(registered.done(), "newbie logged in without registering")
    await newbie.logout()

    step("7. a room configured with persistentroom=0")
    room = f"tolerant@conference.{d}"
    bob.plugin["xep_0045"].join_muc(room, "bob")
    await asyncio.wait_for(bob.wait_until(f"muc::{room}::got_online"), WAIT)
    form = await bob.plugin["xep_0045"].get_room_config(room)
    values = form.get_values()
    values["muc#roomconfig_persistentroom"] = False
    form["values"] = values
    form.reply()
    notes = []
    bob.add_event_handler("groupchat_message", lambda m: notes.append(m["body"]) if m["from"].bare == room and not m["from"].resource else None)
    await bob.plugin["xep_0045"].set_room_config(room, form)
    await until(lambda: any("persistent" in n for n in notes), "the room's note that it stays persistent")
    bob.send_message(mto=room, mbody="still here", mtype="groupchat")
    while True:
        m = await bob.next_message("the post's reflection")
        if m["body"] == "still here":
            break
    step(f"   note: {notes[0]!r}")
    for c in (admin, bob):
        await c.logout()


if __name__ == "__main__":
    run(main)

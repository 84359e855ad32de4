"""slixmpp against parleyd with --auth ldap and directory groups in policy
(a real slapd): an ethical wall by group, enforced live, and logins while
the directory is down.

The Go test made category "trading-research" (allowed: group:research,
denied: group:traders) and its open room "lab" with parleyctl. alice and
bob are in research, carol in traders.

--signal is a directory where the script asks the Go test to change the
directory: it creates NAME.req and waits for NAME.done. Changes:
"bob-traders" (an LDAP modify adding bob to traders) and "stop" (slapd
stopped).

Steps:
  1. alice and bob log in (PLAIN, directory passwords) and join lab; carol
     is refused (forbidden); a post reaches both.
  2. bob is added to traders in the directory: he is removed from lab
     (unavailable self-presence with 321) without doing anything, and his
     rejoin from the same session is refused (forbidden).
  3. alice logs in from a second device; slapd is stopped: alice (logged
     in within --ldap-cache-ttl) logs in from a third; alice with a wrong password is refused;
     dave, a directory user who never logged in, is refused at once.

Needs --user alice:PW --user bob:PW --user carol:PW --user dave:PW.
"""

import copy
import os
import time

from muc import MUCClient, kind, status_codes
from slixclient import Failure, check, run, step, take_args, until

OWN = take_args({"--signal": ""})


async def ask(what):
    """Ask the Go test for a directory change and wait until it is made."""
    base = os.path.join(OWN["--signal"], what)
    open(base + ".req", "w").close()
    await until(lambda: os.path.exists(base + ".done"), f"the directory change {what!r}")
    step(f"   directory: {what}")


async def login(args, user, resource):
    return await MUCClient(args, user, resource, mech="PLAIN").login()


async def refused(args, user, resource, what):
    """A login that must fail; returns how long the refusal took."""
    start = time.monotonic()
    try:
        await MUCClient(args, user, resource, mech="PLAIN").login()
    except Failure as e:
        took = time.monotonic() - start
        check("failed_auth" in str(e) or "failed_all_auth" in str(e), f"{what}: {e}")
        step(f"   {what}: refused in {took * 1000:.0f} ms: {str(e)[:100]}")
        return took
    raise Failure(f"{what}: logged in")


async def main(args):
    check(OWN["--signal"], "--signal is required")
    lab = f"lab@conference.{args.domain}"

    step("1. alice and bob (research) join lab; carol (traders) is refused")
    alice = await login(args, "alice", "desk")
    bob = await login(args, "bob", "laptop")
    carol = await login(args, "carol", "phone")
    await alice.join(lab, "Alice", "alice joins lab", maxstanzas=0)
    await bob.join(lab, "Bob", "bob joins lab", maxstanzas=0)
    await carol.join_refused(lab, "Carol", "forbidden", "carol (traders) joins lab")
    await alice.post(lab, "research notes", others=[bob])

    step("2. bob is added to traders in the directory: removed from lab, rejoin refused")
    mark = bob.mark()
    start = time.monotonic()
    await ask("bob-traders")

    def gone(s):
        return (kind(s) == "presence" and s["from"] == f"{lab}/Bob" and s["type"] == "unavailable"
                and 321 in status_codes(s) and 110 in status_codes(s))
    await bob.expect(gone, "his removal from lab with 321", mark)
    step(f"   bob removed from lab {(time.monotonic() - start) * 1000:.0f} ms after the LDAP modify was asked")
    await bob.join_refused(lab, "Bob", "forbidden", "bob rejoins lab from the same session")

    step("3. the directory is down: cached alice logs in, a wrong password and an unseen user are refused")
    alice2 = await login(args, "alice", "tablet")  # a good login: cached for --ldap-cache-ttl
    await ask("stop")
    alice3 = await login(args, "alice", "phone")
    bad = copy.copy(args)
    bad.passwords = dict(args.passwords, alice=args.passwords["alice"] + "-wrong")
    await refused(bad, "alice", "evil", "alice with a wrong password")
    await refused(args, "dave", "pc", "dave, never logged in")
    for c in (alice3, alice2, carol, bob, alice):
        await c.logout()


if __name__ == "__main__":
    run(main)

"""slixmpp against parleyd with --auth ldap (a real slapd): directory users
log in with SASL PLAIN, the only mechanism offered, and talk; a wrong
directory password is refused.

    1. alice logs in over STARTTLS with PLAIN and her directory password;
       only PLAIN is offered
    2. bob logs in over direct TLS with PLAIN; alice sends bob a message
    3. alice with a wrong password is refused (failed_auth)

Needs --user alice:PW --user bob:PW (their directory passwords).
"""

import copy

from slixclient import Client, Failure, check, run, step


async def main(args):
    step("1. alice logs in over STARTTLS with PLAIN and her directory password")
    alice = await Client(args, "alice", "laptop", mech="PLAIN").login()
    mechs = sorted(alice.plugin["feature_mechanisms"].mech_list)
    step(f"   mechanisms offered: {mechs}")
    check(mechs == ["PLAIN"], f"mechanisms offered with --auth ldap: {mechs}, want PLAIN only")

    step("2. bob logs in over direct TLS with PLAIN; alice sends him a message")
    bob = await Client(args, "bob", "phone", mech="PLAIN").login(direct_tls=True)
    alice.send_message(mto=bob.boundjid.bare, mbody="hello from the directory", mtype="chat")
    await bob.expect_chat(alice.boundjid, "hello from the directory", "alice's message")

    step("3. alice with a wrong password is refused")
    bad = copy.copy(args)
    bad.passwords = dict(args.passwords, alice=args.passwords["alice"] + "-wrong")
    try:
        await Client(bad, "alice", "evil", mech="PLAIN").login()
    except Failure as e:
        check("failed_auth" in str(e) or "failed_all_auth" in str(e), f"wrong password: {e}")
        step(f"   refused: {str(e)[:120]}")
    else:
        raise Failure("alice logged in with a wrong password")
    await bob.logout()
    await alice.logout()


if __name__ == "__main__":
    run(main)

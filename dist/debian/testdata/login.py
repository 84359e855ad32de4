"""Log in to parleyd as a new user of the installed package would, stay
logged in while the test reloads the server, then prove the session still
works with a XEP-0199 ping. Prints "logged in", waits for a line on stdin,
prints "still logged in" and exits 0; any failure exits 1 with FAIL.

usage: login.py HOST PORT JID PASSWORD
"""

import asyncio
import ssl
import sys

import slixmpp


async def main(host, port, jid, password):
    c = slixmpp.ClientXMPP(jid, password, sasl_mech="SCRAM-SHA-256")
    c.register_plugin("xep_0199")
    c.ssl_context.check_hostname = False
    c.ssl_context.verify_mode = ssl.CERT_NONE
    started = asyncio.get_running_loop().create_future()
    c.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
    c.add_event_handler("failed_auth", lambda _: started.done() or started.set_exception(
        RuntimeError("authentication failed")))
    disconnected = asyncio.get_running_loop().create_future()
    c.add_event_handler("disconnected", lambda _: disconnected.done() or disconnected.set_result(True))
    c.connect((host, int(port)))
    await asyncio.wait_for(started, 20)
    print("logged in", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if disconnected.done():
        raise RuntimeError("the session was dropped while waiting: " + line.strip())
    rtt = await c.plugin["xep_0199"].ping(jid=c.boundjid.domain, timeout=10)
    print(f"still logged in (ping {rtt:.3f}s)", flush=True)
    c.disconnect()


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(*sys.argv[1:5]), 120))
    except Exception as e:  # one line for the Go test
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)

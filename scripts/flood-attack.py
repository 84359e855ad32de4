#!/usr/bin/python3
"""Flood one user with chat messages from another, as an attacker would, and
measure what it does to the victim and to everyone else (issue 18).

    /usr/bin/python3 scripts/flood-attack.py --server 127.0.0.1:5222 \\
        --password PW [--seconds 8]

Four slixmpp clients on one server, all from this machine's address, in
three processes (flooder, victim, the other two) so that no client's work
slows another's:
mallory floods victim@DOMAIN with chat messages from --sessions sessions,
writing to each TLS socket as fast as it takes them, for --seconds; victim reads all along; carol sends a
message to dave every 100 ms (and one to victim), before, during and after
the flood, and their delivery latency is measured. The accounts mallory,
victim, carol and dave must exist with --password. At the end it prints the
flooder's achieved rate (messages the server read from her, from /metrics
when --metrics is given, and messages the victim got), whether the victim is
still connected, and the others' latencies (p50, p99, max) in each phase.

Run it with /usr/bin/python3: Debian's slixmpp (python3-slixmpp).
"""

import argparse
import asyncio
import logging
import multiprocessing as mp
import ssl
import sys
import time
import urllib.request

import slixmpp


def percentile(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def summary(xs):
    if not xs:
        return "no samples"
    ms = [x * 1000 for x in xs]
    return f"n={len(ms)} p50={percentile(ms, 50):.1f} ms p99={percentile(ms, 99):.1f} ms max={max(ms):.1f} ms"


def metrics(url):
    """The parley_xmpp_* samples of /metrics, summed over labels per name and label set."""
    out = {}
    if not url:
        return out
    with urllib.request.urlopen(url, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("parley_xmpp_") and not line.startswith("parley_xmpp_limit"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
    return out


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.ready = asyncio.Event()
        self.connected_now = False
        self.stream_errors = []
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("disconnected", self.on_disconnected)
        self.add_event_handler("stream_error", lambda e: self.stream_errors.append(str(e)))

    async def on_start(self, _):
        self.send_presence()
        self.connected_now = True
        self.ready.set()

    def on_disconnected(self, _):
        self.connected_now = False


class Receiver(Client):
    """Counts messages by id prefix and records the latency of timed ones."""

    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.flood_received = 0
        self.latencies = []  # (phase, seconds)
        self.add_event_handler("message", self.on_message)

    def on_message(self, msg):
        mid = msg["id"] or ""
        if mid.startswith("flood"):
            self.flood_received += 1
        elif mid.startswith("t-"):
            _, phase, sent = mid.split("-", 2)
            self.latencies.append((phase, time.monotonic() - float(sent)))


async def flood(mallory, to, seconds, body):
    """Write messages to the socket as fast as it drains, for seconds.
    Returns how many were handed to the transport and how many bytes of
    them were still unsent at the end."""
    transport = mallory.transport
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end and mallory.connected_now:
        if transport.get_write_buffer_size() > 1 << 20:
            await asyncio.sleep(0.005)  # the socket is full: wait for it
            continue
        chunk = "".join(
            f"<message to='{to}' type='chat' id='flood{n + i}'><body>{body}</body></message>" for i in range(200)
        )
        transport.write(chunk.encode())
        n += 200
        await asyncio.sleep(0)
    return n, transport.get_write_buffer_size()


def poll(pred):
    """Wait, without blocking the event loop, until pred() holds."""
    async def wait():
        while not pred():
            await asyncio.sleep(0.01)
    return wait()


async def connect(a, *clients):
    host, port = a.server.rsplit(":", 1)
    for c in clients:
        c.connect((host, int(port)))
    await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in clients)), 30)


async def run_flooder(a, sh, out):
    sessions = [Client(f"mallory@{a.domain}/flood{i}", a.password) for i in range(a.sessions)]
    await connect(a, *sessions)
    sh["ready"].release()
    await poll(lambda: sh["phase"].value >= DURING)
    body = "x" * a.body
    done = await asyncio.gather(*(flood(m, f"victim@{a.domain}", a.seconds, body) for m in sessions))
    sh["phase"].value = AFTER
    out.put(("flooder", {"written": sum(w for w, _ in done), "unsent": sum(u for _, u in done)}))
    for m in sessions:
        m.disconnect()
    await asyncio.sleep(0.5)


async def run_victim(a, sh, out):
    victim = Receiver(f"victim@{a.domain}/v", a.password)
    await connect(a, victim)
    sh["ready"].release()
    await poll(lambda: sh["phase"].value >= AFTER)
    during = victim.flood_received
    await poll(lambda: sh["phase"].value >= DONE)
    out.put(("victim", {"during": during, "total": victim.flood_received, "connected": victim.connected_now,
                        "errors": victim.stream_errors, "latencies": victim.latencies}))
    victim.disconnect()
    await asyncio.sleep(0.5)


async def run_observers(a, sh, out):
    """carol sends dave (and the victim) a timed message every 100 ms."""
    carol = Client(f"carol@{a.domain}/c", a.password)
    dave = Receiver(f"dave@{a.domain}/d", a.password)
    await connect(a, carol, dave)
    sh["ready"].release()
    phases = {BEFORE: "before", DURING: "during", AFTER: "after"}
    while sh["phase"].value != DONE:
        now, phase = time.monotonic(), phases.get(sh["phase"].value, "after")
        for to in ("dave", "victim"):
            msg = carol.make_message(mto=f"{to}@{a.domain}", mbody="tick", mtype="chat")
            msg["id"] = f"t-{phase}-{now}"
            msg.send()
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    out.put(("dave", {"latencies": dave.latencies}))
    carol.disconnect()
    dave.disconnect()
    await asyncio.sleep(0.5)


BEFORE, DURING, AFTER, DONE = 0, 1, 2, 3


def role(fn, a, sh, out):
    logging.basicConfig(level=logging.DEBUG if a.v else logging.ERROR)
    asyncio.run(fn(a, sh, out))


def main(a):
    """Each party in its own process, so that none slows another's client
    down: what is measured is the server."""
    sh = {"ready": mp.Semaphore(0), "phase": mp.Value("i", BEFORE)}
    out = mp.Queue()
    procs = [mp.Process(target=role, args=(fn, a, sh, out)) for fn in (run_victim, run_observers, run_flooder)]
    for p in procs:
        p.start()
    for _ in procs:
        if not sh["ready"].acquire(timeout=30):
            sys.exit("clients did not log in")
    time.sleep(2)
    m0 = metrics(a.metrics)
    t0 = time.monotonic()
    sh["phase"].value = DURING
    while sh["phase"].value == DURING:
        time.sleep(0.01)
    elapsed = time.monotonic() - t0
    m1 = metrics(a.metrics)
    time.sleep(3)
    sh["phase"].value = DONE
    res = dict(out.get(timeout=30) for _ in procs)
    for p in procs:
        p.join(10)

    fl, vi = res["flooder"], res["victim"]
    print(f"flood: {elapsed:.1f} s from {a.sessions} session(s), mallory handed {fl['written']} messages "
          f"of {a.body} body bytes to her sockets "
          f"({fl['unsent']} bytes of them still unsent at the end)")
    if m1:
        read = m1.get("parley_xmpp_stanzas_in_total", 0) - m0.get("parley_xmpp_stanzas_in_total", 0)
        print(f"server read {read:.0f} stanzas in the flood window ({read / elapsed:.0f}/s, "
              f"of which about {20 * elapsed:.0f} are carol's ticks)")
        for k in sorted(m1):
            if any(s in k for s in ("throttled", "refused", "slow_consumers", "throttle_seconds", "stream_errors")):
                d = m1[k] - m0.get(k, 0)
                if d:
                    print(f"  {k} +{d:g}")
    print(f"victim got {vi['during']} flood messages during the flood ({vi['during'] / elapsed:.0f}/s), "
          f"{vi['total']} in all")
    print(f"victim connected at the end: {'yes' if vi['connected'] else 'NO'}"
          + (f" (stream errors: {vi['errors']})" if vi["errors"] else ""))
    for who, lat in (("carol->dave", res["dave"]["latencies"]), ("carol->victim", vi["latencies"])):
        for ph in ("before", "during", "after"):
            print(f"latency {who:13} {ph:6}: {summary([s for p, s in lat if p == ph])}")
    return 0 if vi["connected"] else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="127.0.0.1:5222", help="c2s host:port (STARTTLS)")
    p.add_argument("--domain", default="localhost")
    p.add_argument("--password", required=True, help="the password of mallory, victim, carol and dave")
    p.add_argument("--seconds", type=float, default=8, help="how long mallory floods")
    p.add_argument("--body", type=int, default=20, help="bytes of body per flood message")
    p.add_argument("--sessions", type=int, default=1, help="how many sessions (resources) mallory floods from")
    p.add_argument("--metrics", default="", help="the server's /metrics URL, e.g. http://127.0.0.1:5282/metrics (--admin-http)")
    p.add_argument("-v", action="store_true", help="slixmpp debug log")
    a = p.parse_args()
    sys.exit(main(a))

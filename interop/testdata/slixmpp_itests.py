"""Run slixmpp's upstream integration tests (its itests/ directory) against
one parleyd, and print one JSON line per test case.

The suite is upstream's, unchanged: this runner only does what upstream's
run_integration_tests.py and its CI environment do for it, for a server on
loopback ports with a self-signed certificate:

  - the accounts come from CI_ACCOUNT1, CI_ACCOUNT1_PASSWORD, CI_ACCOUNT2,
    CI_ACCOUNT2_PASSWORD and CI_MUC_SERVER, as upstream's CI sets them;
  - ClientXMPP.connect() with no address goes to --host/--port (upstream
    relies on the JID's DNS records);
  - the server's certificate is not verified (upstream's CI server has a
    real one);
  - every test case (asyncSetUp included) is bounded by --timeout seconds:
    a client that waits for a stanza that never comes would otherwise hang
    the whole run.

Usage: slixmpp_itests.py --suite DIR --host H --port P [--timeout S]
                         [--log FILE] test_muc [test_mam ...]
Output: {"module": "test_muc", "test": "TestMUC.test_kick",
         "outcome": "pass"|"fail"|"error"|"timeout"|"skip", "detail": "..."}
"""

import argparse
import asyncio
import functools
import importlib.util
import inspect
import json
import logging
import os
import ssl
import sys
import traceback
import unittest

import slixmpp
from slixmpp.clientxmpp import ClientXMPP


def patch_client(host, port):
    init, connect = ClientXMPP.__init__, ClientXMPP.connect

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE

    @functools.wraps(connect)
    def connect_here(self, address=None, *args, **kwargs):
        return connect(self, address or (host, port), *args, **kwargs)

    ClientXMPP.__init__ = __init__
    ClientXMPP.connect = connect_here


def bounded(fn, timeout, what):
    @functools.wraps(fn)
    async def run(*args, **kwargs):
        try:
            return await asyncio.wait_for(fn(*args, **kwargs), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"{what} took more than {timeout}s") from None
    return run


def load(suite_dir, name, timeout):
    # The itests import each other as the package 'itests' (test_mam
    # imports nothing, but keep upstream's layout): put the suite's parent
    # on the path and import itests.NAME.
    sys.path.insert(0, suite_dir)
    module = importlib.import_module("itests." + name)
    for case in {t.__class__ for t in iter_tests(module.suite)}:
        for attr, fn in list(vars(case).items()):
            if (attr.startswith("test") or attr == "asyncSetUp") and inspect.iscoroutinefunction(fn):
                setattr(case, attr, bounded(fn, timeout, f"{case.__name__}.{attr}"))
    return module.suite


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


class JSONResult(unittest.TestResult):
    def __init__(self, module):
        super().__init__()
        self.module = module

    def emit(self, test, outcome, detail=""):
        name = f"{test.__class__.__name__}.{test._testMethodName}"
        print(json.dumps({"module": self.module, "test": name, "outcome": outcome, "detail": detail[-3000:]}), flush=True)

    def addSuccess(self, test):
        self.emit(test, "pass")

    def addFailure(self, test, err):
        self.emit(test, "fail", "".join(traceback.format_exception(*err)))

    def addError(self, test, err):
        outcome = "timeout" if err[0] is TimeoutError else "error"
        self.emit(test, outcome, "".join(traceback.format_exception(*err)))

    def addSkip(self, test, reason):
        self.emit(test, "skip", reason)

    def addExpectedFailure(self, test, err):
        self.emit(test, "fail", "".join(traceback.format_exception(*err)))

    def addUnexpectedSuccess(self, test):
        self.emit(test, "pass")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--suite", required=True, help="directory holding itests/")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=20)
    p.add_argument("--log")
    p.add_argument("modules", nargs="+")
    a = p.parse_args()
    for var in ("CI_ACCOUNT1", "CI_ACCOUNT1_PASSWORD", "CI_ACCOUNT2", "CI_ACCOUNT2_PASSWORD", "CI_MUC_SERVER"):
        if not os.getenv(var):
            sys.exit(f"{var} is not set")
    if a.log:
        logging.basicConfig(filename=a.log, level=logging.DEBUG,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
    else:
        logging.disable(100)
    print(json.dumps({"slixmpp": slixmpp.__version__}), flush=True)
    patch_client(a.host, a.port)
    for name in a.modules:
        try:
            suite = load(os.path.abspath(a.suite), name, a.timeout)
        except Exception:
            print(json.dumps({"module": name, "test": "(import)", "outcome": "error",
                              "detail": traceback.format_exc()[-3000:]}), flush=True)
            continue
        suite.run(JSONResult(name))


if __name__ == "__main__":
    main()

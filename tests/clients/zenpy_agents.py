"""What the suites that run zenpy agents against the bridge share (imported by
zenpy_bridge/conftest.py and zenpy_promise/conftest.py): a zenpy client for one
simulated account, and a wait that names what it waited for."""

import os
import time
from urllib.parse import urlparse

from zenpy import Zenpy


def client(url, email):
    """zenpy as `email` on the simulated account at `url` (see zenpy/conftest.py for
    how zenpy is pointed at 127.0.0.1:PORT)."""
    host = urlparse(url).netloc
    subdomain, domain = host.split(".", 1)
    os.environ["ZENPY_FORCE_SCHEME"] = urlparse(url).scheme
    zd = Zenpy(
        subdomain=subdomain, domain=domain, email=email, token=os.environ["SIM_TOKEN"]
    )
    # zenpy keeps objects it read in a cache: each read here must see the account now.
    zd.disable_caching()
    return zd


def wait_for(read, check, what, secs=20, show=repr):
    """Reads until `check` holds; fails naming `what` and the last value read."""
    deadline = time.monotonic() + secs
    last = None
    while time.monotonic() < deadline:
        last = read()
        if last is not None and check(last):
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what}: not reached in {secs} s; last read {show(last)}")

"""Fixtures for driving two simulated accounts, with the bridge between them, through
zenpy 2.0.57 as their agents. `tests/zenpy.rs` starts the simulator (acme and vendor)
and the bridge, and runs pytest on this directory with:

- ACME_URL, VENDOR_URL: the accounts' base URLs; SIM_TOKEN: the API token
- ACME_AGENT, VENDOR_AGENT: agents' emails (not the bridge's users)
- IDS: JSON with the groups and forms the agreements map onto each other

See tests/clients/zenpy/conftest.py for how zenpy is pointed at 127.0.0.1:PORT.
"""

import json
import os
import time
from urllib.parse import urlparse

import pytest
from zenpy import Zenpy


def _client(url, email):
    host = urlparse(url).netloc
    subdomain, domain = host.split(".", 1)
    os.environ["ZENPY_FORCE_SCHEME"] = urlparse(url).scheme
    zd = Zenpy(
        subdomain=subdomain, domain=domain, email=email, token=os.environ["SIM_TOKEN"]
    )
    # zenpy keeps objects it read in a cache: each read here must see the account now.
    zd.disable_caching()
    return zd


@pytest.fixture
def acme():
    """zenpy as an agent of acme (the sender)."""
    return _client(os.environ["ACME_URL"], os.environ["ACME_AGENT"])


@pytest.fixture
def vendor():
    """zenpy as an agent of vendor (the receiver, replying on the mirror)."""
    return _client(os.environ["VENDOR_URL"], os.environ["VENDOR_AGENT"])


@pytest.fixture
def ids():
    return json.loads(os.environ["IDS"])


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

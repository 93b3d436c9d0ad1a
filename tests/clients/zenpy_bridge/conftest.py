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
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from zenpy_agents import client as _client, wait_for  # noqa: E402,F401


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

"""Fixtures for checking the bridge's promise from outside: zenpy 2.0.57 as agents of
two simulated accounts, with the daemon (its HTTP server, the simulator's signed
webhooks, nothing pushed by hand) between them. `tests/zenpy.rs` starts both and runs
pytest on this directory with:

- ACME_URL, VENDOR_URL: the accounts' base URLs; SIM_TOKEN: the API token
- ACME_AGENT, VENDOR_AGENT: agents' emails (not the bridge's users)

The agreements: acme -> vendor auto-shares `vendor_escalation`, vendor -> acme
auto-shares `acme_escalation`; both accepted, so shared tickets are linked two ways.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from zenpy_agents import client as _client, wait_for as _wait_for  # noqa: E402


@pytest.fixture
def acme():
    """zenpy as an agent of acme."""
    return _client(os.environ["ACME_URL"], os.environ["ACME_AGENT"])


@pytest.fixture
def vendor():
    """zenpy as an agent of vendor."""
    return _client(os.environ["VENDOR_URL"], os.environ["VENDOR_AGENT"])




def wait_for(read, check, what, secs=30, show=repr):
    """As zenpy_agents.wait_for, with the longer default a daemon's round trip needs."""
    return _wait_for(read, check, what, secs=secs, show=show)


def mirror_of(zd, subdomain, ticket_id):
    """The live mirror of `subdomain`'s ticket in the account `zd` speaks for, or None."""
    found = [
        t
        for t in zd.tickets(external_id=f"sharebridge:{subdomain}:{ticket_id}")
        if t.status != "deleted"
    ]
    return found[0] if found else None


def bodies(zd, ticket_id):
    """(body, public) of each comment of a ticket, oldest first."""
    return [(c.body, c.public) for c in zd.tickets.comments(ticket=ticket_id)]

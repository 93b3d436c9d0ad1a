"""Fixtures for driving `sharebridge sim` with zenpy 2.0.57, a Zendesk client nobody here
wrote. `tests/zenpy.rs` starts the simulator and runs pytest on this directory with:

- SIM_URL: the account's base URL, e.g. http://127.0.0.1:40123
- SIM_TOKEN: the API token; SIM_AGENT / SIM_ADMIN: an agent's and an admin's email
- SIM_OAUTH_CLIENT / SIM_OAUTH_SECRET: an OAuth client the simulator knows

zenpy builds `{protocol}://{subdomain}.{domain}/api/v2`; the simulator's host
`127.0.0.1:PORT` is split into subdomain `127` and domain `0.0.1:PORT`, and
ZENPY_FORCE_SCHEME=http (zenpy's own switch) makes it speak plain HTTP.
"""

import os
from urllib.parse import urlparse

import pytest
import requests
from zenpy import Zenpy


def _settings():
    url = os.environ["SIM_URL"]
    host = urlparse(url).netloc
    subdomain, domain = host.split(".", 1)
    os.environ["ZENPY_FORCE_SCHEME"] = urlparse(url).scheme
    return url, subdomain, domain


def client(email=None, oauth_token=None):
    url, subdomain, domain = _settings()
    if oauth_token:
        return Zenpy(subdomain=subdomain, domain=domain, oauth_token=oauth_token)
    return Zenpy(
        subdomain=subdomain,
        domain=domain,
        email=email or os.environ["SIM_AGENT"],
        token=os.environ["SIM_TOKEN"],
    )


@pytest.fixture
def zd():
    """zenpy as an agent with an API token."""
    return client()


@pytest.fixture
def zd_admin():
    """zenpy as an admin."""
    return client(os.environ["SIM_ADMIN"])


@pytest.fixture
def sim():
    """Raw HTTP to the simulator (control endpoints, and what zenpy has no method for)."""

    class Sim:
        url = os.environ["SIM_URL"]
        token = os.environ["SIM_TOKEN"]
        agent = os.environ["SIM_AGENT"]
        admin = os.environ["SIM_ADMIN"]
        oauth_client = os.environ["SIM_OAUTH_CLIENT"]
        oauth_secret = os.environ["SIM_OAUTH_SECRET"]

        def auth(self, email=None):
            return (f"{email or self.agent}/token", self.token)

        def stats(self):
            return requests.get(f"{self.url}/sim/stats", timeout=10).json()

        def knobs(self, **patch):
            r = requests.put(f"{self.url}/sim/knobs", json=patch, timeout=10)
            r.raise_for_status()
            return r.json()

        def api(self, method, path, email=None, **kw):
            return requests.request(
                method, f"{self.url}{path}", auth=self.auth(email), timeout=10, **kw
            )

    return Sim()

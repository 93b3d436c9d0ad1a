"""Fixtures for checking issue 12's cases from outside, as an operator and a partner
would see them: `sharebridge sim` and `sharebridge run` as separate processes (the real
binary, killed with SIGKILL, reloaded with SIGHUP, asked with its CLI), the simulator's
signed webhooks between them, and zenpy 2.0.57 as the accounts' agents. `tests/zenpy.rs`
runs pytest on this directory with SHAREBRIDGE_BIN (the binary cargo built).

Each test gets its own `bridge` (fresh simulator, state directory and ports) and stops
it. Nothing here reaches into the daemon: what is checked is what Zendesk, the CLI and
the HTTP API show.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from zenpy_agents import client as _client, wait_for as _wait_for  # noqa: E402

BIN = os.environ.get("SHAREBRIDGE_BIN", "sharebridge")
TOKEN = "outside-sim-token"
ADMIN = "outside-admin-token"
HOOK = "outside-hook-secret"
# zenpy_agents.client authenticates with $SIM_TOKEN.
os.environ["SIM_TOKEN"] = TOKEN


def wait_for(read, check, what, secs=60, show=repr):
    return _wait_for(read, check, what, secs=secs, show=show)


def _free_port():
    # The daemon must come back on the same port after a SIGKILL, so it is chosen here.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bridge:
    """One simulator process (accounts on ports it picks) and one daemon process."""

    def __init__(self, tmp, accounts, hooks, sim_args):
        self.dir = tmp
        self.port = _free_port()
        self.listen = f"http://127.0.0.1:{self.port}"
        args = [BIN, "sim", "--token", TOKEN, "--webhook-secret", HOOK, *sim_args]
        for a in accounts:
            args += ["--account", f"{a}=127.0.0.1:0"]
        for a in hooks:
            args += ["--webhook", f"{a}={self.listen}/webhooks/{a}"]
        self.sim_log = open(os.path.join(tmp, "sim.log"), "w+")
        self.sim = subprocess.Popen(args, stdout=self.sim_log, stderr=subprocess.STDOUT)
        self.urls = {}
        deadline = time.monotonic() + 20
        while len(self.urls) < len(accounts):
            assert time.monotonic() < deadline, "the simulator did not start: " + self.sim_text()
            assert self.sim.poll() is None, "the simulator exited: " + self.sim_text()
            for m in re.finditer(r"account (\w+) listening on (\S+)", self.sim_text()):
                self.urls[m.group(1)] = m.group(2)
            time.sleep(0.05)
        self.config = os.path.join(tmp, "sharebridge.toml")
        self.log_path = os.path.join(tmp, "daemon.log")
        self.daemon = None

    def sim_text(self):
        self.sim_log.flush()
        with open(self.sim_log.name) as f:
            return f.read()

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    # -- configuration ------------------------------------------------------------------

    def account(self, name, extra=""):
        """An `[accounts.NAME]` section on the simulator, with API token auth."""
        return (
            f'\n[accounts.{name}]\nsubdomain = "{name}"\nbase_url = "{self.urls[name]}"\n'
            f'email = "bridge@{name}.example"\ntoken = "{TOKEN}"\nwebhook_secret = "{HOOK}"\n{extra}\n'
        )

    @staticmethod
    def agreement(frm, to, tag, extra=""):
        return (
            f'\n[[agreements]]\nname = "{frm}-to-{to}"\nfrom = "{frm}"\nto = "{to}"\n'
            f'auto_share_tags = ["{tag}"]\n{extra}\n'
        )

    def write(self, body, daemon_extra=""):
        state = os.path.join(self.dir, "state")
        with open(self.config, "w") as f:
            f.write(
                f'[daemon]\nstate_dir = "{state}"\nlisten = "127.0.0.1:{self.port}"\n'
                f'admin_token = "{ADMIN}"\n{daemon_extra}\n' + body
            )

    # -- the daemon ---------------------------------------------------------------------

    def start(self, wait=True):
        with open(self.log_path, "a") as log:
            self.daemon = subprocess.Popen(
                [BIN, "run", "--config", self.config], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while wait and time.monotonic() < deadline:
            assert self.daemon.poll() is None, "the daemon exited:\n" + self.log()[-3000:]
            try:
                if requests.get(f"{self.listen}/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        if wait:
            raise AssertionError("the daemon was not ready in 30 s:\n" + self.log()[-3000:])

    def kill(self):
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()

    def reload(self):
        self.daemon.send_signal(signal.SIGHUP)

    def alive(self):
        return self.daemon is not None and self.daemon.poll() is None

    def cli(self, *args):
        return subprocess.run(
            [BIN, *args, "--config", self.config],
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )

    def api(self, path):
        r = requests.get(
            f"{self.listen}{path}", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10
        )
        r.raise_for_status()
        return r.json()

    # -- the simulator ------------------------------------------------------------------

    def agent(self, account, who="agent"):
        return _client(self.urls[account], f"{who}@{account}.example")

    def stats(self, account):
        return requests.get(f"{self.urls[account]}/sim/stats", timeout=10).json()

    def knobs(self, account, **patch):
        r = requests.put(f"{self.urls[account]}/sim/knobs", json=patch, timeout=10)
        r.raise_for_status()

    def stop(self):
        if self.alive():
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(20)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
        self.sim.kill()
        self.sim.wait()


@pytest.fixture
def bridge(request):
    """A factory: bridge(accounts, hooks=None, sim_args=()) starts the simulator."""
    made = []
    tmp = tempfile.TemporaryDirectory(prefix="sharebridge-outside-")

    def make(accounts, hooks=None, sim_args=()):
        b = Bridge(tmp.name, accounts, accounts if hooks is None else hooks, list(sim_args))
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()
    call = getattr(request.node, "rep_call", None)
    if call is not None and call.failed:
        for b in made:
            print("---- daemon log (tail) ----\n" + b.log()[-6000:])
    tmp.cleanup()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def mirrors_of(zd, subdomain, ticket_id):
    """The live mirrors of `subdomain`'s ticket in the account `zd` speaks for."""
    return [
        t
        for t in zd.tickets(external_id=f"sharebridge:{subdomain}:{ticket_id}")
        if t.status != "deleted"
    ]


def bodies(zd, ticket_id):
    """The body of each comment of a ticket, oldest first."""
    return [c.body for c in zd.tickets.comments(ticket=ticket_id)]

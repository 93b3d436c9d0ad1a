"""End to end through zenpy agents (run by tests/zenpy.rs with a bridge between two
simulated accounts; not collected by the plain suite: its name is not test_*.py).

An acme agent shares a ticket and attaches a public file, an oversized one and, on a
private comment, a private file; the vendor side, read through zenpy too, gets the public
file with the same bytes, the oversized one named with its size and why, and nothing of
the private one. Environment: SIM_URL (acme), SIM_VENDOR_URL, SIM_TOKEN, SIM_AGENT,
SIM_VENDOR_AGENT, SIM_MAX_BYTES (the agreement's attachments.max_bytes).
"""

import io
import os
import time
from urllib.parse import urlparse

from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket


def zenpy_for(url, email):
    host = urlparse(url).netloc
    subdomain, domain = host.split(".", 1)
    os.environ["ZENPY_FORCE_SCHEME"] = urlparse(url).scheme
    return Zenpy(subdomain=subdomain, domain=domain, email=email, token=os.environ["SIM_TOKEN"])


def eventually(check, what, secs=30):
    deadline = time.time() + secs
    while time.time() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"not within {secs} s: {what}")


def test_public_private_and_oversized_files_reach_the_partner_as_they_should():
    acme = zenpy_for(os.environ["SIM_URL"], os.environ["SIM_AGENT"])
    vendor = zenpy_for(os.environ["SIM_VENDOR_URL"], os.environ["SIM_VENDOR_AGENT"])
    max_bytes = int(os.environ["SIM_MAX_BYTES"])

    t = acme.tickets.create(
        Ticket(subject="zenpy files", description="files follow", tags=["vendor_escalation"])
    ).ticket
    external = f"sharebridge:acme:{t.id}"

    def mirror():
        found = [m for m in vendor.tickets() if m.external_id == external]
        return found[0] if found else None

    m = eventually(mirror, "the mirror exists")

    shot = bytes(range(256)) * 40
    huge = b"x" * (max_bytes * 2)
    secret = b"private log line\n" * 10
    up_shot = acme.attachments.upload(io.BytesIO(shot), target_name="screenshot.png")
    up_huge = acme.attachments.upload(io.BytesIO(huge), target_name="huge.bin")
    up_secret = acme.attachments.upload(io.BytesIO(secret), target_name="internal.log")

    ticket = acme.tickets(id=t.id)
    ticket.comment = Comment(body="public files", public=True, uploads=[up_shot.token, up_huge.token])
    acme.tickets.update(ticket)
    ticket = acme.tickets(id=t.id)
    ticket.comment = Comment(body="private file", public=False, uploads=[up_secret.token])
    acme.tickets.update(ticket)
    ticket = acme.tickets(id=t.id)
    ticket.comment = Comment(body="after the files", public=True)
    acme.tickets.update(ticket)

    def mirrored():
        cs = list(vendor.tickets.comments(ticket=m.id))
        return cs if any("after the files" in c.body for c in cs) else None

    comments = eventually(mirrored, "the comments crossed")
    public = [c for c in comments if "public files" in c.body]
    assert len(public) == 1, [c.body for c in comments]
    c = public[0]
    assert c.public
    assert [a.file_name for a in c.attachments] == ["screenshot.png"]
    assert vendor.attachments.download(c.attachments[0].id).getvalue() == shot
    # The oversized file is named, with its size and why.
    assert "huge.bin" in c.body and "attachments.max_bytes" in c.body, c.body
    # Nothing of the private comment crossed.
    for x in comments:
        assert "private file" not in x.body
        assert all(a.file_name != "internal.log" for a in x.attachments)

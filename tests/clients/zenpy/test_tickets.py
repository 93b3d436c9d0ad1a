"""Tickets, comments, tags, audits and redaction through zenpy's own calls."""

import time
import uuid

from zenpy.lib.api_objects import Comment, Ticket, User
from zenpy.lib.exception import APIException, RecordNotFoundException


def test_readme_ticket_with_description(zd):
    # zenpy's README: a ticket with a description and no comment.
    audit = zd.tickets.create(Ticket(subject="Important", description="Thing"))
    ticket = audit.ticket
    assert ticket.id > 0
    assert ticket.subject == "Important"
    assert ticket.description == "Thing"
    assert audit.audit.events[0]["type"] == "Comment"
    comments = list(zd.tickets.comments(ticket=ticket.id))
    assert [c.body for c in comments] == ["Thing"]
    assert comments[0].public is True


def test_show_update_comment_and_status(zd):
    t = zd.tickets.create(Ticket(subject="s", comment=Comment(body="first"))).ticket
    shown = zd.tickets(id=t.id)
    assert shown.status == "new"
    shown.status = "pending"
    shown.comment = Comment(body="an internal note", public=False)
    result = zd.tickets.update(shown)
    assert result.ticket.status == "pending"
    assert any(e["type"] == "Comment" for e in result.audit.events)
    comments = list(zd.tickets.comments(ticket=t.id))
    assert [(c.body, c.public) for c in comments] == [
        ("first", True),
        ("an internal note", False),
    ]
    # html_body and a requester given as an object.
    t2 = zd.tickets.create(
        Ticket(
            subject="html",
            comment=Comment(html_body="<p>Hello <b>world</b></p>"),
            requester=User(name="Jane Doe", email="jane@customer.example"),
        )
    ).ticket
    assert zd.users(id=t2.requester_id).email == "jane@customer.example"
    assert list(zd.tickets.comments(ticket=t2.id))[0].body == "Hello world"


def test_tags_set_add_delete(zd):
    t = zd.tickets.create(Ticket(description="tags")).ticket
    assert list(zd.tickets.set_tags(t.id, ["a", "b"])) == ["a", "b"]
    assert sorted(zd.tickets.add_tags(t.id, ["c"])) == ["a", "b", "c"]
    assert list(zd.tickets.delete_tags(t.id, ["a"])) == ["b", "c"]
    assert list(zd.tickets.tags(t.id)) == ["b", "c"]


def test_show_many_external_id_and_delete(zd):
    ext = f"ext-{uuid.uuid4().hex}"
    a = zd.tickets.create(Ticket(description="a", external_id=ext)).ticket
    b = zd.tickets.create(Ticket(description="b")).ticket
    many = list(zd.tickets(ids=[a.id, b.id]))
    assert sorted(t.id for t in many) == sorted([a.id, b.id])
    found = list(zd.tickets(external_id=ext))
    assert [t.id for t in found] == [a.id]
    zd.tickets.delete(b)
    try:
        zd.tickets(id=b.id)
        raise AssertionError("a deleted ticket must answer 404")
    except RecordNotFoundException:
        pass


def test_cursor_and_offset_pagination_follow_absolute_links(zd, sim):
    ids = [zd.tickets.create(Ticket(description=f"p{i}")).ticket.id for i in range(7)]
    # Cursor pages of 2: zenpy follows links.next until meta.has_more is false.
    seen = [t.id for t in zd.tickets(cursor_pagination=2)]
    assert set(ids) <= set(seen)
    assert len(seen) == len(set(seen))
    before = sim.stats()["by_endpoint"].get("GET /api/v2/tickets", 0)
    assert before >= 4
    # Offset pages: search answers next_page, zenpy follows it.
    results = list(zd.search("p", type="ticket"))
    assert set(ids) <= {t.id for t in results}


def test_audits_keep_update_metadata(zd, sim):
    t = zd.tickets.create(Ticket(description="m")).ticket
    r = sim.api(
        "PUT",
        f"/api/v2/tickets/{t.id}.json",
        json={"ticket": {"status": "open", "metadata": {"custom": {"run": "42"}}}},
    )
    assert r.status_code == 200
    audits = list(zd.tickets.audits(ticket=t.id))
    assert audits[-1].metadata.custom == {"run": "42"}


def test_redact_and_make_private(zd, sim):
    t = zd.tickets.create(Ticket(description="card 4111 1111 1111 1111 ok")).ticket
    c = list(zd.tickets.comments(ticket=t.id))[0]
    redacted = zd.tickets.comment_redact(t.id, c.id, "4111 1111 1111 1111")
    assert "4111" not in redacted.body
    assert "\u2587" in redacted.body
    # zenpy has no make_private call: the same session, raw.
    r = sim.api("PUT", f"/api/v2/tickets/{t.id}/comments/{c.id}/make_private.json")
    assert r.status_code == 200
    assert list(zd.tickets.comments(ticket=t.id))[0].public is False


def test_closed_ticket_refuses_updates(zd):
    t = zd.tickets.create(Ticket(description="c")).ticket
    t.status = "closed"
    zd.tickets.update(t)
    t2 = zd.tickets(id=t.id)
    t2.comment = Comment(body="too late")
    try:
        zd.tickets.update(t2)
        raise AssertionError("a closed ticket cannot be updated")
    except APIException as e:
        assert e.response.status_code == 422
        assert e.response.json()["error"] == "RecordInvalid"


def test_incremental_exports(zd):
    start = int(time.time()) - 5
    t = zd.tickets.create(Ticket(description="inc")).ticket
    exported = [x.id for x in zd.tickets.incremental(start_time=start)]
    assert t.id in exported
    events = list(zd.tickets.events(start_time=start, include="comment_events"))
    assert any(e.ticket_id == t.id for e in events)

"""zenpy's README examples, as a new user would run them against the simulator."""

import io
import uuid

import requests
from zenpy.lib.api_objects import Comment, CustomField, Ticket, User, Webhook


def test_quickstart_search_by_assignee_and_status(zd_admin, sim):
    agent = zd_admin.users.create(
        User(name="facetoe", email=f"facetoe-{uuid.uuid4().hex[:6]}@acme.example", role="agent")
    )
    word = f"PCLOADLETTER{uuid.uuid4().hex[:6]}"
    audit = zd_admin.tickets.create(
        Ticket(subject=f"{word} again", description="Thing", assignee_id=agent.id)
    )
    found = list(zd_admin.search(word, type="ticket", assignee="facetoe"))
    assert [t.id for t in found] == [audit.ticket.id]
    assert found[0].requester.name  # linked objects load lazily
    assert found[0].to_dict()["id"] == audit.ticket.id
    by_email = list(
        zd_admin.search(type="ticket", status_less_than="closed", assignee=agent.email, sort_order="desc")
    )
    assert audit.ticket.id in [t.id for t in by_email]
    opened = list(zd_admin.search(word, type="ticket", status="open"))
    assert [t.id for t in opened] == [audit.ticket.id], "an assigned new ticket is open"


def test_search_export(zd):
    word = f"exportme{uuid.uuid4().hex[:6]}"
    ids = {zd.tickets.create(Ticket(subject=word, description="x")).ticket.id for _ in range(3)}
    got = {t.id for t in zd.search_export(word, type="ticket")}
    assert got == ids


def test_requester_html_tags_and_custom_fields(zd, zd_admin):
    audit = zd.tickets.create(
        Ticket(description="Some description", requester=User(name="bob", email=f"bob-{uuid.uuid4().hex[:6]}@example.com"))
    )
    assert zd.users(id=audit.ticket.requester_id).name == "bob"
    html = zd.tickets.create(
        Ticket(
            subject="Html comment example",
            comment=Comment(
                body="The smoke is very colorful",
                html_body="<h2>The smoke is <i>very</i> colourful</h2>",
            ),
        )
    ).ticket
    assert "<i>very</i>" in list(zd.tickets.comments(ticket=html.id))[0].html_body
    ticket = zd.tickets(id=html.id)
    ticket.tags.extend(["onetag", "twotag", "threetag", "four"])
    zd.tickets.update(ticket)
    assert sorted(zd.tickets.tags(html.id)) == ["four", "onetag", "threetag", "twotag"]
    # An unknown custom field id is ignored, as Zendesk does.
    made = zd.tickets.create(
        Ticket(subject="Has custom field", description="Wow, such field",
               custom_fields=[CustomField(id=43528467, value=1337)])
    )
    assert made.ticket.id


def test_upload_then_redact_the_attachment(zd):
    upload_instance = zd.attachments.upload(io.BytesIO(b"secret"), target_name="awesome_file.txt")
    comment = Comment(body="Some comment")
    comment.uploads = upload_instance.token  # one token as a string, as the README does
    ticket_audit = zd.tickets.create(Ticket(subject="example ticket", comment=comment))
    ticket = ticket_audit.ticket
    the_commentresult = zd.tickets.comments(ticket)
    the_comment = the_commentresult.values[0]
    attachment = zd.attachments.redact(ticket, the_comment, the_comment.attachments[0].id)
    assert attachment.id == the_comment.attachments[0].id
    assert attachment.file_name == "redacted.txt"


def test_webhooks_readme(zd_admin):
    new_webhook = Webhook(
        authentication={
            "add_position": "header",
            "data": {"password": "hello_123", "username": "john_smith"},
            "type": "basic_auth",
        },
        endpoint="https://example.com/status/200",
        http_method="GET",
        name=f"Example Webhook {uuid.uuid4().hex[:6]}",
        description="Webhook description",
        request_format="json",
        status="active",
        subscriptions=["conditional_ticket_events"],
    )
    webhook = zd_admin.webhooks.create(new_webhook)
    assert zd_admin.webhooks(id=webhook.id).name == new_webhook.name
    names = [w.name for w in zd_admin.webhooks.list(filter=new_webhook.name)]
    assert names == [new_webhook.name]
    listed = [w.name for w in zd_admin.webhooks.list(sort="name")]
    assert listed == sorted(listed)
    page = list(zd_admin.webhooks.list(page_size=1))
    assert page
    cloned = zd_admin.webhooks.clone(webhook)
    assert cloned.id != webhook.id
    assert zd_admin.webhooks.show_secret(cloned).secret != zd_admin.webhooks.show_secret(webhook).secret
    webhook.name = "renamed"
    zd_admin.webhooks.update(webhook.id, webhook)
    assert zd_admin.webhooks(id=webhook.id).name == "renamed"
    zd_admin.webhooks.delete(cloned)
    zd_admin.webhooks.delete(webhook)


def test_ticket_fields_pagination_styles(zd):
    a = [f.id for f in zd.ticket_fields()]
    b = [f.id for f in zd.ticket_fields(cursor_pagination=False)]
    c = [f.id for f in zd.ticket_fields(cursor_pagination=True)]
    d = [f.id for f in zd.ticket_fields(cursor_pagination=2)]
    assert a == b == c == d and len(a) >= 7


def test_sharing_agreements_and_oauth_refresh(zd, sim):
    assert list(zd.sharing_agreements()) == []
    # The bridge's token refresh, over raw HTTP (zenpy takes a token, it does not refresh).
    r = requests.post(
        f"{sim.url}/sim/oauth/clients",
        json={"user_email": "bridge@acme.example"},
        timeout=10,
    )
    grant = r.json()
    r = requests.post(
        f"{sim.url}/oauth/tokens",
        data={
            "grant_type": "refresh_token",
            "refresh_token": grant["refresh_token"],
            "client_id": grant["client_id"],
            "client_secret": grant["client_secret"],
        },
        timeout=10,
    )
    assert r.status_code == 200, r.text
    pair = r.json()
    assert pair["refresh_token"] != grant["refresh_token"]
    from conftest import client

    assert client(oauth_token=pair["access_token"]).users.me().email == "bridge@acme.example"
    old = requests.get(
        f"{sim.url}/api/v2/users/me.json",
        headers={"Authorization": f"Bearer {grant['access_token']}"},
        timeout=10,
    )
    assert old.status_code == 401

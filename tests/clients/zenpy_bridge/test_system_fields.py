"""Zendesk's own fields set by zenpy agents cross the bridge ([agreements.system]):
priority, type with due date, group and form by map, both ways on a two-way link,
and nothing bounces back."""

import time

from zenpy.lib.api_objects import Ticket

from conftest import wait_for

DUE = "2026-12-24T10:00:00Z"


def _fields(t):
    return {
        "priority": t.priority,
        "type": t.type,
        "due_at": t.due_at,
        "group_id": t.group_id,
        "ticket_form_id": t.ticket_form_id,
    }


def test_system_fields_set_by_zenpy_agents_cross_both_ways(acme, vendor, ids):
    created = acme.tickets.create(
        Ticket(
            subject="zenpy system fields",
            description="The printer is on fire",
            tags=["vendor_escalation"],
            priority="high",
            type="task",
            due_at=DUE,
            group_id=ids["acme_group"],
            ticket_form_id=ids["acme_form"],
        )
    ).ticket
    assert created.priority == "high" and created.type == "task"

    def mirror():
        found = list(vendor.tickets(external_id=f"sharebridge:acme:{created.id}"))
        return found[0] if found else None

    want = {
        "priority": "high",
        "type": "task",
        "due_at": DUE,
        "group_id": ids["vendor_group"],
        "ticket_form_id": ids["vendor_form"],
    }
    m = wait_for(mirror, lambda t: _fields(t) == want, "the mirror's system fields", show=_fields)

    # The source changes: urgent incident (a due date belongs to tasks only), default
    # group and form.
    source = acme.tickets(id=created.id)
    source.priority = "urgent"
    source.type = "incident"
    source.group_id = ids["acme_default_group"]
    source.ticket_form_id = ids["acme_default_form"]
    acme.tickets.update(source)
    want = {
        "priority": "urgent",
        "type": "incident",
        "due_at": None,
        "group_id": ids["vendor_default_group"],
        "ticket_form_id": ids["vendor_default_form"],
    }
    wait_for(lambda: vendor.tickets(id=m.id), lambda t: _fields(t) == want, "the update", show=_fields)

    # The partner's agent changes the mirror: it crosses back under vendor's maps.
    on_mirror = vendor.tickets(id=m.id)
    on_mirror.priority = "low"
    on_mirror.group_id = ids["vendor_group"]
    vendor.tickets.update(on_mirror)
    wait_for(
        lambda: acme.tickets(id=created.id),
        lambda t: (t.priority, t.group_id) == ("low", ids["acme_group"]),
        "the reply's fields at the source",
    )

    # Nothing bounces: both sides keep these values while the bridge keeps looking.
    time.sleep(1.0)
    s, t = acme.tickets(id=created.id), vendor.tickets(id=m.id)
    assert (s.priority, s.group_id, s.type) == ("low", ids["acme_group"], "incident")
    assert (t.priority, t.group_id, t.type) == ("low", ids["vendor_group"], "incident")

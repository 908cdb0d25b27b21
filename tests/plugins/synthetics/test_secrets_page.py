"""The synthetics secrets page, driven like a browser: logged in through the form, changes sent
with the CSRF header htmx sends. Members set, replace and delete secrets, a secret a check
uses is not deleted, viewers only read, other teams see nothing; and no response, whoever asks
and however the request goes wrong, carries a secret's value or any piece of it."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from opsyard.audit.models import AuditEntry
from opsyard.db.engine import session_scope
from opsyard_synthetics import service
from opsyard_synthetics.models import Secret
from tests.conftest import World
from tests.plugins.synthetics.test_pages import field_error
from tests.web.conftest import login, send

BASE = "/t/alpha/synthetics"
PAGE = BASE + "/secrets"
# Random-looking, so any 8 characters of them found in a response can only be a leak.
VALUE = "Zq7vX2mP9wLk4Rt8"
NEW_VALUE = "Hn3cJ8sB1yUe6Wd0"
CHECKS_USING_API_TOKEN = """\
version: 1
checks:
  - name: checkout
    kind: http
    secrets: [API_TOKEN]
    steps:
      - url: http://127.0.0.1:9/
        headers: {Authorization: "Bearer {{ secrets.API_TOKEN }}"}
  - name: login
    kind: http
    secrets: [API_TOKEN]
    steps:
      - url: http://127.0.0.1:9/login
        headers: {X-Token: "{{ secrets.API_TOKEN }}"}
"""


@dataclass
class Browsers:
    """Logged-in clients, and every response body any of them received."""

    app: FastAPI
    bodies: list[str] = field(default_factory=list)
    opened: list[TestClient] = field(default_factory=list)

    def __call__(self, who: str) -> TestClient:
        client = TestClient(app=self.app, raise_server_exceptions=False)
        client.__enter__()
        self.opened.append(client)
        client.event_hooks["response"].append(self._keep)
        assert login(client, who).status_code == 303
        return client

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.bodies.append(response.text)

    def assert_never_sent(self, *values: str) -> None:
        """No response so far held any 8 characters in a row of any of `values`."""
        assert self.bodies
        for value in values:
            pieces = {value[start : start + 8] for start in range(len(value) - 7)}
            for body in self.bodies:
                leaked = sorted(piece for piece in pieces if piece in body)
                assert not leaked, f"{leaked} of a secret's value sent to the browser"


@pytest.fixture
def browsers(app: FastAPI, syn_world: World) -> Iterator[Browsers]:
    made = Browsers(app)
    yield made
    for client in made.opened:
        client.__exit__(None, None, None)


def set_secrets(world: World, team: str = "alpha", **values: str) -> None:
    with session_scope(world.ctx.sessions) as session:
        for name, value in values.items():
            service.set_secret(
                session, team=session.merge(world.teams[team]), name=name, value=value, actor=None
            )


def apply(world: World, text: str) -> None:
    with session_scope(world.ctx.sessions) as session:
        service.apply_checks(
            session,
            portal=world.ctx,
            team=session.merge(world.teams["alpha"]),
            text=text,
            actor=None,
        )


def stored_values(world: World) -> dict[str, str]:
    with session_scope(world.ctx.sessions) as session:
        return service.secrets_for(session, team_id=world.teams["alpha"].id)


def secret_audit(world: World) -> list[tuple[str, str, str, dict[str, object]]]:
    """The synthetics secret entries of the audit log, oldest first."""
    with session_scope(world.ctx.sessions) as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.like("synthetics.secret.%"))
            .order_by(AuditEntry.id)
        )
        return [(e.action, e.target, e.actor_label, dict(e.detail)) for e in entries]


def row_of(page: str, name: str) -> str:
    found = re.search(
        rf'<tr>\s*<th scope="row" data-label="Name"><code>{name}</code>.*?</tr>', page, re.S
    )
    assert found, f"no row for {name}"
    return found.group(0)


def notice(page: str) -> str:
    found = re.search(r'<div class="alert [^"]*" role="(?:alert|status)">(.*?)</div>', page, re.S)
    assert found, "no message on the page"
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()
    return html.unescape(text)


# -- reading ------------------------------------------------------------------------------


def test_the_page_lists_names_dates_and_the_checks_using_each(
    browsers: Browsers, syn_world: World
) -> None:
    set_secrets(syn_world, API_TOKEN=VALUE, UNUSED=NEW_VALUE)
    apply(syn_world, CHECKS_USING_API_TOKEN)
    bob = browsers("bob")
    page = bob.get(PAGE)
    assert page.status_code == 200, page.text
    assert "<html" in page.text and "<h1>Secrets</h1>" in page.text
    ids = re.findall(r'\sid="([^"]+)"', page.text)
    assert len(ids) == len(set(ids))
    used = row_of(page.text, "API_TOKEN")
    assert f'<a href="{BASE}/checks/checkout">checkout</a>, ' in used
    assert f'<a href="{BASE}/checks/login">login</a>' in used
    assert re.search(r'<td data-label="Last set"><time datetime="[^"]+">\d{4}-', used)
    assert "no check" in row_of(page.text, "UNUSED")
    # The form for members: a password input that starts empty and is never filled in.
    value_input = re.search(r'<input id="secret-value"[^>]*>', page.text)
    assert value_input is not None
    assert 'type="password"' in value_input.group(0)
    assert 'autocomplete="new-password"' in value_input.group(0)
    assert "value=" not in value_input.group(0)
    # Another team's page lists its own secrets only.
    set_secrets(syn_world, team="beta", BETA_ONLY="b" * 12)
    beta = browsers("carol").get("/t/beta/synthetics/secrets").text
    assert "BETA_ONLY" in beta and "API_TOKEN" not in beta
    browsers.assert_never_sent(VALUE, NEW_VALUE, "b" * 12)


def test_a_team_without_secrets_is_told_so(browsers: Browsers, syn_world: World) -> None:
    page = browsers("bob").get(PAGE).text
    assert "Alpha has no secret yet." in page
    assert 'hx-post="/t/alpha/synthetics/secrets"' in page


# -- setting ------------------------------------------------------------------------------


def test_a_member_sets_then_replaces_a_secret_and_both_are_audited(
    browsers: Browsers, syn_world: World
) -> None:
    bob = browsers("bob")
    made = send(bob, PAGE, {"name": " API_TOKEN ", "value": VALUE}, htmx=True, target="secrets")
    assert made.status_code == 200, made.text
    # The component alone, ready to replace itself.
    assert made.text.lstrip().startswith('<div id="secrets" hx-target="this" hx-swap="outerHTML">')
    assert "<html" not in made.text
    assert "Secret API_TOKEN set." in notice(made.text)
    assert "no check" in row_of(made.text, "API_TOKEN")
    assert stored_values(syn_world) == {"API_TOKEN": VALUE}

    replaced = send(bob, PAGE, {"name": "API_TOKEN", "value": NEW_VALUE}, htmx=True)
    assert replaced.status_code == 200
    assert "Secret API_TOKEN replaced" in notice(replaced.text)
    assert replaced.text.count('data-label="Name"') == 1
    assert stored_values(syn_world) == {"API_TOKEN": NEW_VALUE}

    # Without htmx (no script), the answer is the whole page.
    plain = send(bob, PAGE, {"name": "OTHER", "value": VALUE})
    assert plain.status_code == 200 and "<html" in plain.text
    assert "Secret OTHER set." in plain.text

    assert secret_audit(syn_world) == [
        ("synthetics.secret.set", "alpha/API_TOKEN", "bob@example.com", {}),
        ("synthetics.secret.replaced", "alpha/API_TOKEN", "bob@example.com", {}),
        ("synthetics.secret.set", "alpha/OTHER", "bob@example.com", {}),
    ]
    # The owner reads the same in the team's audit log, without the values.
    log = browsers("alice").get("/t/alpha/audit").text
    assert "synthetics.secret.replaced" in log and "alpha/API_TOKEN" in log
    browsers.assert_never_sent(VALUE, NEW_VALUE)


def test_a_refused_secret_is_explained_beside_its_field_and_its_value_not_echoed(
    browsers: Browsers, syn_world: World
) -> None:
    bob = browsers("bob")
    bad_name = send(bob, PAGE, {"name": "no-dashes", "value": VALUE}, htmx=True)
    assert bad_name.status_code == 422
    assert "a letter or _" in field_error(bad_name.text, "secret-name")
    assert 'value="no-dashes"' in bad_name.text  # the name is kept to be corrected

    empty = send(bob, PAGE, {"name": "API_TOKEN", "value": ""}, htmx=True)
    assert empty.status_code == 422
    assert "not empty" in field_error(empty.text, "secret-value")
    assert 'value="API_TOKEN"' in empty.text

    too_big = VALUE * (8 * 1024 // len(VALUE)) + "x"
    large = send(bob, PAGE, {"name": "API_TOKEN", "value": too_big}, htmx=True)
    assert large.status_code == 422
    assert "at most 8 KiB" in field_error(large.text, "secret-value")

    missing = send(bob, PAGE, {"value": VALUE}, htmx=True)
    assert missing.status_code == 422
    assert "a letter or _" in field_error(missing.text, "secret-name")

    for refused in (bad_name, empty, large, missing):
        assert 'aria-invalid="true"' in refused.text
        value_input = re.search(r'<input id="secret-value"[^>]*>', refused.text)
        assert value_input is not None and "value=" not in value_input.group(0)
    assert stored_values(syn_world) == {}
    assert secret_audit(syn_world) == []
    browsers.assert_never_sent(VALUE)


# -- deleting -----------------------------------------------------------------------------


def test_a_secret_in_use_is_not_deleted_and_the_page_names_its_checks(
    browsers: Browsers, syn_world: World
) -> None:
    set_secrets(syn_world, API_TOKEN=VALUE, UNUSED=NEW_VALUE)
    apply(syn_world, CHECKS_USING_API_TOKEN)
    bob = browsers("bob")
    refused = send(bob, f"{PAGE}/API_TOKEN/delete", htmx=True, target="secrets")
    assert refused.status_code == 409
    said = notice(refused.text)
    assert "The secret 'API_TOKEN' is used by: checkout, login." in said
    assert "Remove the secret from the checks named in the problem" in said
    assert 'role="alert"' in refused.text
    assert "API_TOKEN" in stored_values(syn_world)

    deleted = send(bob, f"{PAGE}/UNUSED/delete", htmx=True, target="secrets")
    assert deleted.status_code == 200
    assert notice(deleted.text) == "Secret UNUSED deleted."
    assert 'data-label="Name"><code>UNUSED' not in deleted.text
    assert stored_values(syn_world) == {"API_TOKEN": VALUE}

    # Deleted meanwhile (another tab): said in place, not an error page.
    gone = send(bob, f"{PAGE}/UNUSED/delete", htmx=True, target="secrets")
    assert gone.status_code == 404
    assert "No secret 'UNUSED' in team alpha." in notice(gone.text)
    assert "<html" not in gone.text

    # Only the delete that happened is on record (the set ones were made without an actor).
    deletes = [entry for entry in secret_audit(syn_world) if entry[0].endswith("deleted")]
    assert deletes == [("synthetics.secret.deleted", "alpha/UNUSED", "bob@example.com", {})]
    browsers.assert_never_sent(VALUE, NEW_VALUE)


def test_once_its_checks_stop_using_it_the_secret_can_be_deleted(
    browsers: Browsers, syn_world: World
) -> None:
    set_secrets(syn_world, API_TOKEN=VALUE)
    apply(syn_world, CHECKS_USING_API_TOKEN)
    bob = browsers("bob")
    assert send(bob, f"{PAGE}/API_TOKEN/delete", htmx=True).status_code == 409
    apply(syn_world, "version: 1\nchecks: []\n")
    assert "no check" in row_of(bob.get(PAGE).text, "API_TOKEN")
    assert send(bob, f"{PAGE}/API_TOKEN/delete", htmx=True).status_code == 200
    assert stored_values(syn_world) == {}


# -- who may do what ----------------------------------------------------------------------


def test_a_viewer_sees_the_list_but_no_forms_and_is_refused_every_change(
    browsers: Browsers, syn_world: World
) -> None:
    set_secrets(syn_world, API_TOKEN=VALUE)
    vera = browsers("vera")
    page = vera.get(PAGE).text
    assert "API_TOKEN" in page and "Team members set and delete them." in page
    assert "hx-post" not in page
    assert page.count('method="post"') == page.count('method="post" action="/logout"')
    assert 'type="password"' not in page
    set_refused = send(vera, PAGE, {"name": "API_TOKEN", "value": NEW_VALUE}, htmx=True)
    assert set_refused.status_code == 403
    assert send(vera, f"{PAGE}/API_TOKEN/delete", htmx=True).status_code == 403
    assert stored_values(syn_world) == {"API_TOKEN": VALUE}
    assert [entry[0] for entry in secret_audit(syn_world)] == ["synthetics.secret.set"]
    browsers.assert_never_sent(VALUE, NEW_VALUE)


def test_another_team_gets_404_and_changes_nothing(browsers: Browsers, syn_world: World) -> None:
    set_secrets(syn_world, API_TOKEN=VALUE)
    carol = browsers("carol")
    assert carol.get(PAGE).status_code == 404
    assert (
        send(carol, PAGE, {"name": "API_TOKEN", "value": NEW_VALUE}, htmx=True).status_code == 404
    )
    assert send(carol, f"{PAGE}/API_TOKEN/delete", htmx=True).status_code == 404
    assert stored_values(syn_world) == {"API_TOKEN": VALUE}
    browsers.assert_never_sent(VALUE, NEW_VALUE)


def test_the_set_form_needs_the_csrf_header(browsers: Browsers, syn_world: World) -> None:
    bob = browsers("bob")
    forged = send(bob, PAGE, {"name": "API_TOKEN", "value": VALUE}, htmx=True, csrf=False)
    assert forged.status_code == 403
    assert stored_values(syn_world) == {}


def test_the_value_is_stored_as_typed_under_the_trimmed_name(
    browsers: Browsers, syn_world: World
) -> None:
    # A value may begin or end with spaces; a name cannot, so stray ones are dropped.
    bob = browsers("bob")
    spaced = f"  {VALUE} \n"
    assert send(bob, PAGE, {"name": "\tPADDED ", "value": spaced}, htmx=True).status_code == 200
    with session_scope(syn_world.ctx.sessions) as session:
        row = session.scalars(select(Secret)).one()
        assert (row.name, row.value) == ("PADDED", spaced)
    browsers.assert_never_sent(VALUE)

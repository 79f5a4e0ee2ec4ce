"""POST /api/v1/lead-conversions/bulk and /api/v1/jobs/{id} (api.md "Bulk", C8.5): 202 and the
job's id, the job's shape, its results as JSON pages and CSV, cancel, a job visible to its
creator and administrators only, bad input refused with nothing written."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import jsonschema_rs
import pytest
from sqlalchemy import func, select

from tests.conftest import assert_unchanged, db_rows
from webapp.models import Conversion, Job, Lead

URL = "/api/v1/lead-conversions/bulk"
JOB_KEYS = {"id", "kind", "status", "total", "processed", "converted", "skipped", "failed", "started_at",
            "finished_at"}
DEAL = {"stage": "Qualification", "name": "{company} – {full_name}"}


@pytest.fixture
def tokens(users, api_headers):
    made = {role: api_headers(user) for role, user in users.items()}
    made["anonymous"] = {}
    return made


@pytest.fixture
def immediate(app):
    """Jobs run as soon as they are enqueued, in the request (MemoryHuey immediate)."""
    app.config["HUEY_IMMEDIATE"] = True
    app.extensions.pop("huey", None)
    yield
    app.extensions.pop("huey", None)


@pytest.fixture
def leads(make_lead, users):
    sales = users["sales"]
    return [make_lead(first_name=f"P{i}", email=f"p{i}@x.com", company=f"Co {i % 3}", owner_id=sales.id)
            for i in range(7)]


def test_bulk_answers_202_with_the_job_id_and_the_job_converts(client, tokens, leads, immediate, db):
    response = client.post(URL, json={"lead_ids": [lead.id for lead in leads], "deal": DEAL},
                           headers=tokens["sales"])
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job_id"]
    assert set(response.get_json()) == {"job_id"}
    assert response.headers["Location"].endswith(f"/api/v1/jobs/{job_id}")
    job = client.get(f"/api/v1/jobs/{job_id}", headers=tokens["sales"]).get_json()
    assert set(job) == JOB_KEYS
    assert (job["kind"], job["status"], job["total"], job["processed"], job["converted"]) == (
        "bulk_convert", "done", 7, 7, 7)
    assert job["started_at"].endswith("+00:00") and job["finished_at"]
    assert db.session.scalar(select(func.count()).select_from(Conversion)) == 7


def test_bulk_without_a_worker_is_queued(client, tokens, leads, db):
    response = client.post(URL, json={"filter": {"q": "P"}}, headers=tokens["sales"])
    assert response.status_code == 202
    job = client.get(f"/api/v1/jobs/{response.get_json()['job_id']}", headers=tokens["sales"]).get_json()
    assert (job["status"], job["total"], job["started_at"]) == ("queued", 0, None)


def test_results_as_json_pages_and_as_csv(client, tokens, leads, immediate, users):
    ids = [lead.id for lead in leads]
    response = client.post(URL, json={"lead_ids": [*ids, 99999], "deal": DEAL}, headers=tokens["sales"])
    job_id = response.get_json()["job_id"]
    url = f"/api/v1/jobs/{job_id}/results"
    first = client.get(url + "?limit=5", headers=tokens["sales"]).get_json()
    assert len(first["items"]) == 5 and first["next_cursor"]
    rest = client.get(f"{url}?limit=5&cursor={first['next_cursor']}", headers=tokens["sales"]).get_json()
    items = first["items"] + rest["items"]
    assert rest["next_cursor"] is None and [i["lead_id"] for i in items] == [*ids, 99999]
    assert set(items[0]) == {"lead_id", "outcome", "conversion_id", "reason"}
    assert {i["outcome"] for i in items[:7]} == {"converted"} and all(i["conversion_id"] for i in items[:7])
    assert items[7] == {"lead_id": 99999, "outcome": "skipped", "conversion_id": None,
                        "reason": "This lead does not exist."}
    skipped = client.get(url + "?outcome=skipped", headers=tokens["sales"]).get_json()["items"]
    assert [i["lead_id"] for i in skipped] == [99999]

    for response in (client.get(url, headers={**tokens["sales"], "Accept": "text/csv"}),
                     client.get(url + ".csv", headers=tokens["sales"])):
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert f"job-{job_id}-results.csv" in response.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
        assert [(int(r["lead_id"]), r["outcome"]) for r in rows] == [(i["lead_id"], i["outcome"]) for i in items]
        assert rows[-1]["reason"] == "This lead does not exist." and rows[-1]["conversion_id"] == ""


def test_results_reasons_in_the_token_owners_language(client, tokens, users, immediate, db):
    users["sales"].language = "fr"
    db.session.commit()
    response = client.post(URL, json={"lead_ids": [99999]}, headers=tokens["sales"])
    [item] = client.get(f"/api/v1/jobs/{response.get_json()['job_id']}/results",
                        headers=tokens["sales"]).get_json()["items"]
    assert item["reason"] == "Cette piste n'existe pas."


@pytest.mark.parametrize("role,status", [("sales", 200), ("admin", 200), ("manager", 404), ("other_sales", 404),
                                         ("viewer", 404), ("anonymous", 401)])
def test_a_job_is_visible_to_its_creator_and_administrators_only(role, status, client, tokens, leads, immediate):
    job_id = client.post(URL, json={"lead_ids": [leads[0].id]}, headers=tokens["sales"]).get_json()["job_id"]
    for path in ("", "/results", "/results.csv"):
        assert client.get(f"/api/v1/jobs/{job_id}{path}", headers=tokens[role]).status_code == status, path
    cancel = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=tokens[role])
    assert cancel.status_code == {200: 409}.get(status, status)  # the job is done: nothing to cancel
    assert client.get("/api/v1/jobs/424242", headers=tokens["admin"]).status_code == 404


def test_cancel_a_queued_job(client, tokens, leads, db):
    job_id = client.post(URL, json={"lead_ids": [lead.id for lead in leads]}, headers=tokens["sales"]).get_json()[
        "job_id"]
    response = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=tokens["sales"])
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    again = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=tokens["sales"])
    assert again.status_code == 409 and again.get_json()["error"] == "conflict"
    assert db.session.scalar(select(func.count()).select_from(Conversion)) == 0


def test_a_role_without_convert_leads_is_refused(client, tokens, leads):
    response = client.post(URL, json={"lead_ids": [leads[0].id]}, headers=tokens["viewer"])
    assert response.status_code == 403 and "Convert leads" in response.get_json()["message"]


@pytest.mark.parametrize("payload,key", [
    ({}, "lead_ids"),
    ({"lead_ids": []}, "lead_ids"),
    ({"lead_ids": [1, 0]}, "lead_ids.1"),
    ({"lead_ids": [1], "filter": {"q": "x"}}, "filter"),
    ({"filter": {"status": "nope"}}, "filter.status"),
    ({"filter": {"owner_id": True}}, "filter.owner_id"),
    ({"lead_ids": [1], "lead_id": 1}, "lead_id"),
    ({"lead_ids": [1], "account": {"action": "link", "id": 2}}, "account.id"),
    ({"lead_ids": [1], "contact": {"fields": {"title": "x"}}}, "contact.fields"),
    ({"lead_ids": [1], "deal": {"stage": "Qualification", "name": "{boss}"}}, "deal.name"),
    ({"lead_ids": [1], "deal": {"stage": "Qualification", "pipeline_id": 999}}, "deal.pipeline_id"),
    ({"lead_ids": [1], "owner_id": 999}, "owner_id"),
    ({"lead_ids": [1], "dry_run": "yes"}, "dry_run"),
    ({"lead_ids": [1], "deal": ""}, "deal"),  # only null or absent is no deal (C5.1)
    ({"lead_ids": [1], "task": ""}, "task"),
    ({"lead_ids": [1], "deal": {"stage": "Qualification", "currency": ""}}, "deal.currency"),
])
def test_bad_input_is_422_and_writes_nothing(payload, key, client, tokens, leads, db):
    before = db_rows(db)
    response = client.post(URL, json=payload, headers=tokens["sales"])
    assert response.status_code == 422, response.get_json()
    assert key in response.get_json()["errors"]
    assert_unchanged(db, before)


def test_malformed_json_is_400(client, tokens):
    response = client.post(URL, data="{", content_type="application/json", headers=tokens["sales"])
    assert response.status_code == 400


def test_dry_run_summarises_and_writes_nothing(client, tokens, leads, make_account, users, db):
    make_account(name="Co 0", owner_id=users["sales"].id)
    before = db_rows(db)
    response = client.post(URL, json={"filter": {"owner_id": users["sales"].id}, "deal": DEAL, "dry_run": True},
                           headers=tokens["sales"])
    assert response.status_code == 200, response.get_json()
    summary = response.get_json()
    assert (summary["total"], summary["converted"], summary["skipped"]) == (7, 7, 0)
    # Co 0 exists (3 leads merge into it); Co 1 and Co 2 are created once each, then merged.
    assert summary["account"] == {"merged": 5, "created": 2}
    assert [e["name"] for e in summary["examples"]["account"]] == ["Co 0"] * 3
    assert_unchanged(db, before)
    assert db.session.scalar(select(func.count()).select_from(Job)) == 0


def test_openapi_documents_the_bulk_and_job_operations(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/lead-conversions/bulk", "/api/v1/jobs/{id}", "/api/v1/jobs/{id}/results",
            "/api/v1/jobs/{id}/results.csv", "/api/v1/jobs/{id}/cancel"} <= set(paths)
    assert "202" in paths["/api/v1/lead-conversions/bulk"]["post"]["responses"]


def test_the_filter_converts_what_it_matched(client, tokens, leads, make_lead, users, immediate, db):
    other = make_lead(email="other@x.com", company="Else", owner_id=users["sales"].id, status="contacted")
    response = client.post(URL, json={"filter": {"status": "new"}}, headers=tokens["sales"])
    job = client.get(f"/api/v1/jobs/{response.get_json()['job_id']}", headers=tokens["sales"]).get_json()
    assert (job["total"], job["converted"]) == (7, 7)
    assert not db.session.get(Lead, other.id).converted


# --- the list's scope filters: source, team_id, created_from, created_before -----------------------

JAN_10 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def scoped(make_lead, users):
    """Leads of the sales user; each scope filter leaves out some of them (name -> lead)."""
    sales, team = users["sales"], users["sales"].team_id

    def lead(name, source="Web", team_id=team, created_at=JAN_10):
        return make_lead(first_name=name, email=f"{name}@scope.example", company=f"{name} Ltd", owner_id=sales.id,
                         lead_source=source, team_id=team_id, created_at=created_at)

    return {"a": lead("a"), "fair": lead("fair", source="Fair"), "teamless": lead("teamless", team_id=None),
            "december": lead("december", created_at=datetime(2025, 12, 1, tzinfo=UTC)),
            "february": lead("february", created_at=datetime(2026, 2, 1, tzinfo=UTC))}


def documented_request(client):
    """A validator of the documented bulk request (formats checked, as schemathesis does)."""
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["BulkConversionRequest"]
    return jsonschema_rs.validator_for(schema, validate_formats=True)


@pytest.mark.parametrize("filter_,expected", [
    ({"source": "Web"}, {"a", "teamless", "december", "february"}),
    ({"source": "web "}, set()),  # the lead source exactly, as the list's filter
    ("team", {"a", "fair", "december", "february"}),
    ({"team_id": None}, {"a", "fair", "teamless", "december", "february"}),  # null: any team
    # 13:00 at +01:00 is 12:00 UTC, the instant a, fair and teamless were created (on SQLite too).
    ({"created_from": "2026-01-10T13:00:00+01:00"}, {"a", "fair", "teamless", "february"}),
    ({"created_before": "2026-01-10T13:00:00+01:00"}, {"december"}),
    ({"created_from": "2026-01-01T00:00:00Z", "created_before": "2026-01-31T23:59:60z", "source": "Web"},
     {"a", "teamless"}),
], ids=["source", "source-exact", "team_id", "team_id-null", "created_from", "created_before", "together"])
def test_the_scope_filters_are_documented_accepted_and_filter(filter_, expected, client, tokens, users, scoped,
                                                               immediate):
    if filter_ == "team":
        filter_ = {"team_id": users["sales"].team_id}
    body = {"filter": {**filter_, "status": "all"}}
    assert documented_request(client).is_valid(body)
    response = client.post(URL, json=body, headers=tokens["sales"])
    assert response.status_code == 202, response.get_json()
    items = client.get(f"/api/v1/jobs/{response.get_json()['job_id']}/results",
                       headers=tokens["sales"]).get_json()["items"]
    names = {name for name, lead in scoped.items() for item in items if item["lead_id"] == lead.id}
    assert names == expected and {i["outcome"] for i in items} <= {"converted"}


def test_the_scope_filters_are_stored_in_utc(client, tokens, scoped, db):
    response = client.post(URL, json={"filter": {"created_from": "2026-01-10T13:00:00+01:00"}},
                           headers=tokens["sales"])
    stored = db.session.get(Job, response.get_json()["job_id"]).params["selection"]["filter"]
    assert stored == {"created_from": "2026-01-10T12:00:00+00:00"}


BAD_FILTERS = [
    ({"source": 5}, True),
    ({"source": "x" * 101}, True),
    ({"source": "a\x00b"}, True),
    ({"source": "\ud800"}, False),  # a lone surrogate: no JSON Schema says it, the service refuses it
    ({"team_id": "1"}, True),
    ({"team_id": 0}, True),
    ({"team_id": 2**31}, True),
    ({"team_id": True}, True),
    ({"team_id": 1.5}, True),
    ({"created_from": "2026-01-10"}, True),  # a date alone
    ({"created_from": "2026-01-10T12:00:00"}, True),  # no offset
    ({"created_from": "2026-01-10 12:00:00Z"}, True),
    ({"created_from": "2026-02-30T12:00:00Z"}, True),
    ({"created_before": "soon"}, True),
    ({"created_before": 20260110}, True),
    ({"created_before": None}, True),
    ({"created_before": "2026-01-10T12:00:00+24:00"}, True),
    ({"created_before": "9999-12-31T23:59:59-01:00"}, False),  # year 10000 in UTC: refused, never a 500
    ({"team": 1}, True),  # the key is team_id
]


@pytest.mark.parametrize("filter_,documented", BAD_FILTERS, ids=[next(iter(f)) + f"-{i}" for i, (f, _) in
                                                                  enumerate(BAD_FILTERS)])
def test_bad_scope_filters_are_422_as_documented_and_write_nothing(filter_, documented, client, tokens, scoped, db):
    body = {"filter": filter_}
    if documented:
        assert not documented_request(client).is_valid(body)
    before = db_rows(db)
    for extra in ({}, {"dry_run": True}):
        response = client.post(URL, data=json.dumps({**body, **extra}), content_type="application/json",
                               headers=tokens["sales"])
        assert response.status_code == 422, response.get_json()
        data = response.get_json()
        assert data["error"] == "invalid" and list(data["errors"]) == [f"filter.{next(iter(filter_))}"], data
    assert_unchanged(db, before)


def test_openapi_documents_the_scope_filters(client):
    props = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["BulkConversionRequest"][
        "properties"]["filter"]["properties"]
    assert props["source"]["type"] == "string" and props["source"]["maxLength"] == 100
    assert props["team_id"]["type"] == ["integer", "null"] and props["team_id"]["minimum"] == 1
    for key in ("created_from", "created_before"):
        assert (props[key]["type"], props[key]["format"]) == ("string", "date-time")

"""POST /api/v1/lead-conversions/bulk and /api/v1/jobs/{id} (api.md "Bulk", C8.5): 202 and the
job's id, the job's shape, its results as JSON pages and CSV, cancel, a job visible to its
creator and administrators only, bad input refused with nothing written."""

from __future__ import annotations

import csv
import io

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

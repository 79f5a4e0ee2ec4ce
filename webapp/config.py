"""Configuration read from the environment; defaults run on one machine with no server."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

# The remember-me cookie ("Keep me signed in"): sent on top-level navigation only, and for
# two weeks rather than Flask-Login's 365 days. webapp/security.py applies these defaults to
# every app, also those created with an explicit test configuration.
REMEMBER_COOKIE = {
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_DURATION": timedelta(days=14),
}


def _database_url(instance_path: str) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return "sqlite:///" + str(Path(instance_path) / "crm.sqlite3")
    # Heroku-style URLs name the driver-less scheme; we always talk psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _secret_key(instance_path: str, production: bool) -> str:
    """SECRET_KEY from the environment; in development a generated one kept in the instance folder.

    Raises RuntimeError in production when SECRET_KEY is not set.
    """
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if production:
        raise RuntimeError("SECRET_KEY must be set when FLASK_ENV/CRM_ENV is production")
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def load(instance_path: str) -> dict:
    """The settings for create_app, from the environment."""
    production = os.environ.get("CRM_ENV", os.environ.get("FLASK_ENV", "development")) == "production"
    return {
        "SECRET_KEY": _secret_key(instance_path, production),
        "SQLALCHEMY_DATABASE_URI": _database_url(instance_path),
        "REDIS_URL": os.environ.get("REDIS_URL"),
        "UPLOAD_FOLDER": os.environ.get("UPLOAD_FOLDER", str(Path(instance_path) / "uploads")),
        # Attachments larger than this are refused with a message (413 is turned into one).
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_UPLOAD_MB", "20")) * 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        **REMEMBER_COOKIE,
        "REMEMBER_COOKIE_SECURE": production,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "PRODUCTION": production,
        # Reverse proxies in front of the app (nginx, a load balancer): trust that many
        # X-Forwarded-For/-Proto hops, so login throttling sees the client's address.
        "TRUSTED_PROXIES": int(os.environ.get("TRUSTED_PROXIES", "0")),
        # National phone numbers ("01 23 45 67 89") are read in this region (ISO 3166 code).
        "PHONE_REGION": os.environ.get("PHONE_REGION", "FR").upper(),
        # Dates and times are shown in this IANA zone for users who chose none on their profile.
        "DEFAULT_TIMEZONE": os.environ.get("DEFAULT_TIMEZONE", "Europe/Paris"),
        # Background jobs (webapp/jobs.py): rows per committed chunk (unset: each job's own),
        # seconds to pause between chunks, and how long a silent worker keeps its job.
        "JOB_CHUNK_SIZE": int(os.environ["JOB_CHUNK_SIZE"]) if os.environ.get("JOB_CHUNK_SIZE") else None,
        "JOB_CHUNK_PAUSE": float(os.environ.get("JOB_CHUNK_PAUSE", "0")),
        "JOB_STALE_SECONDS": float(os.environ.get("JOB_STALE_SECONDS", "30")),
    }

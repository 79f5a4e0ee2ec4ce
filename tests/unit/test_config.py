"""Configuration from the environment: SQLite by default, PostgreSQL by DATABASE_URL, secrets."""

from datetime import timedelta

import pytest

from webapp import config


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("CRM_ENV", raising=False)
    monkeypatch.delenv("FLASK_ENV", raising=False)
    settings = config.load(str(tmp_path))
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    assert settings["SESSION_COOKIE_HTTPONLY"] and settings["SESSION_COOKIE_SAMESITE"] == "Lax"


@pytest.mark.parametrize("url", ["postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"])
def test_database_url_switches_to_postgresql_with_psycopg(tmp_path, monkeypatch, url):
    monkeypatch.setenv("DATABASE_URL", url)
    assert config.load(str(tmp_path))["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def test_development_secret_is_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("CRM_ENV", raising=False)
    monkeypatch.delenv("FLASK_ENV", raising=False)
    first = config.load(str(tmp_path))["SECRET_KEY"]
    assert len(first) >= 32
    assert config.load(str(tmp_path))["SECRET_KEY"] == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_refuses_to_start_without_secret_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("CRM_ENV", "production")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        config.load(str(tmp_path))


def test_production_with_secret_key_sets_secure_cookies(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    monkeypatch.setenv("CRM_ENV", "production")
    settings = config.load(str(tmp_path))
    assert settings["SECRET_KEY"] == "s3cret" and settings["SESSION_COOKIE_SECURE"]


def test_remember_me_cookie_is_samesite_lax_for_14_days(tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_ENV", raising=False)
    monkeypatch.delenv("FLASK_ENV", raising=False)
    settings = config.load(str(tmp_path))
    assert settings["REMEMBER_COOKIE_SAMESITE"] == "Lax" and settings["REMEMBER_COOKIE_HTTPONLY"]
    assert settings["REMEMBER_COOKIE_DURATION"] == timedelta(days=14)
    assert not settings["REMEMBER_COOKIE_SECURE"]
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    monkeypatch.setenv("CRM_ENV", "production")
    assert config.load(str(tmp_path))["REMEMBER_COOKIE_SECURE"]


def test_apps_with_an_explicit_config_get_the_cookie_defaults_too(tmp_path):
    from webapp import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    assert app.config["REMEMBER_COOKIE_DURATION"] == timedelta(days=14)
    assert app.config["RATELIMIT_ENABLED"] and app.config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_redis_url_stores_the_login_throttle_counts_in_redis(tmp_path):
    from webapp import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                      "RATELIMIT_ENABLED": False, "REDIS_URL": "redis://127.0.0.1:6379/13"})
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/13"


def test_job_settings_come_from_the_environment(tmp_path, monkeypatch):
    for name in ("JOB_CHUNK_SIZE", "JOB_CHUNK_PAUSE", "JOB_STALE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    defaults = config.load(str(tmp_path))
    assert (defaults["JOB_CHUNK_SIZE"], defaults["JOB_CHUNK_PAUSE"], defaults["JOB_STALE_SECONDS"]) == (None, 0, 30)
    monkeypatch.setenv("JOB_CHUNK_SIZE", "250")
    monkeypatch.setenv("JOB_CHUNK_PAUSE", "0.5")
    monkeypatch.setenv("JOB_STALE_SECONDS", "90")
    settings = config.load(str(tmp_path))
    assert (settings["JOB_CHUNK_SIZE"], settings["JOB_CHUNK_PAUSE"], settings["JOB_STALE_SECONDS"]) == (250, 0.5, 90)

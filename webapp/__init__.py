"""The CRM application factory: create_app(config=None)."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, send_from_directory
from sqlalchemy import event
from sqlalchemy.engine import Engine

from . import config as config_module
from .extensions import csrf, db, login_manager, migrate

NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
# The files of npm packages the pages load; nothing else under node_modules is served.
VENDOR_FILES = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "Sortable.min.js": "sortablejs/Sortable.min.js",
    "chart.umd.js": "chart.js/dist/chart.umd.js",
}


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    if config and "SQLALCHEMY_DATABASE_URI" in config and "SECRET_KEY" in config:
        app.config.update(config)
    else:
        app.config.update(config_module.load(app.instance_path))
        app.config.update(config or {})
    from .normalize import set_default_region

    set_default_region(app.config.get("PHONE_REGION", "FR"))
    register_extensions(app)
    register_blueprints(app)
    register_cli(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    return app


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: enforce foreign keys; WAL so readers do not block the writer."""
    if dbapi_connection.__class__.__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    from flask_babel import gettext

    from .errors import N_

    login_manager.login_message = N_("Please log in to see this page.")
    login_manager.localize_callback = gettext  # the notice in the reader's language
    login_manager.login_message_category = "info"
    csrf.init_app(app)
    from . import i18n, security

    i18n.init_app(app)  # language and time zone per request, locale formats

    security.init_app(app)  # security headers, login throttling, remember-me cookie
    from .services.users import load_session_user

    @login_manager.user_loader
    def load_user(user_id: str):
        return load_session_user(db.session, user_id)  # "id:version"


def register_blueprints(app: Flask) -> None:
    from .routes import BLUEPRINTS

    for bp in BLUEPRINTS:
        app.register_blueprint(bp)

    @app.get("/vendor/<name>")
    def vendor(name: str):
        """Third-party browser code installed by npm (see package.json)."""
        path = VENDOR_FILES.get(name)
        if path is None:
            from flask import abort

            abort(404)
        folder, _, file = str(NODE_MODULES / path).rpartition("/")
        return send_from_directory(folder, file, max_age=86400)

    @app.get("/favicon.ico")
    def favicon():
        """Browsers ask for /favicon.ico whatever the page links: answer with the SVG icon."""
        return send_from_directory(app.static_folder, "favicon.svg", mimetype="image/svg+xml",
                                   max_age=86400)


def register_cli(app: Flask) -> None:
    from .cli import register

    register(app)


def register_errorhandlers(app: Flask) -> None:
    from . import errors
    from .routes.errors import register

    register(app)
    errors.register(app)


def register_template_helpers(app: Flask) -> None:
    from . import permissions
    from .htmx import is_htmx

    app.jinja_env.globals.update(perm=permissions, is_htmx=is_htmx)

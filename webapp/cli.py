"""flask commands: create-user, create-token, bootstrap, seed-demo."""

from __future__ import annotations

import secrets

import click
from flask import Flask, current_app
from sqlalchemy import func, select

from .extensions import db
from .models import ApiToken, Lead, User
from .permissions import ROLE_KEYS
from .reference import ensure_reference_data
from .services.users import create_user


def register(app: Flask) -> None:
    @app.cli.command("create-user")
    @click.argument("email")
    @click.option("--password", required=True)
    @click.option("--role", type=click.Choice(ROLE_KEYS), default="sales", show_default=True)
    @click.option("--name", default="")
    @click.option("--manager", "manager_email", default=None, help="E-mail of the user's manager")
    @click.option("--team", "team_name", default=None)
    def create_user_command(email, password, role, name, manager_email, team_name):
        """Create a user."""
        ensure_reference_data(db.session)
        manager = None
        if manager_email:
            manager = db.session.scalar(select(User).where(func.lower(User.email) == manager_email.lower()))
            if manager is None:
                raise click.ClickException(f"no user with e-mail {manager_email}")
        try:
            user = create_user(email, password, role, name, manager, team_name)
        except ValueError as e:
            raise click.ClickException(str(e)) from e
        db.session.commit()
        click.echo(f"created {user.email} ({role})")

    @app.cli.command("create-token")
    @click.argument("email")
    @click.option("--name", default="cli")
    def create_token_command(email, name):
        """Create an API token for a user; prints the token as the last line."""
        user = db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))
        if user is None:
            raise click.ClickException(f"no user with e-mail {email}")
        row, token = ApiToken.issue(user, name)
        db.session.add(row)
        db.session.commit()
        click.echo(f"token for {user.email} (shown once):")
        click.echo(token)

    @app.cli.command("bootstrap")
    @click.option("--demo-leads", default=300, show_default=True)
    def bootstrap_command(demo_leads):
        """First run: reference data, an admin (login printed once), demo data when empty."""
        ensure_reference_data(db.session)
        db.session.commit()
        if db.session.scalar(select(User.id).limit(1)) is None:
            password = secrets.token_urlsafe(12)
            create_user("admin@example.com", password, "admin", "Admin")
            db.session.commit()
            click.echo("=" * 60)
            click.echo("Administrator created — this login is shown only once:")
            click.echo("  e-mail:   admin@example.com")
            click.echo(f"  password: {password}")
            click.echo("=" * 60)
        if db.session.scalar(select(Lead.id).limit(1)) is None and demo_leads:
            from .seed import seed_demo

            counts = seed_demo(db.session, leads=demo_leads,
                               upload_folder=current_app.config["UPLOAD_FOLDER"])
            db.session.commit()
            click.echo("demo data: " + ", ".join(f"{v} {k}" for k, v in counts.items()))

    @app.cli.command("seed-demo")
    @click.option("--leads", default=300, show_default=True)
    @click.option("--seed", "random_seed", default=None, type=int)
    def seed_demo_command(leads, random_seed):
        """Demo data with Faker: leads that duplicate contacts and accounts as spec C4 describes."""
        from .seed import seed_demo

        ensure_reference_data(db.session)
        counts = seed_demo(db.session, leads=leads, random_seed=random_seed,
                           upload_folder=current_app.config["UPLOAD_FOLDER"])
        db.session.commit()
        click.echo("seeded: " + ", ".join(f"{v} {k}" for k, v in counts.items()))

    @app.cli.command("worker")
    @click.option("-w", "--workers", default=1, show_default=True, type=click.IntRange(1, 64),
                  help="Worker threads")
    def worker_command(workers):
        """Run the background queue's consumer (Huey: SQLite file, or Redis with REDIS_URL)."""
        from .jobs import run_worker

        run_worker(current_app._get_current_object(), workers)

    @app.cli.command("rebuild-keys")
    @click.option("--wait", is_flag=True, help="Run the job here and now instead of queueing it")
    @click.option("--chunk", default=None, type=click.IntRange(1, 100_000),
                  help="Rows per committed chunk (default 1000)")
    def rebuild_keys_command(wait, chunk):
        """Rebuild every record's normalised duplicate keys; prints the job id."""
        from .jobs import start_rebuild_keys
        from .services import keys

        app_ = current_app._get_current_object()
        if wait:
            job = keys.create_job(db.session, chunk_size=chunk)
            click.echo(f"job {job.id}")
            keys.run_job(db.session, job.id)
        else:
            job = start_rebuild_keys(app_, chunk_size=chunk)
            click.echo(f"job {job.id}")
        db.session.refresh(job)
        if job.status == "failed":
            raise click.ClickException(job.error or "the job failed")
        click.echo(f"{job.status}: {job.processed} of {job.total} rows"
                   + (f", {job.params.get('changed', 0)} corrected" if job.status == "done" else ""))

"""Command-line tasks: `flask users create-admin`, `flask demo seed`, `flask ledger verify`, `flask outbox dispatch`."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from marketplace import db
from marketplace.auth.models import Role
from marketplace.errors import DomainError

users = AppGroup("users", help="User accounts.")
demo = AppGroup("demo", help="The demo world.")
ledger = AppGroup("ledger", help="The double-entry ledger.")
outbox = AppGroup("outbox", help="Hand-offs to banks' systems.")


@users.command("create-admin")
@click.option("--username", prompt=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_admin(username: str, password: str) -> None:
    """Create an admin (provincial finance office) account."""
    from marketplace.auth.services import create_user

    try:
        create_user(username, password, Role.ADMIN, None)
    except DomainError as error:
        db.session.rollback()
        messages = "; ".join(f"{field}: {' '.join(m)}" for field, m in error.errors.items()) or error.detail
        raise click.ClickException(messages) from error
    db.session.commit()
    click.echo(f"Created admin {username}.")


@demo.command("seed")
def seed_demo() -> None:
    """Create the demo world (idempotent: seeding twice duplicates nothing)."""
    from marketplace.demo import DEMO_PASSWORD, seed

    if current_app.config["PROFILE"] == "production":
        raise click.ClickException("the demo world (with its shared password) is never seeded in production")
    logins = seed()
    db.session.commit()
    click.echo(f"Demo logins (password: {DEMO_PASSWORD}):")
    for username, role in logins:
        click.echo(f"  {username:<12} {role}")


@ledger.command("verify")
def verify_ledger() -> None:
    """Recompute every ledger invariant from the postings; exit 1 on any violation."""
    from sqlalchemy import func, select

    from marketplace.ledger.models import JournalEntry, Posting
    from marketplace.ledger.reports import verify

    problems = verify()
    entries = db.session.scalar(select(func.count(JournalEntry.id)))
    postings = db.session.scalar(select(func.count(Posting.id)))
    if problems:
        for problem in problems:
            click.echo(f"VIOLATION: {problem}", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"Ledger sound: {entries} entries, {postings} postings; every entry balances, the trial balance "
               "balances, allocations add up, no pool below zero.")


@outbox.command("dispatch")
@click.option("--limit", default=50, show_default=True, help="Messages to send at most.")
def dispatch_outbox(limit: int) -> None:
    """Send the messages that are due once (the scheduler does this every few seconds)."""
    from marketplace.bank_systems.outbox import dispatch

    report = dispatch(limit)
    click.echo(f"Sent {report.sent}: {len(report.delivered)} delivered, {len(report.retrying)} to retry, "
               f"{len(report.dead)} dead.")


def register(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(demo)
    app.cli.add_command(ledger)
    app.cli.add_command(outbox)

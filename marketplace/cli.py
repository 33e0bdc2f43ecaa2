"""Command-line tasks: `flask users create-admin`, `flask demo seed`, `flask demo generate`, `flask demo serve`,
`flask ledger verify` (also `flask verify`), `flask outbox dispatch`, `flask scheduler run`,
`flask scheduler run-job NAME`."""

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
scheduler = AppGroup("scheduler", help="The marketplace's clock.")


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


@demo.command("generate")
@click.option("--enterprises", default=10_000, show_default=True, type=click.IntRange(0),
              help="Enterprises (a province has about 10,000 SRDI enterprises).")
@click.option("--products", default=10_000, show_default=True, type=click.IntRange(0), help="Product versions.")
@click.option("--agreements", default=100, show_default=True, type=click.IntRange(0), help="总对总 agreements.")
@click.option("--postings", default=100_000, show_default=True, type=click.IntRange(0),
              help="Ledger postings to reach (the history's own, then agencies' fee entries).")
@click.option("--requests", default=None, type=click.IntRange(0),
              help="Financing requests in the three years of history  [default: one per enterprise]")
@click.option("--banks", default=60, show_default=True, type=click.IntRange(1))
@click.option("--agencies", default=40, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=7, show_default=True, help="The same seed and sizes give the same data.")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The generated world's today  [default: today, Asia/Shanghai]")
def generate_demo(enterprises: int, products: int, agreements: int, postings: int, requests: int | None,
                  banks: int, agencies: int, seed: int, as_of) -> None:
    """Generate a plausible province into an empty, migrated database (bulk inserts; deterministic)."""
    from marketplace.demo import DEMO_PASSWORD
    from marketplace.demo.generate import GenerationRefused, generate

    if current_app.config["PROFILE"] == "production":
        raise click.ClickException("generated data (with its shared password) is never loaded in production")
    click.echo(f"Generating: {enterprises:,} enterprises, {products:,} products, {agreements:,} agreements, "
               f"{postings:,} postings (seed {seed})")
    try:
        counts = generate(seed, enterprises, products, agreements, postings, banks=banks, agencies=agencies,
                          requests=requests, as_of=as_of.date() if as_of else None, report=click.echo)
    except GenerationRefused as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from error
    click.echo(f"Done in {counts.pop('seconds')} s:")
    for name, count in counts.items():
        click.echo(f"  {name.replace('_', ' '):<20} {count:>12,}")
    click.echo(f"Every user's password is {DEMO_PASSWORD}: admin, bank.<code>, agency.<code>, ent<number>.")


@ledger.command("verify")
def verify_ledger() -> None:
    """Recompute every invariant, the ledger's and the domain's (quota, guarantees and their loans, pools,
    compensation, applications), from the rows; print each violation and exit 1 on any. Also `flask verify`."""
    from sqlalchemy import func, select

    from marketplace.ledger.models import JournalEntry, Posting
    from marketplace.verify import described, problems

    found = problems()
    if found:
        for problem in found:
            click.echo(f"VIOLATION: {problem}", err=True)
        click.echo(f"{len(found)} violation{'s' if len(found) != 1 else ''}.", err=True)
        raise click.exceptions.Exit(1)
    entries = db.session.scalar(select(func.count(JournalEntry.id)))
    postings = db.session.scalar(select(func.count(Posting.id)))
    click.echo(f"Ledger sound: {entries} entries, {postings} postings; every entry balances, the trial balance "
               "balances, allocations add up, no pool below zero.")
    domain = [(name, what) for name, what in described() if not name.startswith("ledger.")]
    click.echo(f"Domain sound: {len(domain)} checks hold.")
    for name, what in domain:
        click.echo(f"  {name}: {what}")


@outbox.command("dispatch")
@click.option("--limit", default=50, show_default=True, help="Messages to send at most.")
def dispatch_outbox(limit: int) -> None:
    """Send the messages that are due once (the scheduler does this every few seconds)."""
    from marketplace.bank_systems.outbox import dispatch

    report = dispatch(limit)
    click.echo(f"Sent {report.sent}: {len(report.delivered)} delivered, {len(report.retrying)} to retry, "
               f"{len(report.dead)} dead.")


@demo.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def serve_demo(host: str, port: int) -> None:
    """Serve the demo with the scheduler inside the same process (production runs `flask scheduler run` apart)."""
    from sqlalchemy import select
    from werkzeug.serving import run_simple

    from marketplace.orgs.models import Bank
    from marketplace.scheduler.runner import build

    app = current_app._get_current_object()
    sandbox = db.session.scalar(select(Bank).where(Bank.code == "SANDBOX"))
    if sandbox is not None:  # the sandbox bank's system lives on this server
        sandbox.api_base_url = f"http://{host}:{port}/sandbox-bank"
    # Always end the transaction: left open (no sandbox bank, as in a generated province) its read lock would stop
    # every write to a SQLite file for as long as the server runs.
    db.session.commit()
    clock = build(app)
    clock.start()
    click.echo(f"Scheduler started: {', '.join(job.id for job in clock.get_jobs())}")
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        clock.shutdown(wait=False)


@scheduler.command("run")
def run_scheduler() -> None:
    """Run the scheduler in the foreground (one process; a second one is a safe standby)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from marketplace.dates import SHANGHAI
    from marketplace.scheduler.runner import build

    clock = build(current_app._get_current_object(), BlockingScheduler(timezone=SHANGHAI))
    click.echo(f"Scheduler running: {', '.join(job.id for job in clock.get_jobs())} (Ctrl-C to stop)")
    try:
        clock.start()
    except (KeyboardInterrupt, SystemExit):
        click.echo("Scheduler stopped.")


@scheduler.command("run-job")
@click.argument("name")
def run_one_job(name: str) -> None:
    """Run one job now, once (as its trigger would), and say what it did."""
    from marketplace.scheduler.runner import JOBS, run_job
    from marketplace.scheduler.wording import result_words

    if name not in JOBS:
        raise click.ClickException(f"no job {name!r}; jobs: {', '.join(JOBS)}")
    run = run_job(current_app._get_current_object(), JOBS[name])
    if run is None:
        click.echo(f"{name}: skipped (running elsewhere, already run for this slot, or nothing to do).")
        return
    click.echo(f"{name}: {run.outcome.value} in {run.duration_ms} ms. {result_words(run)} {run.detail}".rstrip())
    if run.outcome.value != "ok":
        raise click.exceptions.Exit(1)


def register(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(demo)
    app.cli.add_command(ledger)
    app.cli.add_command(verify_ledger, "verify")  # `flask verify`, the same command as `flask ledger verify`
    app.cli.add_command(outbox)
    app.cli.add_command(scheduler)

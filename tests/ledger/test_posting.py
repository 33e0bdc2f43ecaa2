"""The one posting path: entries balance in whole fen before anything is written, keys make replays post nothing,
corrections are reversing entries, and on PostgreSQL the database itself refuses unbalanced entries and any
UPDATE or DELETE of the journal."""

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from guarantees.services import pool_names
from marketplace import db
from marketplace.errors import Conflict
from marketplace.ledger.allocation import Shares, allocate_loss, split
from marketplace.ledger.models import Account, EntryKind, JournalEntry, Party, Posting, Purpose
from marketplace.ledger.posting import Entry, UnbalancedEntry, account, post, post_many, reverse
from marketplace.ledger.reports import trial_balance, verify
from tests.conftest import BACKEND

DAY = dt.date(2026, 3, 2)


@pytest.fixture
def accounts(app):
    with app.app_context():
        yield (account(Party.FISCAL_FUND, 0, Purpose.POOL_FUNDING), account(Party.RISK_POOL, 1, Purpose.CASH),
               account(Party.AGENCY, 7, Purpose.FEE_INCOME))


def entry(key, lines, **changes):
    return Entry(key=key, kind=EntryKind.POOL_DEPOSIT, ref="risk_pool:1", occurred_on=DAY, lines=lines, **changes)


def balances():
    return {a.id: a.balance for a in db.session.scalars(sa.select(Account))}


def test_an_entry_posts_its_lines_and_keeps_every_balance(accounts):
    fund, pool, _ = accounts
    entry_id, fresh = post(entry("d-1", [(fund, Decimal("-100000.00")), (pool, Decimal("100000.00"))]))
    posted = db.session.get(JournalEntry, entry_id)
    assert fresh and [(p.account_id, p.amount) for p in posted.postings] == [(fund, Decimal("-100000.00")),
                                                                             (pool, Decimal("100000.00"))]
    assert balances()[pool] == Decimal("100000.00") and balances()[fund] == Decimal("-100000.00")
    assert verify() == []


@pytest.mark.parametrize("lines, problem", [
    ([(1, Decimal("10.00")), (2, Decimal("-9.99"))], "sum to"),
    ([(1, Decimal("10.00"))], "two or more"),
    ([(1, Decimal("10.00")), (1, Decimal("-10.00"))], "two or more"),
    ([(1, Decimal("0.005")), (2, Decimal("-0.005"))], "whole number of fen"),
])
def test_an_unbalanced_or_fractional_entry_is_refused_before_anything_is_written(app, lines, problem):
    with pytest.raises(UnbalancedEntry, match=problem):
        entry("bad", lines)


def test_replaying_a_key_posts_nothing_and_another_body_under_it_is_a_conflict(accounts):
    fund, pool, _ = accounts
    first, _ = post(entry("d-1", [(fund, Decimal("-5.00")), (pool, Decimal("5.00"))]))
    again, fresh = post(entry("d-1", [(pool, Decimal("5.00")), (fund, Decimal("-5.00"))]))
    assert (again, fresh) == (first, False)
    assert db.session.scalar(sa.select(sa.func.count(Posting.id))) == 2
    assert balances()[pool] == Decimal("5.00")
    with pytest.raises(Conflict):
        post(entry("d-1", [(fund, Decimal("-6.00")), (pool, Decimal("6.00"))]))


def test_a_batch_posts_many_entries_and_skips_the_ones_already_posted(accounts):
    fund, pool, agency = accounts
    post(entry("b-0", [(fund, Decimal("-1.00")), (pool, Decimal("1.00"))]))
    results = post_many([entry(f"b-{n}", [(fund, Decimal(f"-{n}.01")), (pool, Decimal(f"{n}.00")),
                                          (agency, Decimal("0.01"))] if n else
                               [(fund, Decimal("-1.00")), (pool, Decimal("1.00"))]) for n in range(4)])
    assert [fresh for _, fresh in results] == [False, True, True, True]
    assert balances()[pool] == Decimal("7.00") and balances()[agency] == Decimal("0.03")
    assert verify() == []


def test_a_correction_is_a_reversing_entry_and_the_original_stays(accounts, app):
    fund, pool, _ = accounts
    original = db.session.get(JournalEntry, post(entry("d-1", [(fund, Decimal("-100.00")),
                                                               (pool, Decimal("100.00"))]))[0])
    reversal, _ = reverse(original.id, "fix-1", DAY, "Keyed twice")
    assert reversal.reverses_id == original.id and reversal.kind is EntryKind.REVERSAL
    assert [p.amount for p in reversal.postings] == [Decimal("100.00"), Decimal("-100.00")]
    assert balances()[pool] == Decimal("0.00")
    assert db.session.get(JournalEntry, original.id).postings[1].amount == Decimal("100.00")
    assert reverse(original.id, "fix-1", DAY, "Keyed twice")[1] is False  # replay
    with pytest.raises(Conflict):
        reverse(original.id, "fix-2", DAY, "Again")


def test_a_loss_of_333_333_33_allocates_to_parts_that_add_up_to_the_fen():
    loss = Decimal("333333.33")
    shares = Shares(bank=Decimal("0.20"), agency=Decimal("0.40"), reguarantee=Decimal("0.20"),
                    risk_pool=Decimal("0.20"))
    split_ = allocate_loss(loss, shares, cap_room=Decimal("10000000.00"), pool_cash=Decimal("30000.00"))
    assert split_.bank_borne + split_.agency_compensation == loss
    assert split_.agency_net + split_.reguarantee + split_.risk_pool_paid + split_.risk_pool_claim == \
        split_.agency_compensation
    assert (split_.bank_borne, split_.agency_net, split_.reguarantee, split_.risk_pool) == (
        Decimal("66666.67"), Decimal("133333.33"), Decimal("66666.67"), Decimal("66666.66"))
    assert (split_.risk_pool_paid, split_.risk_pool_claim) == (Decimal("30000.00"), Decimal("36666.66"))
    assert sum(split(loss, [Decimal(1), Decimal(1), Decimal(1)])) == loss


def test_the_trial_balance_reads_kept_balances_and_balances(accounts, world):
    fund, pool, agency = accounts
    post(entry("d-1", [(fund, Decimal("-100.00")), (pool, Decimal("60.00")), (agency, Decimal("40.00"))]))
    trial = trial_balance(world.admin_user, pool_names())
    assert (trial["total_debits"], trial["total_credits"], trial["balanced"]) == (
        Decimal("100.00"), Decimal("100.00"), True)


postgresql_only = pytest.mark.skipif(BACKEND != "postgresql", reason="the ledger's triggers are PostgreSQL's; "
                                     "they run in the PostgreSQL pass")


@postgresql_only
@pytest.mark.parametrize("statement", ["UPDATE postings SET amount = amount + 1", "DELETE FROM postings",
                                       "UPDATE journal_entries SET memo = 'edited'", "DELETE FROM journal_entries",
                                       "TRUNCATE postings CASCADE"])
def test_postgresql_refuses_to_change_or_delete_the_journal(accounts, statement):
    fund, pool, _ = accounts
    post(entry("d-1", [(fund, Decimal("-100.00")), (pool, Decimal("100.00"))]))
    db.session.execute(sa.text("SET CONSTRAINTS ALL IMMEDIATE"))  # the entry's balance check passes, as at COMMIT
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(sa.text(statement))
    assert db.session.scalar(sa.select(sa.func.sum(Posting.amount))) == 0


@postgresql_only
def test_postgresql_refuses_an_unbalanced_entry_written_around_the_posting_function(accounts):
    fund, pool, _ = accounts
    with pytest.raises(sa.exc.DBAPIError, match="does not balance"), db.session.begin_nested():
        entry_id = db.session.execute(sa.text(
            "INSERT INTO journal_entries (idempotency_key, kind, ref, occurred_on, memo, created_at) "
            "VALUES ('sneaky', 'pool_deposit', 'x', '2026-03-02', '', now()) RETURNING id")).scalar_one()
        db.session.execute(sa.text("INSERT INTO postings (entry_id, account_id, amount) VALUES (:e, :a, 100)"),
                           {"e": entry_id, "a": pool})
        db.session.execute(sa.text("SET CONSTRAINTS ALL IMMEDIATE"))  # what COMMIT does with deferred checks


@postgresql_only
def test_pool_cash_cannot_go_below_zero_even_around_the_services(accounts):
    fund, pool, _ = accounts
    with pytest.raises(sa.exc.IntegrityError, match="cash_not_negative"), db.session.begin_nested():
        post(entry("overdraw", [(pool, Decimal("-1.00")), (fund, Decimal("1.00"))]))

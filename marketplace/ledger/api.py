"""The ledger, read: trial balance, journal, account entries, exports, agreement statements; reversals (admin)."""

from flask import request
from flask.views import MethodView
from flask_babel import gettext as _

from guarantees import statements
from guarantees.services import get_agreement, pool_names
from marketplace import db, spreadsheets
from marketplace.api import Blueprint, page_of, paginate
from marketplace.auth.access import api_roles, api_user
from marketplace.auth.models import Role
from marketplace.errors import NotFound
from marketplace.idempotency import HEADER, idempotent
from marketplace.ledger import reports, schemas
from marketplace.ledger.posting import reverse

blp = Blueprint("ledger_api", __name__, url_prefix="/api/v1", description="The double-entry ledger")
PARTIES = (Role.ADMIN, Role.AGENCY, Role.BANK, Role.ENTERPRISE)


@blp.route("/ledger/trial-balance")
class TrialBalance(MethodView):
    @api_roles(*PARTIES)
    @blp.response(200, schemas.TrialBalanceOut)
    @db.on_reports_replica
    def get(self):
        """Every account's balance and the totals (a party sees its own accounts; `balanced` is the ledger's)."""
        result = reports.trial_balance(api_user(), pool_names())
        result["accounts"] = [{**a, "balance": f"{a['balance']:.2f}"} for a in result["accounts"]]
        return result


@blp.route("/ledger/accounts/<int:account_id>/entries")
class AccountEntries(MethodView):
    @api_roles(*PARTIES)
    @blp.response(200, schemas.AccountEntryOut(many=True))
    @paginate(blp)
    @db.on_reports_replica
    def get(self, pagination_parameters, account_id):
        """The postings of one of your accounts, oldest first."""
        if reports.visible_account(api_user(), account_id) is None:
            raise NotFound(_("No account %(id)d.", id=account_id))
        rows = page_of(reports.account_postings(account_id), pagination_parameters, scalars=False)
        return [{"entry_id": e.id, "kind": e.kind.value, "ref": e.ref, "occurred_on": e.occurred_on, "memo": e.memo,
                 "amount": f"{p.amount:.2f}"} for p, e in rows]


@blp.route("/ledger/journal")
class Journal(MethodView):
    @api_roles(*PARTIES)
    @blp.arguments(schemas.JournalQuery, location="query")
    @blp.response(200, schemas.EntryOut(many=True))
    @paginate(blp)
    @db.on_reports_replica
    def get(self, query, pagination_parameters):
        """Journal entries by reference (`?ref=loan:42`) and date range, with their postings."""
        return page_of(reports.journal(api_user(), query.get("ref"), query.get("date_from"), query.get("date_to")),
                       pagination_parameters)


@blp.route("/ledger/journal/export")
class JournalExport(MethodView):
    @api_roles(*PARTIES)
    @blp.arguments(schemas.ExportQuery, location="query")
    @blp.response(200, content_type="text/csv")
    @blp.alt_response(200, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                      description="With format=xlsx.", success=True)
    def get(self, query):
        """The journal for a date range (and a reference, when given), one row per posting, as CSV (UTF-8 with
        BOM) or XLSX."""
        return reports.journal_download(api_user(), pool_names(), query, query.get("format", "csv"))


@blp.route("/ledger/journal/<int:entry_id>/reverse")
class Reverse(MethodView):
    @api_roles(Role.ADMIN)
    @idempotent(blp)
    @blp.arguments(schemas.ReverseIn)
    @blp.response(201, schemas.EntryOut)
    def post(self, data, entry_id):
        """Correct an entry by posting its mirror image (the original is never changed)."""
        key = request.headers.get(HEADER) or f"reversal:{entry_id}"
        entry, _posted = reverse(entry_id, key, data["occurred_on"], data["memo"])
        return entry


@blp.route("/agreements/<int:agreement_id>/statement")
class Statement(MethodView):
    @api_roles(Role.ADMIN, Role.AGENCY, Role.BANK)
    @blp.response(200, schemas.StatementOut)
    @db.on_reports_replica
    def get(self, agreement_id):
        """What the agreement has guaranteed, earned in fees and subsidies, compensated and recovered."""
        return statements.agreement_statement(get_agreement(api_user(), agreement_id))


@blp.route("/agreements/<int:agreement_id>/statement/export")
class StatementExport(MethodView):
    @api_roles(Role.ADMIN, Role.AGENCY, Role.BANK)
    @blp.arguments(schemas.StatementExportQuery, location="query")
    @blp.response(200, content_type="text/csv")
    @blp.alt_response(200, content_type=spreadsheets.XLSX, description="With format=xlsx.", success=True)
    @db.on_reports_replica
    def get(self, query, agreement_id):
        """The statement as XLSX (figures, defaults and recoveries, each a sheet with totals) or as CSV (one row per
        figure: section, loan_id, occurred_on, figure, value)."""
        statement = statements.agreement_statement(get_agreement(api_user(), agreement_id))
        return statements.statement_download(statement, query["format"])

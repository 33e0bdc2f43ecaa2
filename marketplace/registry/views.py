"""The admin's page for uploading the province's certified tier lists and reading each import's result."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from marketplace import db
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role, User
from marketplace.errors import DomainError, flatten_messages
from marketplace.forms import failed
from marketplace.i18n import N_
from marketplace.listing import Choice, DateRange, Listing, Search, Sort
from marketplace.orgs.models import TierImport
from marketplace.registry import services
from marketplace.registry.schemas import TierImportUpload

bp = Blueprint("registry", __name__, template_folder="templates")



@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "import_status_labels": {"processing": _("Processing"), "completed": _("Completed"), "failed": _("Failed")},
        "max_rows": f"{services.MAX_ROWS:,}",
    }


@bp.route("/admin/tier-registry", methods=["GET", "POST"])
@page_roles(Role.ADMIN)
def tier_registry():
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            upload = TierImportUpload().load(request.files)["file"]
        except ma.ValidationError as error:
            errors = flatten_messages(error.messages)
        else:
            try:
                tier_import = services.import_tier_list(upload.filename, upload.read(), by_user_id=current_user.id)
            except DomainError as error:
                errors = failed(error)
            else:
                flash(_("Imported “%(name)s”: %(ok)d of %(total)d rows applied.", name=tier_import.filename,
                        ok=tier_import.rows_ok, total=tier_import.rows_total),
                      "error" if tier_import.rows_failed else "message")
                return redirect(url_for("registry.import_detail", import_id=tier_import.id))
    listing = Listing(
        sorts={"uploaded": Sort(N_("Uploaded"), (TierImport.id,), descending_first=True),
               "file": Sort(N_("File"), (TierImport.filename, TierImport.id)),
               "rejected": Sort(N_("Rejected"), (TierImport.rows_failed, TierImport.id), descending_first=True)},
        default_sort="uploaded", default_descending=True,
        filters=[Search(N_("File"), (TierImport.filename,)),
                 Choice("status", N_("Status"), TierImport.status, _labels()["import_status_labels"],
                        N_("All statuses")),
                 DateRange(N_("Uploaded from"), N_("Uploaded to"), TierImport.created_at, timestamp=True)],
    ).read(select(TierImport), endpoint="registry.tier_registry")
    return render_template("registry/tier_registry.html", listing=listing, imports=listing.items,
                           errors=errors), (422 if errors else 200)


@bp.get("/admin/tier-registry/imports/<int:import_id>")
@page_roles(Role.ADMIN)
def import_detail(import_id: int):
    tier_import = services.get_import(import_id)
    uploaded_by = db.session.get(User, tier_import.uploaded_by_id) if tier_import.uploaded_by_id else None
    return render_template("registry/import_detail.html", tier_import=tier_import, uploaded_by=uploaded_by)

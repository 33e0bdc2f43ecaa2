"""Self-registration page for enterprises."""

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from marketplace.auth.views import sign_in
from marketplace.errors import DomainError
from marketplace.forms import failed, load_form
from marketplace.orgs import codes, services
from marketplace.orgs.models import EnterpriseSize, Tier
from marketplace.orgs.schemas import RegistrationIn
from products.views import tier_labels

bp = Blueprint("signup", __name__)


@bp.app_context_processor
def _code_lists() -> dict[str, Any]:
    """The region and industry pickers' lists, and the names pages show for an enterprise's codes."""
    return {"region_groups": codes.cities(), "industry_groups": codes.sections(), "region_name": codes.region_name,
            "region_full_name": codes.region_full_name, "industry_name": codes.industry_name}


@bp.route("/enterprise/register", methods=["GET", "POST"])
def register():
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = load_form(RegistrationIn(), request.form)
        if data is not None:
            try:
                enterprise, user = services.register_enterprise(data)
            except DomainError as error:
                errors = failed(error)
            else:
                sign_in(user)
                if enterprise.tier is Tier.NONE:
                    flash(_("Welcome, %(name)s. Your enterprise is not on the province's certified lists (创新型, "
                            "专精特新, 小巨人) yet: the products for certified enterprises open to it once the "
                            "provincial department of economy and information technology certifies it.",
                            name=enterprise.display_name))
                else:
                    flash(_("Welcome, %(name)s. Your certified tier in force: %(tier)s.", name=enterprise.display_name,
                            tier=tier_labels()[enterprise.tier.value]))
                return redirect(url_for("financing.new_request"))
    values = request.form.to_dict() if request.method == "POST" else {"size": "small"}
    values.pop("password", None)
    return render_template("orgs/register.html", values=values, errors=errors, sizes=list(EnterpriseSize)), (
        422 if errors else 200)

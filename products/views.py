"""The bank officer's product pages and the catalogue every signed-in user can browse."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from guarantees.models import Agreement
from guarantees.services import active_agreements_of
from marketplace import db, spreadsheets
from marketplace.auth.access import page_roles
from marketplace.auth.models import Role
from marketplace.errors import DomainError, NotFound, flatten_messages
from marketplace.forms import failed, load_form
from marketplace.i18n import N_
from marketplace.listing import Choice, Listing, Search, Sort, named_like
from marketplace.lpr.services import interest_rate, rates_on
from marketplace.orgs import codes
from marketplace.orgs.models import Bank, Tier
from products import bounds, services, sheets
from products.models import GuaranteeNeed, Product, ProductStatus, ProductType
from products.schemas import ImportUpload, PricingBoundsIn, ProductIn

bp = Blueprint("products", __name__, template_folder="templates")

ACTIONS = {"publish": ProductStatus.PUBLISHED, "suspend": ProductStatus.SUSPENDED, "archive": ProductStatus.ARCHIVED}


def type_labels() -> dict[str, str]:
    return {"credit": _("Credit loan · 信用贷"), "renewal": _("Renewal without repayment · 无还本续贷"),
            "revolving": _("Revolving line · 随借随还"), "term": _("Medium/long-term · 中长期"),
            "ip_pledge": _("IP pledge · 知识产权质押"), "park": _("Park loan · 园区贷")}


def tier_labels() -> dict[str, str]:
    return {"none": _("Not certified"), "innovative": _("Innovative SME · 创新型"), "srdi": _("SRDI · 专精特新"),
            "little_giant": _("Little giant · 小巨人")}


@bp.app_context_processor
def _choices() -> dict[str, Any]:
    return {
        "product_types": list(ProductType), "tiers": list(Tier), "guarantee_needs": list(GuaranteeNeed),
        "actions_for": _actions_for,
        "type_labels": type_labels(), "tier_labels": tier_labels(),
        "guarantee_labels": {"none": _("Not needed"), "optional": _("Optional"), "required": _("Required")},
        "status_labels": {"draft": _("Draft"), "published": _("Published"), "suspended": _("Suspended"),
                          "archived": _("Archived")},
        "action_labels": {"publish": _("Publish"), "suspend": _("Suspend"), "archive": _("Archive")},
    }


def _actions_for(product: Product) -> list[str]:
    return [action for action, target in ACTIONS.items()
            if target in services.TRANSITIONS[product.status]]


@bp.get("/bank/products")
@page_roles(Role.BANK)
def bank_products():
    query = services.filtered_products(current_user, services.ProductFilter(bank_id=current_user.organization_id))
    listing = _own_listing().read(query)
    listing.items = services.with_indicative_rates(listing.items)
    return render_template("products/bank_list.html", listing=listing, products=listing.items)


def _own_listing() -> Listing:
    return _listing(Choice("status", N_("Status"), Product.status, _choices()["status_labels"], N_("All statuses")))


def _listing(*filters: Choice) -> Listing:
    """Products sorted by a column of the table, searched by name (and bank), filtered by type and `filters`."""
    return Listing(
        sorts={"listed": Sort(N_("First listed"), (Product.id,)),
               "bank": Sort(N_("Bank"), (Bank.name, Product.id), join=(Bank, Bank.id == Product.bank_id)),
               "name": Sort(N_("Name"), (Product.name, Product.id)),
               "amount": Sort(N_("Largest amount"), (Product.amount_max, Product.id), descending_first=True),
               "term": Sort(N_("Longest term"), (Product.term_max_months, Product.id), descending_first=True),
               "spread": Sort(N_("Rate spread over the LPR"), (Product.rate_spread_bp, Product.id))},
        default_sort="listed",
        filters=[Search(N_("Product or bank"), (Product.name, named_like(Product.bank_id, Bank, Bank.name))),
                 Choice("product_type", N_("Type"), Product.product_type, type_labels(), N_("All types")),
                 *filters])


@bp.get("/bank/products/export.<any(csv, xlsx):fmt>")
@page_roles(Role.BANK)
def export_own(fmt: str):
    """Every version of this bank's products, as the list shows them (searched, filtered and sorted), in one sheet."""
    query = services.filtered_products(current_user, services.ProductFilter(bank_id=current_user.organization_id))
    products = _own_listing().everything(query, services.MAX_EXPORT_ROWS)
    return spreadsheets.download(sheets.products_table(products), fmt, "my_products")


@bp.get("/bank/products/import-template.xlsx")
@page_roles(Role.BANK)
def import_template():
    return spreadsheets.download(sheets.import_template(), "xlsx", "products_template")


@bp.route("/bank/products/import", methods=["GET", "POST"])
@page_roles(Role.BANK)
def import_products():
    """List many products at once from a filled-in template; good rows become drafts (or published products)."""
    errors: dict[str, list[str]] = {}
    result = None
    if request.method == "POST":
        try:
            upload = ImportUpload().load(request.files)["file"]
        except ma.ValidationError as error:
            errors = flatten_messages(error.messages)
        else:
            try:
                result = sheets.import_products(current_user.organization_id, upload.filename, upload.read(),
                                                  publish=request.form.get("publish") == "true")
            except DomainError as error:
                errors = failed(error)
    return render_template("products/import.html", result=result, errors=errors,
                           max_rows=f"{sheets.MAX_IMPORT_ROWS:,}", columns=sheets.IMPORT_COLUMNS,
                           optional=sheets.OPTIONAL_COLUMNS), (422 if errors else 200)


def _form_values(product: Product | None) -> dict[str, Any]:
    if product is None:
        return {"eligible_tiers": [Tier.SRDI.value, Tier.LITTLE_GIANT.value], "guarantee": "none"}
    return ProductIn().dump(product)


def _posted_values() -> dict[str, Any]:
    values: dict[str, Any] = request.form.to_dict()
    values["eligible_tiers"] = request.form.getlist("eligible_tiers")
    values["eligible_regions"] = request.form.getlist("eligible_regions")
    return values


@bp.route("/bank/products/new", methods=["GET", "POST"])
@page_roles(Role.BANK)
def new_product():
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = load_form(ProductIn(), request.form)
        if data is not None:
            try:
                product = services.create_product(current_user.organization_id, data)
            except DomainError as error:  # outside the type's pricing bounds
                errors = failed(error)
            else:
                flash(_("Saved “%(name)s” as a draft. Publish it when it is ready.", name=product.display_name))
                return redirect(url_for("products.bank_products"))
    values = _posted_values() if request.method == "POST" else _form_values(None)
    return render_template("products/form.html", product=None, values=values, errors=errors), (
        422 if errors else 200)


@bp.route("/bank/products/<int:product_id>/edit", methods=["GET", "POST"])
@page_roles(Role.BANK)
def edit_product(product_id: int):
    product = services.get_own(current_user, product_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = load_form(ProductIn(), request.form)
        if data is not None:
            try:
                saved = services.update_product(product, data)
            except DomainError as error:
                errors = failed(error)
            else:
                if saved.id == product.id:
                    flash(_("Saved “%(name)s”.", name=saved.name))
                else:
                    flash(_("Saved as version %(version)d, a draft; version %(old)d stays as it is until you "
                            "publish the new one.", version=saved.version, old=product.version))
                return redirect(url_for("products.bank_products"))
    values = _posted_values() if request.method == "POST" else _form_values(product)
    return render_template("products/form.html", product=product, values=values, errors=errors), (
        422 if errors else 200)


@bp.post("/bank/products/<int:product_id>/<any(publish, suspend, archive):action>")
@page_roles(Role.BANK)
def change_status(product_id: int, action: str):
    product = services.get_own(current_user, product_id)
    try:
        services.change_status(product, ACTIONS[action])
    except DomainError as error:  # an illegal move, or outside the pricing bounds tightened since it was saved
        db.session.rollback()
        reasons = [message for messages in error.errors.values() for message in messages]
        flash(_("“%(name)s” is not published: %(reasons)s Edit it, then publish it.", name=product.display_name,
                reasons=" ".join(reasons)) if reasons else error.detail, "error")
    else:
        done = {
            ProductStatus.PUBLISHED: _("“%(name)s” version %(version)d is published: enterprises whose requests fit "
                                       "it are offered it.", name=product.display_name, version=product.version),
            ProductStatus.SUSPENDED: _("“%(name)s” version %(version)d is suspended: no new offers until you publish "
                                       "it again.", name=product.display_name, version=product.version),
            ProductStatus.ARCHIVED: _("“%(name)s” version %(version)d is archived: it is no longer offered.",
                                      name=product.display_name, version=product.version),
        }
        flash(done[product.status])
    return redirect(url_for("products.bank_products"))


@bp.post("/bank/products/<int:product_id>/delete")
@page_roles(Role.BANK)
def delete_draft(product_id: int):
    try:
        product = services.delete_draft(current_user, product_id)
    except DomainError as error:
        if error.status == 404:
            raise
        db.session.rollback()
        flash(error.detail, "error")
    else:
        flash(_("The draft “%(name)s” version %(version)d is deleted.", name=product.display_name,
                version=product.version))
    return redirect(url_for("products.bank_products"))


@bp.get("/products")
@page_roles()
def catalogue():
    query = services.filtered_products(current_user, services.ProductFilter(status=ProductStatus.PUBLISHED))
    listing = _listing().read(query)
    listing.items = services.with_indicative_rates(listing.items)
    return render_template("products/catalogue.html", listing=listing, products=listing.items)


#: What the 申请 button asks for until the enterprise says otherwise: a common SRDI working-capital loan (100 万元
#: over a year), moved into the product's ranges.
USUAL_AMOUNT = Decimal("1000000.00")
USUAL_TERM_MONTHS = 12
#: Terms up to this many months are priced on the 1-year LPR, longer ones on the 5-year LPR.
ONE_YEAR_LPR_UP_TO = 60


#: What each type of loan is usually for, as the 申请 button suggests it (the enterprise edits it).
USUAL_PURPOSES = {
    ProductType.CREDIT: N_("Working capital"), ProductType.RENEWAL: N_("Renewing a loan that falls due"),
    ProductType.REVOLVING: N_("Day-to-day working capital"),
    ProductType.TERM: N_("Equipment purchase or technical upgrading"),
    ProductType.IP_PLEDGE: N_("Research and development"), ProductType.PARK: N_("Premises and fit-out in the park"),
}


def request_prefill(product: Product) -> dict[str, str]:
    """The new-request form's query parameters for applying for `product`."""
    amount = min(max(USUAL_AMOUNT, product.amount_min), product.amount_max)
    term = min(max(USUAL_TERM_MONTHS, product.term_min_months), product.term_max_months)
    return {"amount": f"{amount:.2f}", "term_months": str(term), "product_types": product.product_type.value,
            "purpose": _("%(purpose)s (applying for “%(product)s” of %(bank)s)",
                         purpose=_(USUAL_PURPOSES[product.product_type]), product=product.display_name,
                         bank=product.bank.display_name)}


def _rate_lines(product: Product) -> list[tuple[str, Decimal, Decimal]]:
    """(which LPR, the LPR, LPR + the spread) for each LPR the product's terms are priced on; none without an LPR."""
    rates = rates_on()
    if rates is None:
        return []
    lines = []
    if product.term_min_months <= ONE_YEAR_LPR_UP_TO:
        lines.append((_("1-year LPR"), rates.lpr_1y,
                      interest_rate(rates, product.term_min_months, product.rate_spread_bp)))
    if product.term_max_months > ONE_YEAR_LPR_UP_TO:
        lines.append((_("5-year LPR"), rates.lpr_5y,
                      interest_rate(rates, max(product.term_min_months, ONE_YEAR_LPR_UP_TO + 1),
                                    product.rate_spread_bp)))
    return lines


def _guarantors(product: Product) -> list[Agreement]:
    """The agreements in force under which an agency guarantees this bank's products of this type, for a tier the
    product is open to; none when the product takes no guarantee."""
    if product.guarantee is GuaranteeNeed.NONE:
        return []
    tiers = {tier.value for tier in product.eligible_tiers}
    return [a for a in active_agreements_of({product.bank_id})
            if product.product_type.value in a.eligible_product_types and tiers & set(a.eligible_tiers)]


@bp.get("/products/<int:product_id>")
def product_detail(product_id: int):
    """One published product, for anyone (a visitor signs in to apply); any other version is missing."""
    product = services.get_published(product_id)
    apply_url = url_for("financing.new_request", **request_prefill(product))
    if not current_user.is_authenticated:
        apply_url = url_for("auth.login", next=apply_url)
    elif current_user.role is not Role.ENTERPRISE:
        apply_url = None
    return render_template("products/detail.html", p=product, rate_lines=_rate_lines(product),
                           guarantors=_guarantors(product), apply_url=apply_url,
                           regions=[codes.region_name(prefix) for prefix in product.eligible_regions])


@bp.get("/products/export.<any(csv, xlsx):fmt>")
@page_roles()
def export_catalogue(fmt: str):
    """The published catalogue as the list shows it (searched, filtered and sorted), all of it, in one sheet."""
    query = services.filtered_products(current_user, services.ProductFilter(status=ProductStatus.PUBLISHED))
    products = _listing().everything(query, services.MAX_EXPORT_ROWS)
    return spreadsheets.download(sheets.products_table(products), fmt, "products")


# The admin's pricing bounds -------------------------------------------------------------------------------------

@bp.get("/admin/pricing-bounds")
@page_roles(Role.ADMIN)
def pricing_bounds():
    return _bounds_page({}, None, {})


@bp.post("/admin/pricing-bounds/<product_type>")
@page_roles(Role.ADMIN)
def set_pricing_bounds(product_type: str):
    try:
        kind = ProductType(product_type)
    except ValueError:
        raise NotFound(_("No product type %(type)s.", type=product_type[:40])) from None
    data, errors = load_form(PricingBoundsIn(), request.form)
    if data is not None:
        bounds.set_bounds(kind, data)
        flash(_("The bounds of %(type)s are saved: products of this type are saved and published only within them.",
                type=type_labels()[kind.value]))
        return redirect(url_for("products.pricing_bounds"))
    return _bounds_page(errors, kind, request.form.to_dict()), 422


def _bounds_page(errors: dict[str, list[str]], failed_kind: ProductType | None, posted: dict[str, str]):
    every = bounds.all_bounds()
    values = {kind: (posted if kind is failed_kind else
                     {name: str(getattr(limits, name)) for name in bounds.NAMES}) for kind, limits in every.items()}
    return render_template("products/pricing_bounds.html", every=every, values=values, errors=errors,
                           failed_kind=failed_kind, default=bounds.DEFAULT)

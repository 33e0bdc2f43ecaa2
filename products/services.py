"""Creating, versioning and moving products through their lifecycle. Services flush; callers commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, exists, func, select

from marketplace import db
from marketplace.auth.models import Role, User
from marketplace.errors import Conflict, IllegalTransition, NotFound, ValidationFailed, one_or_404
from marketplace.i18n import state_word
from marketplace.lpr.services import interest_rate, rates_on
from marketplace.orgs.models import Tier
from products import bounds
from products.models import TRANSITIONS, Product, ProductStatus, ProductTier, ProductType
from products.schemas import range_errors

EDITABLE = ("name", "name_en", "product_type", "amount_min", "amount_max", "term_min_months", "term_max_months",
            "rate_spread_bp", "eligible_tiers", "eligible_regions", "guarantee", "description")


def create_product(bank_id: int, data: dict[str, Any]) -> Product:
    """A new product, version 1, as a draft; 422 on each field outside its type's pricing bounds."""
    bounds.check(data)
    product = Product(bank_id=bank_id, version=1, status=ProductStatus.DRAFT)
    _assign(product, data)
    db.session.add(product)
    db.session.flush()
    product.family_id = product.id
    db.session.flush()
    return product


def update_product(product: Product, changes: dict[str, Any]) -> Product:
    """Edit a draft in place; editing a published or suspended product makes a new draft version. The row is locked
    before its status is read: an edit racing the draft's deletion finds it gone (404)."""
    _lock(product)
    merged = {name: getattr(product, name) for name in EDITABLE} | changes
    if errors := range_errors(merged) or bounds.bounds_errors(merged):
        raise ValidationFailed(errors=errors)
    if product.status is ProductStatus.DRAFT:
        _assign(product, changes)
        db.session.flush()
        return product
    if product.status is ProductStatus.ARCHIVED:
        raise IllegalTransition(_("An archived product cannot be edited."))
    if (draft := _draft_of(product.family_id)) is not None:
        raise Conflict(_("Version %(version)d of this product is already a draft (id %(id)d); edit that one.",
                         version=draft.version, id=draft.id))
    latest = db.session.scalar(select(func.max(Product.version)).where(Product.family_id == product.family_id))
    new_version = Product(bank_id=product.bank_id, family_id=product.family_id, version=latest + 1,
                          status=ProductStatus.DRAFT)
    _assign(new_version, merged)
    db.session.add(new_version)
    db.session.flush()
    return new_version


def change_status(product: Product, target: ProductStatus) -> Product:
    """Move a product along its lifecycle; publishing a new version archives the one it replaces. The row is locked
    before its status is read, so two clicks on Publish publish once."""
    _lock(product)
    if target is product.status:
        raise IllegalTransition(_("Version %(version)d is already %(status)s.", version=product.version,
                                  status=state_word(target)))
    if target not in TRANSITIONS[product.status]:
        raise IllegalTransition(_("A %(status)s product cannot become %(target)s.",
                                  status=state_word(product.status), target=state_word(target)))
    if target is ProductStatus.PUBLISHED:  # the bounds may have been tightened since it was saved
        bounds.check({name: getattr(product, name) for name in EDITABLE})
    if target is ProductStatus.PUBLISHED and product.status is ProductStatus.DRAFT:
        for earlier in db.session.scalars(select(Product).where(
                Product.family_id == product.family_id, Product.id != product.id,
                Product.status.in_([ProductStatus.PUBLISHED, ProductStatus.SUSPENDED]))):
            earlier.status = ProductStatus.ARCHIVED
        db.session.flush()
        product.published_at = db.utcnow()
    product.status = target
    db.session.flush()
    return product


def delete_draft(user: User, product_id: int) -> Product:
    """Delete a draft of the user's bank that was never published (a mistake, or a version not wanted after all);
    anything else stays, to be archived. The row is locked before its status is read: of several deletions, or a
    deletion and a publication, sent at once, one takes effect and the others find it gone (404) or published (409)."""
    product = get_own(user, product_id)
    _lock(product)
    if product.status is not ProductStatus.DRAFT or product.published_at is not None:
        raise IllegalTransition(_("Only a draft that was never published can be deleted; version %(version)d of "
                                  "“%(name)s” is %(status)s. Archive it instead.", version=product.version,
                                  name=product.display_name, status=state_word(product.status)))
    db.session.delete(product)
    db.session.flush()
    return product


def _lock(product: Product) -> None:
    """`db.lock` of the product's row, where a draft deleted by a concurrent request is missing (404), not an error."""
    if db.session.scalar(db.locking(select(Product).where(Product.id == product.id))) is None:
        raise NotFound(_("No product %(id)d.", id=product.id))
    db.locked(product)


def _assign(product: Product, data: dict[str, Any]) -> None:
    for name, value in data.items():
        if name in EDITABLE:
            setattr(product, name, value)


def _draft_of(family_id: int | None) -> Product | None:
    return db.session.scalar(select(Product).where(Product.family_id == family_id,
                                                   Product.status == ProductStatus.DRAFT))


# Reading ------------------------------------------------------------------------------------------

def visible_products(user: User) -> Select[tuple[Product]]:
    """What `user` may see: the admin everything, a bank its own products and others' published ones."""
    query = select(Product)
    if user.role is Role.ADMIN:
        return query
    published = Product.status == ProductStatus.PUBLISHED
    if user.role is Role.BANK:
        return query.where(published | (Product.bank_id == user.organization_id))
    return query.where(published)


@dataclass(frozen=True)
class ProductFilter:
    product_type: ProductType | None = None
    tier: Tier | None = None
    bank_id: int | None = None
    status: ProductStatus | None = None


def list_products(user: User, filters: ProductFilter, offset: int, limit: int) -> tuple[list[Product], int]:
    query = filtered_products(user, filters)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(Product.id).offset(offset).limit(limit)).all()
    return with_indicative_rates(list(rows)), total


def filtered_products(user: User, filters: ProductFilter) -> Select[tuple[Product]]:
    query = visible_products(user)
    if filters.product_type is not None:
        query = query.where(Product.product_type == filters.product_type)
    if filters.bank_id is not None:
        query = query.where(Product.bank_id == filters.bank_id)
    if filters.status is not None:
        query = query.where(Product.status == filters.status)
    if filters.tier is not None:
        query = query.where(exists().where(ProductTier.product_id == Product.id, ProductTier.tier == filters.tier))
    return query


def get_visible(user: User, product_id: int) -> Product:
    product = one_or_404(visible_products(user).where(Product.id == product_id), _("No product %(id)d.", id=product_id))
    return with_indicative_rates([product])[0]


def get_published(product_id: int) -> Product:
    """A product as the catalogue shows it to anyone: published, or reported missing (a draft, a suspended or an
    archived version, whoever asks)."""
    product = one_or_404(select(Product).where(Product.id == product_id, Product.status == ProductStatus.PUBLISHED),
                         _("No product %(id)d.", id=product_id))
    return with_indicative_rates([product])[0]


def get_own(user: User, product_id: int) -> Product:
    """A product the user's bank owns; another bank's product is reported missing, never forbidden."""
    product = db.session.get(Product, product_id)
    if product is None or product.bank_id != user.organization_id:
        raise NotFound(_("No product %(id)d.", id=product_id))
    return with_indicative_rates([product])[0]


def with_indicative_rates(products: list[Product]) -> list[Product]:
    """Attach LPR + spread for each product's shortest term (None while no LPR is recorded)."""
    rates = rates_on()
    for product in products:
        product.indicative_rate = (None if rates is None else
                                   interest_rate(rates, product.term_min_months, product.rate_spread_bp))
    return products



# Excel out -------------------------------------------------------------------------------------------------------

MAX_EXPORT_ROWS = 200_000


def catalogue_products(user: User, filters: ProductFilter) -> list[Product]:
    """The products `user` sees through `filters` (as the list shows them), in id order, for a download."""
    products, _total = list_products(user, filters, 0, MAX_EXPORT_ROWS)
    return products

"""A request's unmatched reasons are kept as codes with their figures and product ids, put into words when read in
the reader's language (issue 22). The sentences stored so far cannot be read back into codes reliably (they are in
the language of their request, with names in them): each becomes {"code": "text", "text": <the sentence>} and is
shown as it was written. No column changes.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08 10:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

BATCH = 1000

requests = sa.table('financing_requests', sa.column('id', sa.Integer()),
                    sa.column('unmatched_reasons', sa.JSON()))

#: What a downgrade leaves of a coded reason: the code base before this revision shows sentences only, and the
#: names and figures would need the application to be put into words.
SUMMARIES = {
    'nothing_published': 'No bank has published a product yet.',
    'amount_above_all': 'The amount asked for is more than any published product lends.',
    'amount_below_all': 'The amount asked for is less than any published product lends.',
    'amount_high': 'Some products lend less than the amount asked for.',
    'amount_low': 'Some products start above the amount asked for.',
    'term': 'Some products do not lend for the term asked for.',
    'tier': 'Some products are for other tiers.',
    'region': 'Some products are only for enterprises in other regions.',
    'guarantee_refused': 'Some products need a guarantee, and none was accepted.',
    'guarantee_unavailable': 'Some products need a guarantee, and no agreement covers the loan now.',
}


def _rewrite(convert):
    """Every request's reasons through `convert`, a thousand rows at a time, writing only the rows it changes."""
    connection = op.get_bind()
    update = requests.update().where(requests.c.id == sa.bindparam('row_id')).values(
        unmatched_reasons=sa.bindparam('reasons', type_=sa.JSON()))
    last = 0
    while True:
        rows = connection.execute(sa.select(requests.c.id, requests.c.unmatched_reasons)
                                  .where(requests.c.id > last).order_by(requests.c.id).limit(BATCH)).all()
        if not rows:
            return
        changed = []
        for row_id, reasons in rows:
            converted = [convert(entry) for entry in reasons or []]
            if converted != (reasons or []):
                changed.append({'row_id': row_id, 'reasons': converted})
        if changed:
            connection.execute(update, changed)
        last = rows[-1][0]


def _to_code(entry):
    return {'code': 'text', 'text': entry} if isinstance(entry, str) else entry


def _to_sentence(entry):
    if not isinstance(entry, dict):
        return entry
    if entry.get('code') == 'text':
        return entry['text']
    return SUMMARIES.get(entry.get('code'), 'No published product fits the amount, term, tier and region asked for.')


def upgrade():
    _rewrite(_to_code)


def downgrade():
    _rewrite(_to_sentence)

"""Names in the reader's language (issue 22): organisations, products, risk pools and fee rules keep their Chinese
name in `name` and get an optional English one in `name_en`; an offer keeps both of its bank's and product's names
as they were when it was made. Names written "English · 中文" before are split into the two.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 16:40:00

"""
import re

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

NAMED = ('organizations', 'products', 'risk_pools', 'fee_rules')
CJK = re.compile(r'[\u3400-\u9fff]')


def split(name):
    """"Zhejiang Commerce Bank · 浙商银行" → ("浙商银行", "Zhejiang Commerce Bank"); a name not of that shape stays."""
    english, sep, chinese = name.partition(' · ')
    if sep and CJK.search(chinese) and not CJK.search(english):
        return chinese.strip(), english.strip()
    return name, None


def _split_column(table, name_column, english_column):
    connection = op.get_bind()
    rows = connection.execute(sa.text(f"SELECT id, {name_column} FROM {table} WHERE {name_column} LIKE '% · %'"))
    changes = [{"id": id_, "name": chinese, "name_en": english}
               for id_, name in rows for chinese, english in [split(name)] if english]
    if changes:
        connection.execute(sa.text(f"UPDATE {table} SET {name_column} = :name, {english_column} = :name_en "
                                   f"WHERE id = :id"), changes)


def upgrade():
    for table in NAMED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('name_en', sa.String(length=200), nullable=True))
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('product_name_en', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('bank_name_en', sa.String(length=200), nullable=True))
    for table in NAMED:
        _split_column(table, 'name', 'name_en')
    _split_column('offers', 'product_name', 'product_name_en')
    _split_column('offers', 'bank_name', 'bank_name_en')


def downgrade():
    connection = op.get_bind()  # the English names go back in front of the Chinese ones, as before
    for table, name, english in [*((t, 'name', 'name_en') for t in NAMED), ('offers', 'product_name', 'product_name_en'),
                                 ('offers', 'bank_name', 'bank_name_en')]:
        connection.execute(sa.text(f"UPDATE {table} SET {name} = {english} || ' · ' || {name} "
                                   f"WHERE {english} IS NOT NULL"))
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_column('bank_name_en')
        batch_op.drop_column('product_name_en')
    for table in reversed(NAMED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('name_en')

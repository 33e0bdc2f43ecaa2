"""A job's run keeps what it did as a code and its figures in `result` ({"code": "batches_submitted", "day": …,
"batches": [12]}), put into words when read in the reader's language (issue 22). Runs recorded before keep their
English sentence in `detail` and are shown as they were written; a failed run's error stays in `detail`.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 01:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_runs') as batch_op:
        batch_op.add_column(sa.Column('result', sa.JSON(), nullable=True))


def downgrade():
    # The code before this revision reads only `detail`: a run recorded since keeps its result there, as JSON.
    op.execute("UPDATE job_runs SET detail = substr(CAST(result AS TEXT), 1, 2000) "
               "WHERE result IS NOT NULL AND (detail IS NULL OR detail = '')")
    with op.batch_alter_table('job_runs') as batch_op:
        batch_op.drop_column('result')

"""The audit trail: who changed what, for whom, from where, in one append-only table."""

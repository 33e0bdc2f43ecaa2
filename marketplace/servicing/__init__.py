"""Pages for loans after approval: the bank's loan book and what it reports on a loan, the enterprise's loans and
their repayment schedules (an edge: financing's and guarantees' services do the work)."""

"""The marketplace's clock: jobs run by APScheduler 3 (`flask scheduler run` in production, inside the demo server
under `make run`). Each job runs in its own transaction under a PostgreSQL advisory lock, so a second scheduler
process is a safe standby; a job that runs once per slot (a day, a month) records that slot in the same
transaction as its work, so two schedulers firing the same trigger run it once."""

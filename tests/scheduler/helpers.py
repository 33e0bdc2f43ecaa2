"""Reading what a scheduled job's run did, as the English interface says it."""

from marketplace.scheduler.wording import result_words


def said(app, run) -> str:
    """What a job's run did, in the English interface's words."""
    with app.app_context():
        return result_words(run)

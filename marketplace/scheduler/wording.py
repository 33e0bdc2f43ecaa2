"""What a job's run did, in the reader's words. A job stores a code and its figures ({"code": "batches_submitted",
"day": "2026-09-30", "batches": [12]}); they are put into words when read, in the reader's language. Runs recorded
before the codes (their `detail` an English sentence) read as they were written."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext

from marketplace.i18n import N_, locale_name
from marketplace.scheduler.models import JobRun, RunOutcome


def _listed(items: list[Any] | None) -> str:
    """" (12, 13)" after a count, "（12、13）" in Chinese, or nothing."""
    if not items:
        return ""
    if locale_name() == "zh_Hans":
        return "（" + "、".join(map(str, items)) + "）"
    return " (" + ", ".join(map(str, items)) + ")"


def _joined(parts: list[str]) -> str:
    return ("；" if locale_name() == "zh_Hans" else "; ").join(parts)


def _on(day: str, what: str) -> str:
    return _("%(day)s: %(what)s", day=day, what=what)


def _weekdays_note(result: dict[str, Any]) -> str:
    if not result.get("assumed_weekdays"):
        return ""
    return " " + _("(No holiday calendar for %(year)s: Monday to Friday assumed.)", year=result["day"][:4])


def _outbox(r: dict[str, Any]) -> str:
    sent = r["delivered"] + r["retrying"] + r["dead"]
    return ngettext("%(num)d message sent: %(delivered)d delivered, %(retrying)d to be tried again, %(dead)d "
                    "given up.", "%(num)d messages sent: %(delivered)d delivered, %(retrying)d to be tried again, "
                    "%(dead)d given up.", sent, delivered=r["delivered"], retrying=r["retrying"], dead=r["dead"])


#: The sandbox bank's callbacks, by event type.
CALLBACK_WORDS = {"application.approved": N_("application %(id)s approved"),
                  "application.declined": N_("application %(id)s declined"),
                  "loan.disbursed": N_("loan of application %(id)s disbursed")}


def _callbacks(sent: list[list[Any]]) -> list[str]:
    return [_(CALLBACK_WORDS[kind], id=application) if kind in CALLBACK_WORDS else _("callback for application "
            "%(id)s", id=application) for kind, application in sent]


def _sandbox(r: dict[str, Any]) -> str:
    parts = [ngettext("The sandbox bank sent %(num)d callback", "The sandbox bank sent %(num)d callbacks",
                      len(r["sent"])) + _listed(_callbacks(r["sent"]))]
    if r.get("refused"):
        parts.append(ngettext("%(num)d was refused", "%(num)d were refused", len(r["refused"])) +
                     _listed(_callbacks(r["refused"])))
    return _joined(parts)


def _no_cutoff(r: dict[str, Any]) -> str:
    return _on(r["day"], _("not a working day, no cut-off.")) + _weekdays_note(r)


def _batches_submitted(r: dict[str, Any]) -> str:
    what = ngettext("%(num)d batch submitted for review", "%(num)d batches submitted for review", len(r["batches"]))
    return _on(r["day"], what + _listed(r["batches"])) + _weekdays_note(r)


def _batch_sla(r: dict[str, Any]) -> str:
    return _on(r["day"], _joined([
        ngettext("%(num)d batch approved on its agreement's 见贷即保 terms",
                 "%(num)d batches approved on their agreement's 见贷即保 terms", len(r["approved"]))
        + _listed(r["approved"]),
        ngettext("%(num)d batch flagged past its review deadline", "%(num)d batches flagged past their review deadline",
                 len(r["flagged"])) + _listed(r["flagged"])]))


def _overdue_scan(r: dict[str, Any]) -> str:
    return _on(r["day"], _joined([
        ngettext("%(num)d loan overdue with a period unpaid", "%(num)d loans overdue with a period unpaid",
                 len(r["overdue"])) + _listed(r["overdue"]),
        ngettext("%(num)d loan defaulted after %(days)d days overdue", "%(num)d loans defaulted after %(days)d days "
                 "overdue", len(r["defaulted"]), days=r["after_days"]) + _listed(r["defaulted"])]))


def _claims_late(r: dict[str, Any]) -> str:
    return _on(r["day"], ngettext("%(num)d claim past its deadline", "%(num)d claims past their deadline",
                                  len(r["claims"])) + _listed(r["claims"]))


def _subsidies(r: dict[str, Any]) -> str:
    total = Decimal(r["total"])
    amount = f"{total:,.2f} 元" if locale_name() == "zh_Hans" else f"¥{total:,.2f}"
    return _on(r["month"], ngettext("降费奖补 of %(amount)s due to %(num)d agency",
                                    "降费奖补 of %(amount)s due to %(num)d agencies", r["agencies"], amount=amount))


def _requests_withdrawn(r: dict[str, Any]) -> str:
    return _on(r["day"], ngettext("%(num)d open request withdrawn, its tier expired or changed",
                                  "%(num)d open requests withdrawn, their tier expired or changed",
                                  len(r["requests"])) + _listed(r["requests"]))


def _agreements_expired(r: dict[str, Any]) -> str:
    return _on(r["day"], ngettext("%(num)d agreement expired", "%(num)d agreements expired", len(r["agreements"]))
               + _listed(r["agreements"]))


def _counters_lapsed(r: dict[str, Any]) -> str:
    return _on(r["day"], ngettext("%(num)d counter-offer lapsed unanswered", "%(num)d counter-offers lapsed unanswered",
                                  len(r["applications"])) + _listed(r["applications"]))


def _reminders(r: dict[str, Any]) -> str:
    return _on(r["day"], _joined([
        ngettext("%(num)d bank reminded of a deadline near", "%(num)d banks reminded of a deadline near",
                 len(r["near"])) + _listed(r["near"]),
        ngettext("%(num)d of a deadline passed", "%(num)d of a deadline passed", len(r["passed"]))
        + _listed(r["passed"])]))


#: Each result code, put into words.
RESULTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "outbox_sent": _outbox, "sandbox_callbacks": _sandbox, "no_cutoff": _no_cutoff,
    "batches_submitted": _batches_submitted, "batch_sla": _batch_sla, "overdue_scan": _overdue_scan,
    "claims_late": _claims_late, "subsidies_settled": _subsidies, "requests_withdrawn": _requests_withdrawn,
    "agreements_expired": _agreements_expired, "counters_lapsed": _counters_lapsed, "deadline_reminders": _reminders,
}


def result_words(run: JobRun) -> str:
    """What the run did, in the reader's words."""
    if run.outcome is RunOutcome.FAILED:
        return _("The run failed and changed nothing; the error is kept for support.")
    if not run.result:
        return run.detail or _("Nothing to do.")  # a detail: recorded before results had codes
    render = RESULTS.get(run.result.get("code", ""))
    return render(run.result) if render else _("Done.")


def outcome_words(outcome: RunOutcome | str) -> str:
    return _("ok") if getattr(outcome, "value", outcome) == RunOutcome.OK.value else _("failed")

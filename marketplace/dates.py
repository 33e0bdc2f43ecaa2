"""Business dates are Asia/Shanghai; timestamps are UTC."""

import datetime as dt
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def business_today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()

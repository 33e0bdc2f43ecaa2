import marshmallow as ma
from marshmallow import fields

from marketplace.fields import BusinessDate, Rate


class LprIn(ma.Schema):
    effective_on = BusinessDate(required=True)
    lpr_1y = Rate(required=True)
    lpr_5y = Rate(required=True)

    @ma.validates_schema
    def _positive(self, data, **kwargs):
        errors = {name: ["An LPR is above zero and below one."]
                  for name in ("lpr_1y", "lpr_5y") if name in data and not 0 < data[name] < 1}
        if errors:
            raise ma.ValidationError(errors)


class LprOut(ma.Schema):
    effective_on = fields.Date()
    lpr_1y = Rate()
    lpr_5y = Rate()


class LprQuery(ma.Schema):
    on = BusinessDate(load_default=None, metadata={"description": "The business date (default: today, Shanghai)."})

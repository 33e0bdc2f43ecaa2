"""Messages the marketplace shows but does not write: marshmallow's validation messages, Werkzeug's HTTP errors.
Listed here (N_) so the catalogue has them, and translated where they are shown by `translate`."""

from __future__ import annotations

import re
from functools import cache

from flask_babel import gettext

from marketplace.i18n import N_

#: marshmallow's messages (as reworded in marketplace/fields.py), with their {placeholders}.
VALIDATION = (
    N_("This field is required."), N_("This field cannot be empty."), N_("Enter a whole number."),
    N_("Enter a date as YYYY-MM-DD, such as 2027-12-31."), N_("Use true or false."), N_("Enter text."),
    N_("Unknown field."), N_("Invalid input type."), N_("Invalid input."), N_("Invalid value."), N_("Invalid type."),
    N_("Not a valid number."), N_("Not a valid integer."), N_("Not a valid string."), N_("Not a valid boolean."),
    N_("Not a valid date."), N_("Not a valid datetime."), N_("Not a valid list."), N_("Not a valid mapping type."),
    N_("Not a valid email address."), N_("Not a valid URL."), N_("Not a valid UUID."), N_("Number too large."),
    N_("Special numeric values (nan or infinity) are not permitted."), N_("String does not match expected pattern."),
    N_("Must be one of: {choices}."), N_("One or more of the choices you made was not in: {choices}."),
    N_("Length must be between {min} and {max}."), N_("Length must be {equal}."),
    N_("Longer than maximum length {max}."), N_("Shorter than minimum length {min}."),
    N_("Must be greater than or equal to {min} and less than or equal to {max}."),
    N_("Must be greater than {min} and less than {max}."),
    N_("Must be greater than or equal to {min}."), N_("Must be greater than {min}."),
    N_("Must be less than or equal to {max}."), N_("Must be less than {max}."),
    N_('"{input}" cannot be formatted as a date.'),
)

#: Werkzeug's names and descriptions of the HTTP errors the marketplace answers.
HTTP = (
    N_("Bad Request"), N_("Unauthorized"), N_("Forbidden"), N_("Not Found"), N_("Method Not Allowed"),
    N_("Not Acceptable"), N_("Conflict"), N_("Request Entity Too Large"), N_("Unsupported Media Type"),
    N_("Unprocessable Entity"), N_("Too Many Requests"), N_("Internal Server Error"), N_("Service Unavailable"),
    N_("The browser (or proxy) sent a request that this server could not understand."),
    N_("The requested URL was not found on the server. If you entered the URL manually please check your spelling "
       "and try again."),
    N_("The method is not allowed for the requested URL."),
    N_("The data value transmitted exceeds the capacity limit."),
    N_("The server does not support the media type transmitted in the request."),
    N_("The request was well-formed but was unable to be followed due to semantic errors."),
    N_("This user has exceeded an allotted request count. Try again later."),
    N_("The server encountered an internal error and was unable to complete your request. Either the server is "
       "overloaded or there is an error in the application."),
)


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """A regular expression per message with placeholders, capturing what marshmallow put in them."""
    found = []
    for template in VALIDATION:
        if "{" not in template:
            continue
        pattern = "".join(f"(?P<{part[1:-1]}>.+?)" if part.startswith("{") else re.escape(part)
                          for part in re.split(r"(\{[a-z]+\})", template))
        found.append((re.compile(f"^{pattern}$"), template))
    return tuple(found)


def translate(message: str) -> str:
    """The message in the current language when it is one of the above (placeholders filled as marshmallow filled
    them); any other message unchanged (the marketplace's own are translated where they are written)."""
    translated = gettext(message)
    if translated != message or "{" in message:
        return translated
    for pattern, template in _patterns():
        if (match := pattern.match(message)) is not None:
            return gettext(template).format(**match.groupdict())
    return message

"""Each user's own notifications."""

from flask.views import MethodView

from marketplace.api import Blueprint, page_of, paginate
from marketplace.auth.access import api_roles, api_user
from marketplace.notifications import schemas, services

blp = Blueprint("notifications_api", __name__, url_prefix="/api/v1", description="Your notifications")


@blp.route("/notifications")
class Notifications(MethodView):
    @api_roles()
    @blp.arguments(schemas.NotificationQuery, location="query")
    @blp.response(200, schemas.NotificationOut(many=True))
    @paginate(blp)
    def get(self, query, pagination_parameters):
        """Your notifications, newest first (`unread=true`: those not read yet)."""
        return page_of(services.of_user(api_user(), unread=query["unread"]), pagination_parameters)


@blp.route("/notifications/<int:notification_id>/read")
class ReadOne(MethodView):
    @api_roles()
    @blp.response(200, schemas.NotificationOut)
    def post(self, notification_id):
        """Mark one of your notifications read (another user's: 404)."""
        return services.mark_read(api_user(), notification_id)


@blp.route("/notifications/read-all")
class ReadAll(MethodView):
    @api_roles()
    @blp.response(200, schemas.ReadAllOut)
    def post(self):
        """Mark all your notifications read."""
        user = api_user()
        return {"marked": services.mark_all_read(user), "unread": services.unread_count(user)}

import marshmallow as ma
from flask import jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from marketplace import db
from marketplace.api import Blueprint

blp = Blueprint("health", __name__, description="Liveness and database reachability")


class HealthOut(ma.Schema):
    status = ma.fields.String()
    database = ma.fields.String()


@blp.get("/healthz")
@blp.doc(security=[])
@blp.response(200, HealthOut)
@blp.alt_response(503, schema=HealthOut, description="The database does not answer.")
def healthz():
    """200 when the app and its database answer; 503 when the database does not."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="error", database="error"), 503
    return {"status": "ok", "database": "ok"}

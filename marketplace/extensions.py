"""Extensions, created unbound and wired in the factory with init_app (flask-smorest's Api is per app)."""

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
migrate = Migrate(compare_type=True, render_as_batch=True)

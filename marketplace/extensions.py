"""Extensions, created unbound and wired in the factory with init_app (flask-smorest's Api is per app)."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
#: Storage, strategy and headers come from RATELIMIT_* in the config (marketplace.config).
limiter = Limiter(key_func=get_remote_address)
migrate = Migrate(compare_type=True, render_as_batch=True)

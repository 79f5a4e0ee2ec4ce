"""Every extension instance, created unbound and initialised by create_app."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# Login throttling (webapp/security.py configures it: memory:// or REDIS_URL). A moving
# window: no burst of twice the limit across a window boundary.
limiter = Limiter(key_func=get_remote_address, strategy="moving-window")

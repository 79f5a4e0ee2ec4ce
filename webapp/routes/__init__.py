"""One blueprint per resource; BLUEPRINTS is what create_app registers."""

from .accounts import bp as accounts_bp
from .auth import bp as auth_bp
from .contacts import bp as contacts_bp
from .deals import bp as deals_bp
from .leads import bp as leads_bp

BLUEPRINTS = [auth_bp, leads_bp, accounts_bp, contacts_bp, deals_bp]

"""One blueprint per resource; BLUEPRINTS is what create_app registers."""

from .accounts import bp as accounts_bp
from .activities import bp as activities_bp
from .admin import bp as admin_bp
from .api import bp as api_bp
from .auth import bp as auth_bp
from .contacts import bp as contacts_bp
from .conversions import bp as conversions_bp
from .dashboard import bp as dashboard_bp
from .deals import bp as deals_bp
from .jobs import bp as jobs_bp
from .leads import bp as leads_bp
from .profile import bp as profile_bp

BLUEPRINTS = [auth_bp, dashboard_bp, leads_bp, accounts_bp, contacts_bp, deals_bp, activities_bp,
              conversions_bp, api_bp, profile_bp, admin_bp, jobs_bp]

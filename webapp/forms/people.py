"""The admin forms of roles, users and teams (issue 10): widgets and labels only. The services
(services/roles.py, services/users.py) judge every value through fields.py; `apply_errors`
puts their reasons next to the fields. The role's permission matrix is a table of checkboxes
named "permissions" (templates/admin/_role_matrix.html), read with request.form.getlist."""

from __future__ import annotations

from sqlalchemy import select
from wtforms import PasswordField, RadioField, SelectMultipleField, StringField

from .. import permissions
from ..extensions import db
from ..fields import model_specs
from ..i18n import _l, translate
from ..models import Role, Team, User
from .common import EditForm, Required, as_choices, choice

SCOPE_HINTS = {
    "own": _l("Edit and delete only the records they own."),
    "team": _l("Also the records of their team and of the people who report to them."),
    "all": _l("Every record."),
}


def role_choices() -> list:
    from ..services.roles import roles

    return as_choices((r.key, translate(r.label)) for r in roles(db.session))


def team_choices(blank) -> list:
    teams = db.session.scalars(select(Team).order_by(Team.name))
    return as_choices([("", blank), *((t.id, t.name) for t in teams)])


def user_choices(blank, exclude: int | None = None, active_only: bool = True) -> list:
    stmt = select(User).order_by(User.name, User.id)
    if active_only:
        stmt = stmt.where(User.active.is_(True))
    people = [(u.id, u.display_name) for u in db.session.scalars(stmt) if u.id != exclude]
    return as_choices(([("", blank)] if blank is not None else []) + people)


class RoleForm(EditForm):
    label = StringField(_l("Name"), [Required()],
                        render_kw={"maxlength": model_specs(Role)["label"].length, "autocomplete": "off"})
    scope = RadioField(_l("Record scope"), validate_choice=False,
                       choices=as_choices((s, _l(permissions.SCOPE_LABELS[s])) for s in permissions.SCOPES))
    # The matrix's checkboxes (templates/admin/_role_matrix.html): never rendered as a select.
    permissions = SelectMultipleField(_l("Permissions"), validate_choice=False)

    def to_data(self) -> dict:
        return {"label": self.label.data, "scope": self.scope.data, "permissions": list(self.permissions.data or [])}


class UserForm(EditForm):
    email = StringField(_l("E-mail"), [Required()],
                        render_kw={"type": "email", "maxlength": model_specs(User)["email"].length,
                                   "autocomplete": "off"})
    name = StringField(_l("Name"), render_kw={"maxlength": model_specs(User)["name"].length,
                                              "autocomplete": "off"})
    password = PasswordField(_l("Initial password"), [Required()], render_kw={"autocomplete": "new-password"})
    role_key = choice(_l("Role"), required=True)
    team_id = choice(_l("Team"))
    manager_id = choice(_l("Manager"))

    def __init__(self, *args, user: User | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.role_key.choices = role_choices()
        self.team_id.choices = team_choices(_l("— No team —"))
        self.manager_id.choices = user_choices(_l("— No manager —"), exclude=user.id if user else None)
        if user is not None:
            del self.password
            if user.manager_id and not any(c.value == str(user.manager_id) for c in self.manager_id.choices):
                manager = db.session.get(User, user.manager_id)  # an inactive manager stays shown
                self.manager_id.choices.append(as_choices([(manager.id, manager.display_name)])[0])
            if not self.is_submitted():
                self.email.data, self.name.data = user.email, user.name
                self.role_key.data = user.role_key
                self.team_id.data = str(user.team_id or "")
                self.manager_id.data = str(user.manager_id or "")

    def to_data(self) -> dict:
        data = {name: self[name].data for name in ("email", "name", "role_key", "team_id", "manager_id")}
        if "password" in self:
            data["password"] = self.password.data or ""
        return data


class ReassignForm(EditForm):
    reassign_to = choice(_l("Give their records to"))

    def __init__(self, *args, user: User, required: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        blank = _l("Choose a person…") if required else _l("Nobody: they keep their records")
        self.reassign_to.choices = user_choices(blank, exclude=user.id)


class TeamForm(EditForm):
    name = StringField(_l("Team name"), [Required()],
                       render_kw={"maxlength": model_specs(Team)["name"].length, "autocomplete": "off"})

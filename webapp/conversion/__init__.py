"""The conversion domain: plan and apply lead conversions. Never imports Flask.

Takes a SQLAlchemy session, an actor (User), ids and option dataclasses; returns
dataclasses; raises the errors in errors.py. The caller commits.
"""

"""Leads: detail views (being built)."""



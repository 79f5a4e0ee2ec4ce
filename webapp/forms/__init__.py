"""WTForms classes, one per form, grouped by resource; shared fields and validators in common."""

"""The conversion domain: plan and apply lead conversions. Never imports Flask.

Takes a SQLAlchemy session, an actor (User), ids and option dataclasses; returns
dataclasses; raises the errors in errors.py. Domain code adds and flushes, never
commits: the caller commits once (or rolls back on any ConversionError).

Public interface
----------------
options.py
    ConversionOptions(account: EntityChoice, contact: EntityChoice, deal: DealOptions | None,
    task: TaskOptions | None, lead: LeadFields, attachments_to="contact"|"account"|"deal",
    activities_to="contact"|"account", tags_to=["contact", "deal"], owner_id, dry_run,
    interactive). EntityChoice(action="auto"|"create"|"link"|"none", id, parent_id (account
    only), fields). DealOptions(name, pipeline_id, stage, amount: Decimal, currency,
    closing_date: date, contact_role, campaign_id, owner_id, fields). TaskOptions(subject,
    due_date, owner_id). LeadFields(fields) (C7.4): lead fields to fill from the conversion form,
    {"industry": "IT", "custom.vat": "FR1"}, for required lead fields that no target receives.
    ConversionOptions.from_dict(body) parses exactly the JSON body of POST
    /api/v1/lead-conversions (api.md; "lead_id" is ignored, "interactive" is accepted for
    the modal) and raises InvalidOptions(errors={"deal.stage": ["is required"], ...}).
    ConversionOptions.parse(body) is the same parser without the raise: its errors stay on
    options.errors and plan() / apply() report them together with their own (one pass, for
    the modal and the API: parse, then plan).
    `fields` hold standard keys ("last_name") and custom ones, either as {"custom":
    {"vat": ...}} or flat "custom.vat"; they override / complete the mapped values.
    The body's "lead": {"fields": {...}} part (same two spellings) fills LeadFields: validated like
    a lead edit (standard lead columns by type and length, except owner_id; custom ones through
    custom_values.validate_custom), written on the lead first (the executor's write_lead step, in the
    same transaction), mapped and matched as the lead's own values, listed in fields_written
    ["lead"] and recorded with what they replaced in Conversion.previous_values["lead"] for the
    revert; a filled required lead field leaves plan.missing["lead"].
    Numbers may be int, float or Decimal (the API parses JSON fractions as Decimal; amounts stay
    exact). Input no column can hold is an InvalidOptions (422), never a database error: ids
    above 2**31-1 ("is out of range"), Integer column values outside 0..2**31-1, money outside
    0..1e13, text with NUL characters or lone surrogates (normalize.text_problem).
    options.to_dict() is the canonical JSON form (stored, hashed for idempotency; "lead" appears
    only when it holds fields, so older requests keep their hash).

errors.py
    The conversion's refusals, subclasses of webapp.errors (one hierarchy, rendered by the app's
    handlers): ConversionError (= DomainError), ConversionDenied (Forbidden, 403),
    DuplicatesHidden (403, C4.8, .who = users who can convert), AlreadyConverted (Conflict 409,
    .conversion_id, in the body), IdempotencyConflict (409), MissingRequired (Invalid 422,
    errors like {"contact.last_name": ["is required"], "lead.custom.vat": [...]}),
    InvalidOptions (Invalid 422, e.g. {"contact.phone": [...], "deal.amount": [...]}),
    RecordNotFound (NotFound 404). Error keys are "<entity>.<field>" / "<entity>.custom.<key>"
    (entity "lead" for the lead part).

The planner, in parts
---------------------
plan.py
    The plan's data types (no queries). ConversionPlan: lead, account / contact / deal / task:
    EntityPlan(entity, action "created"|"merged"|"linked"|"none", record_id, reason ("email",
    "company_name", "full_name", "unique:<key>", "contact_account", "chosen"), label, values
    (what a created record gets: {field: value}, custom as "custom.<key>"), fills (what a merged
    record's EMPTY fields receive, C3.5), read_only (C7.3)), candidates {"account":
    [Candidate(id, name, reason)], "contact": [...]} (visible records only, C4.8; best first),
    moves {"notes", "attachments", "activities", "campaigns", "tags", "line_items", "addresses"}
    counts, destinations (where each kind goes, in words: {"notes": ["deal", "account (copy)",
    "contact (copy)"], "activities": ["contact", "deal (open ones)"], ...}; [] = stays on the
    lead; computed by transfer.py's placement functions, so the preview cannot disagree with the
    moves), lead_values (the validated LeadFields), missing, warnings (sentences, e.g. the
    mapping drops the lead source C6.6), blocked (a DuplicatesHidden for an interactive plan,
    else None). plan.errors() gives missing as {"contact.last_name": ["is required"]};
    plan.check() raises MissingRequired / the blocking DuplicatesHidden; plan.as_dict() is
    serialize.plan_as_dict(plan). Planning: the state the parts below share while building one
    plan (session, actor, options, lead, the lead as its form fields leave it, definitions,
    mapping, validated overrides, collected field errors and warnings).
resolve.py (C2, C4)
    resolve(p) -> (account, contact, matches): created / merged / linked, on matching.py's
    look-ups; hidden_duplicates (C4.8: "create" is refused too when the only matches are hidden;
    visible ones are the person's choice and only offered as candidates); match_keys(p) and
    lock_match_keys(session, keys): the write lock that serialises concurrent conversions sharing
    a normalised key (PostgreSQL: pg_advisory_xact_lock per key, sorted; SQLite: BEGIN
    IMMEDIATE), taken before the look-up so that the second conversion links what the first
    created.
values.py (C3, C5, C7.5)
    validate_fields (the options' `fields`, typed per column; custom ones through
    custom_values.validate_custom), mapped values and fills (fill_account, fill_contact, C3.5),
    plan_deal (pipeline, stage fallback C5.2, amount and currency C5.3), plan_task (C5.4).
requirements.py (C7)
    check_may_convert (C7.1, C7.2, C1.4), check_rights (create permissions), missing (C7.4).
planner.py
    plan(session, actor, lead_id, options, *, lock=False) -> ConversionPlan. Reads only (lock=True,
    used by apply(), only takes the lock above). Raises RecordNotFound, ConversionDenied,
    AlreadyConverted, InvalidOptions and (non-interactive) DuplicatesHidden. It does NOT raise
    MissingRequired: plan.missing lists them ({"contact": ["last_name"], "lead": ["custom.vat"]})
    so the modal can show the fields. Validation is one pass: the errors an options object
    carries from ConversionOptions.parse() and the planner's own field errors (bad e-mail in
    `fields`, unknown pipeline, inactive owner...) are raised together in one InvalidOptions.
serialize.py
    The one serializer of both API shapes: conversion_as_dict(conversion) (the 201 / GET
    response; timestamps ISO 8601 with offset, naive ones, as SQLite returns them, are UTC) and
    plan_as_dict(plan) (the dry run: id null, dry_run true, account / contact / deal / task {id,
    action, reason}, fields_written (with "lead" when LeadFields are given), not_updated, moved,
    candidates); jsonable(values) (Decimal and dates as text) for everything stored as JSON.

executor.py
    apply(session, actor, lead_id, options, idempotency_key=None, *, after_step=None) ->
    Conversion (added and flushed, not committed). STEPS is the explicit tuple of step functions
    (resolve, write_lead, write_account, write_contact, write_deal, write_task, transfer,
    record, mark_converted; STEP_NAMES their names); after_step(step_name, run), when given, is
    called after each one: the documented seam for fault injection in tests. write_task hangs the
    follow-up task on the contact (else the account) with deal_id set (C5.4: it shows on the deal
    too, services.activities.on_record). An idempotency key must be 1-255 characters of text
    (else InvalidOptions). Raises everything plan() raises plus MissingRequired,
    IdempotencyConflict and AlreadyConverted (also when a concurrent conversion won: the caller
    must roll back). With options.dry_run use plan() instead. The same idempotency key with the
    same request returns the first Conversion, writing nothing.

mapping.py
    DEFAULT_MAPPING (C3.1 as data: {"account": {lead_field: account_field}, "contact": ...,
    "deal": ...}; custom fields as "custom.<key>"), load_mapping(session),
    check_mapping(session, mapping) -> [{"entity", "source", "target", "reason"}] (C3.2),
    target_fields(session, entity) / source_fields(session) (what the admin screen offers),
    build_values(lead, mapping, entity, lead_custom) and fill_empty_only(current, values).

matching.py
    Matcher(session, actor, lead, mapping, defs, lead_custom).find(...) — duplicates in C4.1
    order, each with its reason; webapp/normalize.py holds the pure normalisers (norm_email,
    norm_company...).

transfer.py
    What moves with the lead (C6) and where (the placement functions the preview also uses).

bulk.py (C8.2-C8.5)
    Many leads at once, the same decisions: BulkOptions (the bulk subset of the options, deal name
    templates {company} {first_name} {last_name} {full_name}); convert_chunk(session, actor,
    lead_ids, options) -> [Outcome(lead_id, outcome "converted"|"skipped"|"failed", conversion_id,
    reason, code)] (written, not committed; a failed chunk write is retried lead by lead);
    plan_chunk (reads only) and summarize (the bulk panel's dry run); validate(session, actor,
    options) raises InvalidOptions. A chunk is read with one query per look-up kind and each lead
    planned by the parts above: resolve.resolve(p, matcher) with a matcher answering from the
    chunk's rows (records created by the chunk's earlier leads included), values.py's functions
    with reference data shared through Planning.memo; then written with multi-row statements.
    services/bulk.py is the resumable job around it.
"""

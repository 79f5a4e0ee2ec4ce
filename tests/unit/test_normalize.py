"""C4.7: the normalised keys used for duplicate look-ups."""

import pytest

from webapp.normalize import (
    norm_company,
    norm_email,
    norm_name,
    norm_phone,
    region_for,
    text_problem,
    words,
)


@pytest.mark.parametrize("raw", ["Zylker", "ZYLKER", "Zylker Inc.", "Zylker, Inc", "zylker incorporated",
                                 "Zylker SARL", "Zylker S.A.R.L.", "Zylker SAS", "Zylker GmbH", "Zylker Ltd",
                                 "Zylker Limited", "  zylker   LTD ", "Zylkér"])
def test_c4_7_company_variants(raw):
    assert norm_company(raw) == "zylker"


def test_c4_7_company_keeps_a_name_made_of_legal_words():
    assert norm_company("SAS") == "sas"
    assert norm_company("Zylker Labs") == "zylker labs"
    assert norm_company(None) is None and norm_company("  ") is None


@pytest.mark.parametrize("parts,key", [
    (("Élodie", "Dupré"), "elodie dupre"), (("  JEAN-luc ", "O'Neil"), "jean luc o neil"),
    ((None, "Stone"), "stone"), ((None, None), None),
])
def test_c4_7_names(parts, key):
    assert norm_name(*parts) == key


def test_c4_7_emails():
    assert norm_email("  Charles.S@Zylker.COM ") == "charles.s@zylker.com"
    assert norm_email("") is None


@pytest.mark.parametrize("raw,region,e164", [
    ("01 23 45 67 89", None, "+33123456789"), ("+33 1 23 45 67 89", None, "+33123456789"),
    ("0033 1 23 45 67 89", None, "+33123456789"), ("(415) 555-2671", "US", "+14155552671"),
    ("020 7946 0958", "GB", "+442079460958"), ("12", None, None), ("abc", None, None), ("", None, None),
])
def test_c4_7_phones_in_e164(raw, region, e164):
    assert norm_phone(raw, region) == e164


def test_region_for_country_names_and_codes():
    assert (region_for("United States"), region_for("de"), region_for("Atlantis"), region_for(None)) == (
        "US", "DE", "FR", "FR")


@pytest.mark.parametrize("raw,key", [
    ("S.A. Zylker", "zylker"), ("Zylker S.A.", "zylker"), ("S. A. R. L. Zylker", "zylker"),
    ("J. P. Morgan", "jp morgan"), ("X Y Zylker Z", "xy zylker z"), ("X.Y. Zylker Z.W.", "xy zylker zw"),
    ("Zylker A", "zylker a"), ("X", "x"), ("Zylker & Co", "zylker"),
])
def test_c4_7_company_initials_are_glued_before_legal_forms_are_dropped(raw, key):
    """Runs of one-letter words ("S.A.", "J. P.") are one word, wherever they stand in the name."""
    assert norm_company(raw) == key


def test_c4_7_names_and_words_of_nothing():
    assert norm_name() is None and norm_name("", " ", "-") is None
    assert words(None) == [] and words("") == [] and words(" -- ") == []
    assert words("  Élodie  D'Arc ") == ["elodie", "d", "arc"]


def test_c4_7_emails_only_trimmed_and_lower_cased():
    assert norm_email(None) is None and norm_email("   ") is None
    assert norm_email(" A.B+tag@Ex.COM\n") == "a.b+tag@ex.com"


@pytest.mark.parametrize("raw,region,e164", [
    ("   ", None, None), (None, "US", None), ("020 7946 0958", "gb", "+442079460958"),
    ("01 23 45 67 89", "", "+33123456789"), ("06 12 34 56 78", "fr", "+33612345678"),
    ("+1 415 555 2671", "GB", "+14155552671"),
])
def test_c4_7_phone_region_is_case_insensitive_and_defaults_to_france(raw, region, e164):
    assert norm_phone(raw, region) == e164


@pytest.mark.parametrize("country,region", [
    ("UK", "GB"), ("uk", "GB"), ("United Kingdom", "GB"), ("Royaume-Uni", "GB"), ("GB", "GB"),
    ("us", "US"), ("USA", "US"), ("États-Unis", "US"), ("Deutschland", "DE"), ("  fr ", "FR"),
    ("BE", "BE"), ("Belgique", "BE"), ("", "FR"), ("ZZ", "FR"), ("Narnia", "FR"),
])
def test_c4_7_region_for_country_names_codes_and_uk(country, region):
    """"UK" is not an ISO region (GB is): a name or code the table knows wins over a bad code."""
    assert region_for(country) == region


def test_text_problem_names_nul_and_lone_surrogates():
    assert text_problem("plain text, accents é, emoji 🙂") is None
    assert text_problem("a\x00b") == "must not contain NUL characters"
    assert text_problem("\x00") == "must not contain NUL characters"
    assert text_problem("lone \ud800 surrogate") == "is not valid Unicode text"
    assert text_problem("") is None


def test_phone_region_comes_from_configuration():
    """Issue 7: the default phone region is a setting (PHONE_REGION), not "FR" in four places."""
    from webapp import create_app, normalize
    from webapp.fields import FieldError, model_specs
    from webapp.models import Contact

    try:
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "PHONE_REGION": "GB"})
        assert normalize.norm_phone("020 7946 0958") == "+442079460958"
        model_specs(Contact)["phone"].parse("020 7946 0958")
        with pytest.raises(ValueError, match="PHONE_REGION 'XX' is not a region"):
            normalize.set_default_region("XX")
        with pytest.raises(ValueError, match="PHONE_REGION '' is not a region"):
            normalize.set_default_region("")  # an empty setting is named as such
    finally:
        normalize.set_default_region("FR")
    assert normalize.norm_phone("01 23 45 67 89") == "+33123456789"
    with pytest.raises(FieldError):
        model_specs(Contact)["phone"].parse("12")

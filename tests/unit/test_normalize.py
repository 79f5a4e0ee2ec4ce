"""C4.7: the normalised keys used for duplicate look-ups."""

import pytest

from webapp.normalize import norm_company, norm_email, norm_name, norm_phone, region_for


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

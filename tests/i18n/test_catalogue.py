"""The catalogues are complete (issue 8): every translatable string of the code and templates,
extracted the way `make messages` does, has a French translation, with the same placeholders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "webapp" / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w*\}")


def _extract(tmp_path) -> list:
    pot = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).with_name("pybabel")), "-q", "extract", "-F", "babel.cfg",
                    "-k", "_l", "-k", "N_", "-k", "Text", "-k", "N_plural:1,2", "--no-location", "-o", str(pot), "."],
                   cwd=ROOT, check=True)
    with pot.open("rb") as f:
        return [m for m in read_po(f) if m.id]


def _catalogue(lang: str):
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=lang)


def _ids(message) -> tuple:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def test_every_msgid_has_a_french_translation(tmp_path):
    messages = _extract(tmp_path)
    assert len(messages) > 300, "extraction found suspiciously few strings"
    french = _catalogue("fr")
    missing = []
    for message in messages:
        entry = french.get(message.id)
        strings = [] if entry is None else (entry.string if isinstance(entry.string, tuple) else (entry.string,))
        if entry is None or entry.fuzzy or not strings or not all(strings):
            missing.append(_ids(message)[0])
    assert not missing, f"{len(missing)} untranslated msgids in fr, e.g. {missing[:15]}"


def test_translations_keep_their_placeholders():
    wrong = []
    for message in _catalogue("fr"):
        if not message.id or not message.string:
            continue
        ids = _ids(message)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        for string in strings:
            # A French singular may spell the number out ("une piste") and leave %(num)d out.
            if set(PLACEHOLDER.findall(string)) - expected or (
                    set(PLACEHOLDER.findall(ids[0])) - {"%(num)d", "%(num)s"} - set(PLACEHOLDER.findall(string))):
                wrong.append((ids[0], string))
    assert not wrong, wrong[:10]


def test_catalogues_have_no_obsolete_or_fuzzy_entries():
    for lang in ("en", "fr"):
        catalogue = _catalogue(lang)
        assert not catalogue.obsolete, (lang, list(catalogue.obsolete)[:5])
        assert not [m.id for m in catalogue if m.id and m.fuzzy], lang

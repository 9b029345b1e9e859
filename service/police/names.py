"""The key the police name search compares: what a name looks like, not how it was typed.

A guest may type "Ｚｈａｎｇ Ｗｅｉ" in full width, "Zhаng Wei" with a Cyrillic "а", "Zhanɡ Wei" with
a Latin script "ɡ", "Zhāng Wēi" with its tones, or hide an invisible mark or filler in it; all read
as "Zhang Wei" on a screen, and a search for "Zhang Wei" must find them. The key is the name in
Unicode NFKC (full width to ASCII), decomposed, with only its letters and digits (no spaces,
punctuation, marks or invisible fillers), each non-ASCII letter that the Unicode confusables table
(via ``confusable_homoglyphs``) lists as a look-alike of an ASCII letter replaced by that letter,
case folded. Chinese characters are kept as they are. What the guest typed is kept, and shown,
unchanged.
"""

from __future__ import annotations

import functools
import unicodedata

import asyncpg
from confusable_homoglyphs import categories, confusables

# Scripts whose characters are kept as they are: shared digits, Chinese.
KEPT_SCRIPTS = frozenset({"COMMON", "HAN"})
# Letters (category Lo) that show as nothing: the Hangul fillers, default-ignorable in Unicode.
INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
BATCH = 1000


@functools.cache
def _as_latin(char: str) -> str:
    if char.isascii() or categories.alias(char) in KEPT_SCRIPTS:
        return char
    letters = _latin_lookalikes(char)
    # A capital looks like a capital: Greek Iota is "I" (as its small letter is "i"), not the "l" the table lists.
    same_case = [letter for letter in letters if letter.isupper() == char.isupper()]
    if not same_case and char.isupper():
        same_case = [letter.upper() for letter in _latin_lookalikes(char.lower())]
    return (same_case or letters or [char])[0]


def _latin_lookalikes(char: str) -> list[str]:
    # No preferred script: Latin's own look-alikes ("ɑ", "ɡ", "ı") are listed too.
    return [glyph["c"] for found in confusables.is_confusable(char, greedy=True, preferred_aliases=[]) or ()
            for glyph in found["homoglyphs"] if len(glyph["c"]) == 1 and glyph["c"].isascii() and glyph["c"].isalpha()]


def _shown_letter(char: str) -> bool:
    """A letter or digit one sees: not a space, punctuation, a mark (accents, tones, variation selectors,
    the combining grapheme joiner) or a filler."""
    return unicodedata.category(char)[0] in "LN" and char not in INVISIBLE_LETTERS


def name_key(name: str) -> str:
    # Look-alikes before case folding: a Greek capital Zeta looks like Z, its small letter like nothing Latin.
    letters = filter(_shown_letter, unicodedata.normalize("NFD", unicodedata.normalize("NFKC", name)))
    # Composed again before the look-up: a Hangul syllable is compared whole, not as its jamo.
    return "".join(_as_latin(char) for char in unicodedata.normalize("NFC", "".join(letters))).casefold()


async def fill_missing_name_keys(conn: asyncpg.Connection) -> int:
    """Key the guests stored before keys existed (migration 0010 adds the column empty) or before the key changed
    (0017 empties it); at start-up."""
    filled = 0
    while rows := await conn.fetch(
            "SELECT id, full_name FROM stay_guests WHERE name_key IS NULL LIMIT $1", BATCH):
        await conn.executemany("UPDATE stay_guests SET name_key = $2 WHERE id = $1",
                               [(row["id"], name_key(row["full_name"])) for row in rows])
        filled += len(rows)
    return filled

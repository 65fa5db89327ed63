"""Labelled screening cases from a real, published list: name variants of its primary names and aliases in the
classes customers really write, and people on no list from Faker's locales (romanised).

The variants are made from the list's own names, with real systems where they exist: Cyrillic names are
written back in Cyrillic (the list gives BGN/PCGN romanisations) and romanised again by ``iuliia`` in the
other systems in use (ISO 9/GOST 7.79, ICAO Doc 9303 passports, the older MVD passport styles, the scholarly
and the Wikipedia styles); legal forms are found and rewritten by OpenSanctions' ``rigour`` database. The
Arabic respellings are the alternations of the romanisations in use for Arabic names (vowels, doubled
letters, q/k/g, kh/h, dh/z/d, th/t, sh/ch, j/dj, ``-i``/``-y``/``-iy`` endings, ei/ay, w/ou): the list's
Arabic names carry no original script to generate them from. Faker's non-Latin names are romanised by
``anyascii`` (Chinese and Japanese by Faker's own romanised names).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from paybatch.screening.lists import SanctionsEntry, SanctionsList
from paybatch.screening.matcher import Customer
from paybatch.screening.synthetic import reading_order, variant

CLASSES = ("exact", "alias", "name_order", "arabic_particle", "western_particle", "hyphenated", "cyrillic_translit",
           "cyrillic_script", "arabic_translit", "typo", "transposition", "initials", "dropped_middle", "added_middle",
           "nickname", "legal_form")
LOCALES = ("en_US", "en_GB", "en_NG", "en_IN", "en_PK", "de_DE", "fr_FR", "es_ES", "es_MX", "it_IT", "pt_BR", "nl_NL",
           "pl_PL", "tr_TR", "ru_RU", "uk_UA", "el_GR", "ar_SA", "fa_IR", "zh_CN", "ja_JP", "ko_KR", "th_TH", "id_ID",
           "hi_IN")

CYRILLIC_LANDS = ("russia", "ukraine", "belarus", "kazakhstan", "kyrgyzstan", "moldova", "tajikistan", "uzbekistan")
CYRILLIC_PROGRAMS = ("UKRAINE", "RUSSIA", "BELARUS")
PATRONYMIC = re.compile(r"(ovich|evich|ovna|evna|yich)$", re.I)
ARABIC_LANDS = ("iraq", "syria", "lebanon", "yemen", "saudi", "jordan", "egypt", "libya", "sudan", "kuwait", "qatar",
                "bahrain", "emirates", "oman", "palestin", "west bank", "gaza", "algeria", "tunisia", "morocco",
                "somalia", "mauritania", "afghanistan", "pakistan")
ARABIC_MARKERS = re.compile(r"\b(al|el|abu|abou|bin|ibn|abd|abdul|abdel|muhammad|mohammed|mohamed|ahmad|ahmed)\b", re.I)


@dataclass(frozen=True)
class Case:
    customer: Customer
    truth: str  # the entry id a screener must find ("" for a negative)
    label: str  # the variant class, or the negative's locale


def _is_cyrillic(entry: SanctionsEntry) -> bool:
    lands = " ".join(entry.countries).lower()
    return entry.type == "individual" and (any(c in lands for c in CYRILLIC_LANDS)
                                           or any(p.startswith(CYRILLIC_PROGRAMS) for p in entry.programs)
                                           or any(PATRONYMIC.search(w) for w in entry.names[0].split()))


def _is_arabic(entry: SanctionsEntry, name: str) -> bool:
    lands = " ".join(entry.countries).lower()
    return bool(ARABIC_MARKERS.search(name)) or any(c in lands for c in ARABIC_LANDS)


# --- Cyrillic: back to the original script, then romanised in the other systems ----------------------------

_TO_CYRILLIC = (("shch", "щ"), ("yo", "ё"), ("zh", "ж"), ("kh", "х"), ("ts", "ц"), ("ch", "ч"), ("sh", "ш"),
                ("yu", "ю"), ("ya", "я"), ("ye", "е"), ("iy", "ий"), ("yy", "ый"), ("'", "ь"), ("a", "а"), ("b", "б"),
                ("v", "в"), ("g", "г"), ("d", "д"), ("e", "е"), ("z", "з"), ("i", "и"), ("y", "ы"), ("k", "к"),
                ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"),
                ("u", "у"), ("f", "ф"), ("c", "к"), ("h", "х"), ("w", "в"), ("x", "кс"), ("j", "дж"), ("q", "к"))
_VOWELS = "аеёиоуыэюяй"


def to_cyrillic(word: str) -> str:
    """A BGN/PCGN romanisation (OFAC's) written back in Cyrillic: "Yevgeniy" → "Евгений"."""
    low, out, i = word.lower(), [], 0
    while i < len(low):
        for latin, cyr in _TO_CYRILLIC:
            if low.startswith(latin, i):
                if latin == "y" and i and low[i - 1] in "aeiou":
                    cyr = "й"  # "ay", "oy": a vowel's й; after a consonant "y" is ы
                out.append(cyr)
                i += len(latin)
                break
        else:
            out.append(low[i])
            i += 1
    text = "".join(out)
    return text[:1].upper() + text[1:]


def _cyrillic_systems() -> list[Callable[[str], str]]:
    import iuliia

    return [s.translate for s in (iuliia.GOST_779, iuliia.ICAO_DOC_9303, iuliia.MVD_310, iuliia.MVD_782, iuliia.SCIENTIFIC,
                                  iuliia.ALA_LC, iuliia.WIKIPEDIA, iuliia.TELEGRAM, iuliia.UNGEGN_1987, iuliia.BS_2979)]


# --- Arabic: the respellings of the romanisations in use ---------------------------------------------------

ARABIC_RESPELLINGS = (("u", "o"), ("o", "u"), ("u", "ou"), ("ou", "u"), ("i", "e"), ("e", "i"), ("i", "ee"), ("ee", "i"),
                      ("a", "e"), ("e", "a"), ("mm", "m"), ("m", "mm"), ("dd", "d"), ("ss", "s"), ("s", "ss"), ("q", "k"),
                      ("q", "g"), ("kh", "h"), ("kh", "ch"), ("dh", "z"), ("dh", "d"), ("th", "t"), ("sh", "ch"),
                      ("j", "dj"), ("j", "g"), ("ei", "ay"), ("ay", "ei"), ("w", "ou"), ("aa", "a"), ("a", "aa"))
ARABIC_ENDINGS = (("i", "y"), ("y", "i"), ("i", "iy"), ("iy", "i"), ("i", "ee"), ("ah", "a"), ("a", "ah"))


def arabic_respelling(word: str, rng: random.Random) -> str:
    low = word.lower()
    endings = [(a, b) for a, b in ARABIC_ENDINGS if low.endswith(a) and len(low) > len(a) + 2]
    if endings and rng.random() < 0.3:
        a, b = rng.choice(endings)
        return low[: -len(a)] + b
    options = [(a, b, m.start()) for a, b in ARABIC_RESPELLINGS for m in re.finditer(a, low[1:])]
    if not options:
        return low
    a, b, at = rng.choice(options)
    return low[: at + 1] + b + low[at + 1 + len(a):]


# --- particles -----------------------------------------------------------------------------------------------

ARABIC_PARTICLES = ("al", "el", "ul", "abu", "abou", "bin", "ben", "ibn", "bint", "abd", "abdul", "abdel", "abdal")
WESTERN_PARTICLES = ("van", "von", "der", "den", "de", "del", "della", "la", "le", "di", "da", "du", "dos", "das", "mac",
                     "mc", "st", "saint", "ter", "ten")


def _particle_variant(words: list[str], particles: tuple[str, ...], rng: random.Random) -> list[str] | None:
    """A particle written joined to the next word, apart, hyphenated, or dropped (whichever the name does not)."""
    low = [w.lower().strip(".,") for w in words]
    for i, w in enumerate(low):  # a particle hyphenated or joined in the name ("AL-QADHAFI"): write it apart or drop it
        for p in particles:
            if w.startswith(p + "-") and len(w) > len(p) + 2:
                rest = words[i][len(p) + 1:]
                choice = rng.choice(("apart", "joined", "dropped"))
                new = {"apart": [words[i][:len(p)], rest], "joined": [(words[i][:len(p)] + rest).lower().title()],
                       "dropped": [rest]}[choice]
                return [*words[:i], *new, *words[i + 1:]]
    spots = [i for i, w in enumerate(low[:-1]) if w in particles]
    if not spots:
        return None
    i = rng.choice(spots)
    j = i + 1
    while j < len(low) - 1 and low[j] in particles:  # "van der Berg", "abd al Rahman": the whole run of particles
        j += 1
    run, head = words[i:j], words[j]
    choice = rng.choice(("joined", "hyphenated", "dropped"))
    new = {"joined": [("".join(run) + head).lower().title()], "hyphenated": ["-".join([*run, head])], "dropped": [head]}[choice]
    if choice == "dropped" and len(words) - len(run) < 2:
        return None
    return [*words[:i], *new, *words[j + 1:]]


def _hyphenated(name: str, rng: random.Random) -> list[str] | None:
    """A compound surname ("LECHUGA LICONA", "AL-TIKRITI") written hyphenated, joined or apart, whichever it is not."""
    if "," not in name:
        return None
    surname, _, given = name.partition(",")
    parts = surname.replace("-", " ").split()
    if len(parts) < 2 or any(len(p) < 3 for p in parts):
        return None
    written = "-".join(parts) if "-" not in surname else " ".join(parts)
    new = written if rng.random() < 0.5 else parts[0] + "".join(p.lower() for p in parts[1:])
    return [*given.split(), new]


# --- legal forms --------------------------------------------------------------------------------------------

EXPANSIONS = {"llc": "Limited Liability Company", "ooo": "Obshchestvo s Ogranichennoy Otvetstvennostyu",
              "jsc": "Joint Stock Company", "ojsc": "Open Joint Stock Company", "cjsc": "Closed Joint Stock Company",
              "pjsc": "Public Joint Stock Company", "ao": "Aktsionernoye Obshchestvo", "sa": "Sociedad Anonima",
              "gmbh": "Gesellschaft mit beschraenkter Haftung", "ag": "Aktiengesellschaft", "coltd": "Company Limited",
              "ltd": "Limited", "corp": "Corporation", "inc": "Incorporated", "plc": "Public Limited Company",
              "fze": "Free Zone Establishment", "srl": "Societa a responsabilita limitata", "sarl": "Societe a responsabilite limitee",
              "ltda": "Limitada", "pvtltd": "Private Limited", "bv": "Besloten Vennootschap"}


def legal_form_variant(name: str, rng: random.Random) -> str | None:
    """The entity's legal form abbreviated, expanded, in its generic English class, or dropped; one added where it has none."""
    from rigour.names.org_types import extract_org_types, replace_org_types_compare, replace_org_types_display

    found = extract_org_types(name)
    if not found:
        return f"{name} {rng.choice(('LLC', 'Ltd', 'S.A.', 'GmbH', 'JSC', 'Co., Ltd.'))}"
    matched, compare = found[-1]
    bare = re.sub(rf"(?<!\w){re.escape(matched)}(?![\w.])", " ", name).strip(" ,").split()
    if not bare:
        return None
    choices = {
        "abbreviated": replace_org_types_display(name),
        "generic": re.sub(r"\b(llc|jsc)\b", lambda m: m.group(1).upper(), replace_org_types_compare(name, generic=True)),
        "expanded": re.sub(rf"(?<!\w){re.escape(matched)}(?![\w.])", EXPANSIONS[compare], name) if compare in EXPANSIONS else "",
        "dropped": " ".join(bare),
    }
    options = [v for v in choices.values() if v and v.lower() != name.lower()]
    return rng.choice(options) if options else None


# --- the cases -------------------------------------------------------------------------------------------------

def make_variant(entry: SanctionsEntry, kind: str, rng: random.Random, given_names: list[str]) -> str | None:
    """A name of ``entry`` changed the way ``kind`` says, or None where the kind does not apply to the entry."""
    primary = entry.names[0]
    person = entry.type == "individual"
    words = reading_order(primary)
    if kind == "exact":
        return primary
    if kind == "alias":
        return rng.choice(entry.names[1:]) if len(entry.names) > 1 else None
    if kind == "name_order":
        if not person or len(words) < 2:
            return None
        return " ".join([words[-1], *words[:-1]]) if "," not in primary else " ".join(primary.replace(",", " ").split())
    if kind == "arabic_particle":
        return " ".join(out) if _is_arabic(entry, primary) and (out := _particle_variant(words, ARABIC_PARTICLES, rng)) else None
    if kind == "western_particle":  # in people's names: "DE LA CRUZ" joined; a company's "S.A. DE C.V." is no particle
        return " ".join(out) if person and (out := _particle_variant(words, WESTERN_PARTICLES, rng)) else None
    if kind == "hyphenated":
        return " ".join(out) if person and (out := _hyphenated(primary, rng)) else None
    if kind in {"cyrillic_translit", "cyrillic_script"}:
        if not _is_cyrillic(entry) or not all(w.replace("-", "").isalpha() for w in words):
            return None
        cyrillic = " ".join("-".join(to_cyrillic(p) for p in w.split("-")) for w in words)
        if kind == "cyrillic_script":
            return cyrillic
        for system in rng.sample(_cyrillic_systems(), 10):
            romanised = system(cyrillic)
            if romanised.lower() != " ".join(words).lower():
                return romanised
        return None
    if kind == "arabic_translit":
        if not person or not _is_arabic(entry, primary):
            return None
        spots = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha() and w.lower() not in ARABIC_PARTICLES]
        if not spots:
            return None
        out = list(words)
        for i in rng.sample(spots, min(len(spots), rng.choice((1, 1, 2)))):
            out[i] = arabic_respelling(out[i], rng).title()
        return " ".join(out) if out != words else None
    if kind == "typo":
        return variant(primary, "typo", rng)  # the generated list's typo and transposition makers, on real names
    if kind == "transposition":
        return variant(primary, "transposition", rng)
    if kind == "initials":
        return " ".join([words[0][0] + ".", *words[1:]]) if person and len(words) >= 3 else None
    if kind == "dropped_middle":  # the middle names dropped, the whole surname kept
        surname, _, given = primary.partition(",")
        names = given.split()
        if not person or len(names) < 2 or names[0].lower().strip("'") in ARABIC_PARTICLES:
            return None
        return " ".join([names[0], surname.strip()])
    if kind == "added_middle":
        return " ".join([words[0], rng.choice(given_names), *words[1:]]) if person and len(words) >= 2 else None
    if kind == "nickname":
        from nicknames import NickNamer

        if not person:
            return None
        nicks = sorted(n for n in NickNamer().nicknames_of(words[0].lower()) if len(n) > 2)
        return " ".join([rng.choice(nicks).title(), *words[1:]]) if nicks else None
    if kind == "legal_form":
        return legal_form_variant(primary, rng) if entry.type == "entity" else None
    raise ValueError(f"unknown variant class {kind!r}")


def positives(sanctions: SanctionsList, per_class: int, seed: int = 5) -> list[Case]:
    """``per_class`` variants of each class, each of a different entry where the list has enough (seeded)."""
    rng = random.Random(seed)
    people = [e for e in sanctions.entries if e.type in {"individual", "entity"}]
    given = sorted({reading_order(e.names[0])[0].title() for e in people if e.type == "individual" and "," in e.names[0]})
    cases = []
    for kind in CLASSES:
        order = list(people)
        rng.shuffle(order)
        made = 0
        for entry in order:
            name = make_variant(entry, kind, rng, given)
            if not name:
                continue
            cases.append(Case(Customer(f"{kind}-{made}", name, entry.type), entry.id, kind))
            made += 1
            if made == per_class:
                break
    return cases


def negatives(per_locale: int, seed: int = 3) -> list[Case]:
    """People on no list: Faker's given and family names of each locale, romanised."""
    from anyascii import anyascii
    from faker import Faker

    cases = []
    for locale in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(seed)
        romanised = hasattr(fake, "first_romanized_name")
        seen: set[str] = set()
        for _ in range(per_locale * 20):  # distinct people: some locales' pools are small
            if romanised:
                first, last = fake.first_romanized_name(), fake.last_romanized_name()
            else:
                first, last = anyascii(fake.first_name()).title(), anyascii(fake.last_name()).title()
            name = f"{first} {last}" if locale[:2] not in {"zh", "ko", "vi"} else f"{last} {first}"
            if name not in seen:
                seen.add(name)
                cases.append(Case(Customer(f"{locale}-{len(seen)}", name, "individual"), "", locale))
            if len(seen) == per_locale:
                break
    return cases

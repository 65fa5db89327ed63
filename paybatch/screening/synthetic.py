"""A generated sanctions list in OFAC's formats, name variants over it, and realistic negatives (seeded).

No real list is vendored: tests and the benchmark screen against names made here from pools of many
origins (Arabic, Persian, Russian with Cyrillic aliases, Greek with Greek-script aliases, Chinese,
Korean, Spanish, Turkish, English), entities with legal suffixes, and aliases. ``variant`` makes the
kinds of difference screening must see through; ``negatives`` makes customers who are on no list.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from paybatch.screening.matcher import Customer

GIVEN = {
    "arabic": "mohammed ahmed ali omar khalid yusuf ibrahim hassan hussein abdullah mustafa tariq samir karim nabil walid "
              "faisal hamza bilal jamal rashid saeed majid adel nasser fouad ziad rami amin salim",
    "persian": "reza mehdi hossein abbas javad majid saeed hamid mahmoud amir kaveh dariush bahram farhad parviz ali "
               "morteza mojtaba ehsan babak",
    "russian": "vladimir sergei alexei dmitri nikolai ivan mikhail andrei yuri oleg igor boris viktor pavel arkady "
               "gennady konstantin leonid stanislav vyacheslav",
    "greek": "georgios konstantinos dimitrios nikolaos ioannis christos panagiotis vasileios eleftherios spyridon "
             "athanasios michail",
    "chinese": "wei jun ming hui lei jian hong yong qiang ping xiaoming jianguo zhiwei haitao",
    "korean": "minjun seojun dohyun jiho junwoo hyunwoo jisung sungmin youngho kwangsu",
    "spanish": "jose juan carlos luis miguel javier alejandro fernando ricardo eduardo rafael sergio andres diego "
               "manuel",
    "turkish": "mehmet mustafa ahmet huseyin hasan ibrahim ismail osman yusuf murat emre burak",
    "english": "robert william james john richard thomas charles michael david joseph edward margaret elizabeth "
               "katherine patricia",
}
SURNAMES = {
    "arabic": "al-rashid haddad nasrallah khalil mansour abbas saleh qasim hamdan awad darwish barakat shaheen "
              "tahir zaidan yassin jaber nasser othman karam bakri sabbagh hijazi khoury",
    "persian": "hosseini mohammadi rezaei ahmadi moradi karimi jafari rahimi sadeghi ghorbani tehrani kazemi "
               "shirazi esfahani yazdani",
    "russian": "ivanov petrov sidorov smirnov kuznetsov popov volkov sokolov lebedev kozlov novikov morozov "
               "pavlov orlov zaitsev vinogradov belov medvedev",
    "greek": "papadopoulos georgiou nikolaidis konstantinidis dimitriou karagiannis vlachos economou "
             "papanikolaou alexiou",
    "chinese": "wang li zhang liu chen yang huang zhao zhou wu xu sun zhu hu guo",
    "korean": "kim lee park choi jung kang cho yoon jang lim han shin",
    "spanish": "garcia rodriguez martinez hernandez lopez gonzalez perez sanchez ramirez torres flores rivera "
               "gomez diaz morales ortiz castillo",
    "turkish": "yilmaz kaya demir sahin celik yildiz yildirim ozturk aydin ozdemir arslan dogan",
    "english": "smith johnson williams brown jones miller davis wilson anderson taylor thomas moore martin "
               "thompson white harris clark",
}
# Syllables per origin: surnames are built from them (a real list has tens of thousands of distinct tokens).
SYLLABLES = {
    "arabic": ("ha da ra sa ma na ka ba ja za ta fa qa kha sha ha mi ri di li su bu mu nu hi "
               "ab al am an ar as ba bd dh fi gh"),
    "persian": "ba da fa ja ka ma na pa ra sa ta va za sha kha gh ho mo ro so jo zi ri ni mi pi",
    "russian": "vo lo ko so bo mo no po ro to za ka ba da ga la ma na pa ra sa ta va le me ne re se ve bro gro kra",
    "greek": "pa po ka ko ni ma ta to la lo sta stra the dri gio ki vla xi ri ro mi me",
    "chinese": "zhang wang li liu chen yang huang zhao zhou wu xu sun zhu hu guo he lin luo gao ma liang song tang",
    "korean": "kim lee park choi jung kang cho yoon jang lim han shin seo kwon hwang ahn song",
    "spanish": "ga go ra ro mo me ca co ve vi sa so te to fe fi lo lu bar car man pe ri",
    "turkish": "ka ya de mi sa hi ce li yil di oz tur ay do gan ar sl bal kur ak",
    "english": "har ris ton wood ley ford field well brook stone ing ham mor gan ful ter son lan",
}
ENDINGS = {
    "arabic": ("", "i", "an", "ani", "awi", "ouri", "ah"), "persian": ("i", "ian", "zadeh", "pour", "nia", "far"),
    "russian": ("ov", "ev", "in", "sky", "enko", "kov", "ovich"), "greek": ("poulos", "idis", "akis", "ou", "as", "is"),
    "chinese": ("",), "korean": ("",), "spanish": ("ez", "es", "az", "ero", "ada", "illo"),
    "turkish": ("oglu", "ci", "er", "gil", "can", "soy"), "english": ("", "s", "son", "er")}


def _surname(rng: random.Random, origin: str) -> str:
    parts = SYLLABLES[origin].split()
    if origin in {"chinese", "korean"}:
        return rng.choice(parts)
    while True:
        word = "".join(rng.choice(parts) for _ in range(rng.choice((1, 2, 2, 3)))) + rng.choice(ENDINGS[origin])
        if len(word) >= 4:
            return word


CYRILLIC = dict(zip("abvgdezijklmnoprstufhcy", "абвгдезийклмнопрстуфхцы", strict=True))
GREEK = dict(zip("abgdezhiklmnxoprstyfcw", "αβγδεζηικλμνξοπρστυφχω", strict=True))
# Customers who are on no list: given names shared with the list's, real surnames of locales the list's
# generator does not draw from (one can still come close to a listed name, as real ones do).
NEGATIVE_SURNAMES = tuple("""
okafor adeyemi okonkwo balogun mensah boateng nakamura tanaka suzuki watanabe yamamoto kobayashi sato ito
schmidt fischer weber meyer wagner becker schulz hoffmann koch richter rossi bianchi ferrari esposito ricci
romano colombo dubois lefebvre moreau laurent girard bonnet kowalski nowak wisniewski wojcik kaminski
andersson johansson karlsson nilsson eriksson nielsen jensen hansen virtanen korhonen horvath nagy toth novak
svoboda dvorak silva santos pereira oliveira costa rodrigues fernandes mwangi otieno kamau banerjee sharma
patel gupta iyer reddy nair mehta desai nguyen tran pham dang bui hoang vu murphy kelly byrne walsh obrien
mcdonald campbell stewart robertson macleod jansen dejong vandenberg bakker visser peeters janssens maes
petersen lindqvist bergstrom halvorsen haugen kristiansen fonseca carvalho almeida ribeiro lima gomes
""".split())
ENTITY_WORDS = ("global eastern northern pacific atlas falcon crescent horizon meridian orient golden silver "
                "star delta summit capital marine petro aero steel textile cargo maritime energy logistics "
                "alpha nova vector zenith apex").split()
SUFFIXES = ("LLC", "LTD", "CORP", "INC", "GMBH", "S.A.", "FZE", "CO., LTD.", "JSC", "PLC", "LIMITED", "TRADING LLC")
PROGRAMS = ("SDGT", "IRAN", "RUSSIA-EO14024", "UKRAINE-EO13662", "DPRK3", "CYBER2", "SDNTK", "GLOMAG", "IFSR")


def _cap(name: str) -> str:
    return " ".join(part.upper() if i == 0 else part.title() for i, part in enumerate(name.split(" ")))


def _script(word: str, table: dict[str, str]) -> str:
    return "".join(table.get(ch, ch) for ch in word)


@dataclass
class GeneratedList:
    folder: Path
    entries: int
    names: int


def write_ofac_list(folder: Path, entries: int, *, seed: int = 0) -> GeneratedList:
    """SDN.CSV, ALT.CSV and ADD.CSV in OFAC's layout: individuals of every origin, entities, vessels; aliases."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    origins = sorted(GIVEN)
    seen: set[str] = set()
    sdn: list[list[str]] = []
    alt: list[list[str]] = []
    add: list[list[str]] = []
    names = 0
    ent = 1000
    while len(sdn) < entries:
        ent += 1
        roll = rng.random()
        remarks = "-0- "
        if roll < 0.72:  # an individual: SURNAME, Given [Middle]
            origin = rng.choice(origins)
            given = rng.choice(GIVEN[origin].split())
            # Real surnames of the origins the list is mostly made of; made-up ones of the same sound otherwise.
            common = origin not in {"english", "spanish"} and rng.random() < 0.15
            surname = rng.choice(SURNAMES[origin].split()) if common else _surname(rng, origin)
            middle = rng.choice(GIVEN[origin].split()) if rng.random() < 0.35 else ""
            primary = f"{surname.upper()}, {' '.join(w.title() for w in (given, middle) if w)}"
            kind = "individual"
            year = rng.randint(1940, 1995)
            month = rng.choice(["Jan", "Mar", "Jun", "Sep", "Nov"])
            remarks = f"DOB {rng.randint(1, 28):02d} {month} {year}; nationality {origin.title()}."
            aliases = []
            if rng.random() < 0.6:  # another spelling or order
                other = _surname(rng, origin) if rng.random() < 0.3 else surname
                aliases.append(f"{given.title()} {other.title()}")
            if origin == "russian" and rng.random() < 0.8:
                aliases.append(f"{_script(given, CYRILLIC).title()} {_script(surname, CYRILLIC).title()}")
            if origin == "greek" and rng.random() < 0.8:
                aliases.append(f"{_script(given, GREEK).title()} {_script(surname, GREEK).title()}")
        elif roll < 0.95:
            words = [*rng.sample(ENTITY_WORDS, rng.choice((0, 1, 1, 2))), _surname(rng, rng.choice(origins))]
            rng.shuffle(words)
            primary = f"{' '.join(words).upper()} {rng.choice(SUFFIXES)}"
            kind = "-0- "
            aliases = [f"{' '.join(words).upper()} {rng.choice(SUFFIXES)}"] if rng.random() < 0.4 else []
        else:
            primary = f"{rng.choice(ENTITY_WORDS).upper()} {rng.choice(ENTITY_WORDS).upper()}"
            kind = "vessel"
            aliases = []
        if primary in seen:
            continue
        seen.add(primary)
        sdn.append([str(ent), primary, kind, rng.choice(PROGRAMS), "-0- ", "-0- ", "-0- ", "-0- ", "-0- ", "-0- ", "-0- ", remarks])
        names += 1
        for i, alias in enumerate(dict.fromkeys(a for a in aliases if a != primary)):
            alt.append([str(ent), str(ent * 10 + i), "aka", alias, "-0- "])
            names += 1
        if rng.random() < 0.5:
            add.append([str(ent), str(ent * 10), "-0- ", "-0- ", rng.choice(["Iran", "Russia", "Syria", "China", "Venezuela",
                                                                           "Korea, North", "Turkey", "Greece"]), "-0- "])
    for name, rows in (("SDN.CSV", sdn), ("ALT.CSV", alt), ("ADD.CSV", add)):
        with (folder / name).open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, quoting=csv.QUOTE_MINIMAL).writerows(rows)
    return GeneratedList(folder, len(sdn), names)


# --- variants: what screening must see through -------------------------------------------------------------

TRANSLITERATIONS = (("kh", "h"), ("q", "k"), ("ou", "u"), ("u", "ou"), ("ee", "i"), ("ph", "f"), ("y", "i"),
                    ("i", "y"), ("j", "dj"), ("sh", "ch"), ("mm", "m"), ("dd", "d"), ("ss", "s"), ("e", "a"),
                    ("v", "w"), ("ei", "ey"), ("ks", "x"), ("z", "s"))
DIACRITICS = dict(zip("aeiounc", "áéíóúñç", strict=True))


def reading_order(name: str) -> list[str]:
    """A name's words given names first (OFAC writes people "SURNAME, Given Middle")."""
    if "," in name:
        surname, _, given = name.partition(",")
        name = f"{given} {surname}"
    return name.split()


def _edit_token(rng: random.Random, words: list[str], edit: Callable[[str], str], min_len: int = 5) -> list[str] | None:
    candidates = [i for i, w in enumerate(words) if len(w) >= min_len and w.isalpha()]
    if not candidates:
        return None
    i = rng.choice(candidates)
    return [*words[:i], edit(words[i]), *words[i + 1:]]


def variant(name: str, kind: str, rng: random.Random) -> str | None:
    """``name`` changed the way ``kind`` says, or None where the kind does not apply to it."""
    words = reading_order(name)
    if kind == "exact":
        return name
    if kind == "typo":
        def typo(w: str) -> str:
            i = rng.randrange(1, len(w) - 1)
            return w[:i] + rng.choice("aeioulnrst") + w[i + 1:] if rng.random() < 0.5 else w[:i] + w[i + 1:]
        out = _edit_token(rng, words, typo)
    elif kind == "transposition":
        def swap(w: str) -> str:
            i = rng.randrange(1, len(w) - 2)
            return w[:i] + w[i + 1] + w[i] + w[i + 2:]
        out = _edit_token(rng, words, swap)
    elif kind == "name_order":
        out = [words[-1], *words[:-1]] if len(words) > 1 else None
    elif kind == "dropped_middle":  # a person's middle name (OFAC writes people "SURNAME, Given Middle")
        out = [words[0], words[-1]] if len(words) >= 3 and "," in name else None
    elif kind == "added_token":
        out = [words[0], rng.choice(GIVEN["english"].split()).title(), *words[1:]] if len(words) >= 2 else None
    elif kind == "initials":
        out = [words[0][0] + ".", *words[1:]] if len(words) >= 3 else None
    elif kind == "diacritics":
        out = [("".join(DIACRITICS.get(c, c) if rng.random() < 0.3 else c for c in w)) for w in words]
    elif kind == "transliteration":
        def rule(w: str) -> str:
            options = [(a, b) for a, b in TRANSLITERATIONS if a in w.lower()]
            if not options:
                return w
            a, b = rng.choice(options)
            return w.lower().replace(a, b, 1).title()
        out = _edit_token(rng, words, rule, min_len=4)
        if out == words:
            out = None
    elif kind == "nickname":
        from nicknames import NickNamer

        namer = NickNamer()
        first = words[0].lower()
        nicks = sorted(n for n in namer.nicknames_of(first) if len(n) > 2)
        out = [rng.choice(nicks).title(), *words[1:]] if nicks else None
    elif kind == "legal_suffix":
        bare = [w for w in words if w.upper().strip(".,") not in {s.strip(".,") for s in " ".join(SUFFIXES).split()}]
        out = [*bare, rng.choice(SUFFIXES)] if bare and bare != words else None
    else:
        raise ValueError(f"unknown variant kind {kind!r}")
    return " ".join(out) if out else None


PERSON_ONLY = frozenset({"dropped_middle", "initials", "nickname"})
ENTITY_ONLY = frozenset({"legal_suffix"})
VARIANT_KINDS = ("exact", "typo", "transposition", "name_order", "dropped_middle", "added_token", "initials", "diacritics",
                 "transliteration", "nickname", "legal_suffix")


def negatives(count: int, *, seed: int = 0) -> list[Customer]:
    """Customers of many locales whose surnames no list name has (given names are shared with the list's)."""
    rng = random.Random(seed)
    origins = sorted(GIVEN)
    out = []
    for i in range(count):
        given = rng.choice(GIVEN[rng.choice(origins)].split())
        middle = f" {rng.choice(GIVEN['english'].split()).title()}" if rng.random() < 0.2 else ""
        surname = rng.choice(NEGATIVE_SURNAMES)
        out.append(Customer(f"n{i:07d}", f"{given.title()}{middle} {surname.title()}", "individual"))
    return out

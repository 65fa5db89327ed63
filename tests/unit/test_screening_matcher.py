"""Screening: normalisation, the score's documented cases, and blocking parity with the exhaustive scorer."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paybatch.screening.lists import SanctionsEntry, build, parse
from paybatch.screening.matcher import Customer, ListIndex
from paybatch.screening.names import skeleton, tokens
from paybatch.screening.similarity import token_similarity
from paybatch.screening.synthetic import GIVEN, VARIANT_KINDS, negatives, variant, write_ofac_list


@pytest.mark.parametrize(("name", "kind", "expected"), [
    ("AL-QADHAFI, Muammar Mohammed", "individual", ("muammar", "mohammed", "qadhafi")),
    ("Владимир Путин", "", ("vladimir", "putin")),
    ("王小明", "", ("wang", "xiao", "ming")),
    ("José Müller GmbH", "", ("jose", "muller")),
    ("ACME TRADING CO., LTD.", "entity", ("acme",)),
    ("Yusuf Sa", "individual", ("yusuf", "sa")),  # "Sa" is a surname here, not a société anonyme
    ("LLC", "entity", ("llc",)),  # a name made only of legal words keeps them
])
def test_tokens(name: str, kind: str, expected: tuple[str, ...]) -> None:
    assert tokens(name, kind=kind) == expected


def test_skeleton_folds_transliteration_spellings() -> None:
    assert skeleton("yusuf") == skeleton("yousef") and skeleton("igor") == skeleton("ygor")
    assert skeleton("khalid") == skeleton("halid")
    # Skeletons alone are coarse ("thomas" and "temees" share one): a transliteration needs Jaro-Winkler too.
    assert skeleton("thomas") == skeleton("temees") and token_similarity("thomas", "temees")[1] != "transliteration"
    assert token_similarity("yusuf", "yousef") == (0.92, "transliteration")


def _index(*entries: tuple[str, str, list[str]]) -> ListIndex:
    return ListIndex(build([SanctionsEntry(id=i, type=t, names=n) for i, t, n in entries], "test"))


def test_the_known_false_positives_do_not_alert_and_the_right_names_do() -> None:
    index = _index(("e1", "individual", ["HABBASH, George"]), ("e2", "entity", ["GLOBAL SHIPPING LLC"]),
                   ("e3", "individual", ["QADHAFI, Muammar", "Moammar GADDAFI"]), ("e4", "entity", ["ROSNEFT CORP"]))
    people = [Customer("bush", "George Bush", "individual"), Customer("llc", "Acme Trading LLC", "entity"),
              Customer("corp", "Lehman Corp", "entity"), Customer("q", "Muammar al-Qadhafi", "individual"),
              Customer("g", "Moamar Gaddafi", "individual"), Customer("r", "Rosneft", "entity")]
    found = {(m.customer_id, m.entry_id): m for m in index.match(people)}
    assert set(found) == {("q", "e3"), ("g", "e3"), ("r", "e4")}
    explained = found[("g", "e3")].explanation
    assert explained["alias"] and {t["how"] for t in explained["matched_tokens"]} <= {"exact", "one edit", "fuzzy",
                                                                                       "transliteration"}
    assert token_similarity("george", "george")[0] == 1.0 and token_similarity("bush", "habbash")[0] < 0.8


def test_type_date_of_birth_and_country_adjust_the_score() -> None:
    index = ListIndex(build([SanctionsEntry(id="p", type="individual", names=["PETROV, Ivan Sergeevich"],
                                            dobs=["1961-03-10"], countries=["Russia"])], "t"))
    base = index.match([Customer("c", "Ivan Sergeevich Petrov")], threshold=0)[0]
    same = index.match([Customer("c", "Ivan Sergeevich Petrov", "individual", "1961", "Russia")], threshold=0)[0]
    other = index.match([Customer("c", "Ivan Sergeevich Petrov", "entity", "1990", "France")], threshold=0)[0]
    assert same.score >= base.score > other.score
    assert other.explanation["components"] == {"name": base.explanation["components"]["name"], "type": -0.1, "dob": -0.08,
                                               "country": -0.04}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> ListIndex:
    folder = tmp_path_factory.mktemp("list")
    write_ofac_list(folder, 800, seed=4)
    return ListIndex(parse(folder))


def _customers(index: ListIndex, rng: random.Random, count: int) -> list[Customer]:
    out = []
    for i in range(count):
        entry = rng.choice(index.sanctions.entries)
        name = variant(rng.choice(entry.names), rng.choice(VARIANT_KINDS), rng) or entry.names[0]
        out.append(Customer(f"c{i}", name, rng.choice(["", "individual", "entity"])))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), threshold=st.sampled_from([0.5, 0.8, 0.92]))
def test_blocking_finds_exactly_what_the_exhaustive_scorer_finds(generated: ListIndex, seed: int, threshold: float) -> None:
    rng = random.Random(seed)
    people = _customers(generated, rng, 12) + negatives(6, seed=seed)
    people.append(Customer("x", " ".join(rng.choice(GIVEN[o].split()) for o in rng.sample(sorted(GIVEN), 2))))
    people.append(Customer("i", f"{rng.choice('abcdefghijklmnopqrstuvwxyz')}. {rng.choice(generated.vocab)}"))
    _, _, toks = rng.choice(generated.names)  # a particle or two adjacent tokens written together
    people.append(Customer("p", " ".join([rng.choice(["al", "abu", "vander", "mc"]) + toks[0], *toks[1:]])))
    if len(toks) > 1:
        people.append(Customer("j", " ".join([toks[0] + toks[1], *toks[2:]])))
    blocked = {(m.customer_id, m.entry_id, m.score) for m in generated.match(people, threshold)}
    exhaustive = {(m.customer_id, m.entry_id, m.score) for m in generated.match_exhaustive(people, threshold)}
    assert blocked == exhaustive


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40))
def test_blocking_parity_on_arbitrary_text(generated: ListIndex, name: str) -> None:
    people = [Customer("q", name), Customer("e", name, "entity")]
    assert {(m.entry_id, m.score) for m in generated.match(people, 0.5)} == \
        {(m.entry_id, m.score) for m in generated.match_exhaustive(people, 0.5)}


def test_ofac_files_parse_with_aliases_addresses_and_dates(tmp_path: Path) -> None:
    (tmp_path / "SDN.CSV").write_text(
        '36,"AEROCARIBBEAN AIRLINES",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n'
        '2674,"HUSSEIN, Saddam",individual,"IRAQ2",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 28 Apr 1937; POB al-Awja, Iraq; '
        'nationality Iraq."\n\x1a\n')
    (tmp_path / "ALT.CSV").write_text('2674,1,"aka","AL-TIKRITI, Saddam Hussein",-0- \n36,2,"aka","AERO-CARIBBEAN",-0- \n')
    (tmp_path / "ADD.CSV").write_text('36,25,-0- ,"Havana",Cuba,-0- \n')
    sanctions = parse(tmp_path)
    by_id = {e.id: e for e in sanctions.entries}
    assert by_id["ofac-2674"].names == ["HUSSEIN, Saddam", "AL-TIKRITI, Saddam Hussein"]
    assert by_id["ofac-2674"].dobs == ["1937-04-28"] and by_id["ofac-2674"].countries == ["Iraq"]
    assert by_id["ofac-36"].type == "entity" and by_id["ofac-36"].countries == ["Cuba"]
    assert parse(tmp_path).version == sanctions.version  # the same list, the same version
    (tmp_path / "ALT.CSV").write_text('999,1,"aka","NOBODY",-0- \n')
    with pytest.raises(Exception, match=r"ALT\.CSV line 1: alias of entry 999, which SDN\.CSV does not have"):
        parse(tmp_path)


def test_followthemoney_entities_parse(tmp_path: Path) -> None:
    path = tmp_path / "entities.ftm.json"
    path.write_text('{"id": "NK-1", "schema": "Person", "properties": {"name": ["Ivan Petrov"], "alias": ["Иван Петров"], '
                    '"birthDate": ["1961-03-10"], "nationality": ["ru"]}}\n'
                    '{"id": "x", "schema": "Address", "properties": {"full": ["Moscow"]}}\n'
                    '{"id": "NK-2", "schema": "Company", "properties": {"name": ["Oboronexport LLC"]}}\n')
    sanctions = parse(path)
    assert [(e.id, e.type, e.names) for e in sanctions.entries] == [
        ("NK-1", "individual", ["Ivan Petrov", "Иван Петров"]), ("NK-2", "entity", ["Oboronexport LLC"])]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json\n")
    with pytest.raises(Exception, match=r"bad\.json line 1: not a FollowTheMoney entity"):
        parse(bad)
    with pytest.raises(Exception, match="does not exist"):
        parse(tmp_path / "missing")


# Names as OFAC's SDN list (April 2021) writes them, and how customers write the same people.
REAL_LIST = [("ofac-1", "individual", ["AL-KA'BI, Sa'd bin Sa'd Muhammad Shariyan"]), ("ofac-2", "individual", ["ABD AL-RAHMAN, Atiyah"]),
             ("ofac-3", "individual", ["GHUMAYN, Abu Bakr Muhammad Muhammad"]), ("ofac-4", "individual", ["LECHUGA LICONA, Alfonso"]),
             ("ofac-5", "individual", ["FERNANDEZ DE LUNA, Gerardo"]), ("ofac-6", "individual", ["ZAHER EL DINE, Hamdi"]),
             ("ofac-7", "individual", ["NOOR, Haji Mohammad"]), ("ofac-8", "individual", ["ZHANG, Lei"]),
             ("ofac-9", "individual", ["LEE, John", "MEADOWS, John"]), ("ofac-10", "individual", ["ZHEREBTSOV, Yuriy Gennadievych"]),
             ("ofac-11", "individual", ["AL-ISSA, Issa"]), ("ofac-12", "individual", ["VAN DER BERG, Jan Willem"]),
             ("ofac-13", "individual", ["RAZVOZHAEV, Mikhail Vladimirovich"]), ("ofac-14", "individual", ["AFANASYEVA, Yulia Andreevna"]),
             ("ofac-15", "individual", ["KARYAKIN, Alexei Vyacheslavovich"])]


@pytest.fixture(scope="module")
def real_names() -> ListIndex:
    from paybatch.screening.lists import SanctionsEntry, build

    return ListIndex(build([SanctionsEntry(id=i, type=t, names=n) for i, t, n in REAL_LIST], "test"))


@pytest.mark.parametrize(("customer", "entry"), [
    ("Sa'd bin Sa'd Muhammad Shariyan Alka'bi", "ofac-1"),  # the article joined
    ("Atiyah Abdalrahman", "ofac-2"), ("Atiyah Abd-al-Rahman", "ofac-2"),  # abd + article + name, joined or hyphenated
    ("Abubakr Muhammad Muhammad Ghumayn", "ofac-3"),  # Abu joined
    ("Alfonso Lechugalicona", "ofac-4"), ("Alfonso Lechuga-Licona", "ofac-4"),  # a compound surname joined or hyphenated
    ("Gerardo Fernandez Deluna", "ofac-5"), ("Hamdi Zaher Eldine", "ofac-6"), ("Jan Willem Vanderberg", "ofac-12"),
    ("Haji Mohamad Nour", "ofac-7"),  # Arabic respellings: vowels, doubled letters
    ("Yurii Gennadiyevich Zherebcov", "ofac-10"),  # Cyrillic: ISO 9 / passport styles (ts/c, y/i)
    ("Isse Al-Issa", "ofac-11"),
    ("Mixail Vladimirovič Razvožaev", "ofac-13"),  # GOST 7.79 / scholarly: x for kh, č, ž
    ("Iulia Andreevna Afanaseva", "ofac-14"),  # ICAO Doc 9303: iu for yu
    ("Aleksej Vjačeslavovič Karjakin", "ofac-15"),  # ISO 9: j for й and for the y of я
])
def test_real_list_variants_match_their_entry(real_names: ListIndex, customer: str, entry: str) -> None:
    found = {m.entry_id for m in real_names.match([Customer("c", customer, "individual")])}
    assert entry in found


@pytest.mark.parametrize("customer", [
    "Zheng Lei",  # two Mandarin syllables differ in a vowel: two names, not one romanised twice
    "Le John", "Timothy Le",  # "Le" is a Vietnamese surname here, not a particle to drop
    "Ivan Leon",  # nickname pairs alone ("ivan"/"john", "leon"/"lee") never anchor a match
    "Abd Al",  # particles alone are no name
])
def test_short_common_tokens_particles_and_nicknames_do_not_carry_a_match(real_names: ListIndex, customer: str) -> None:
    assert real_names.match([Customer("c", customer, "individual")]) == []


def test_particles_and_compounds_keep_blocking_exact(real_names: ListIndex) -> None:
    people = [Customer(str(i), name) for i, name in enumerate([
        "Alkabi Sad", "Abdulrahman Atiyah", "Abu Bakr Ghumayn", "Lechugalicona", "Deluna Fernandez", "Eldine Hamdi",
        "Vanderberg", "Nour Haji", "Zhereb Tsov Yuriy", "Alissa Issa", "Al Issa", "Bakr Abu"])]
    assert {(m.customer_id, m.entry_id, m.score) for m in real_names.match(people, 0.3)} == \
        {(m.customer_id, m.entry_id, m.score) for m in real_names.match_exhaustive(people, 0.3)}

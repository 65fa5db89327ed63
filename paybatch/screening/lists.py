"""The sanctions list: OFAC's delimited files (SDN, ALT, ADD) or FollowTheMoney JSON, to one versioned list.

OFAC publishes SDN.CSV (one row per entry: number, name, type, programs, …, remarks), ALT.CSV (aliases:
entry number, alias number, type, name) and ADD.CSV (addresses: entry number, …, country); "-0-" means
empty, and dates of birth and nationalities live in the remarks ("DOB 10 Mar 1960; nationality Iraq").
OpenSanctions publishes FollowTheMoney entities, one JSON object per line (``schema``, ``properties``).
Either becomes a :class:`SanctionsList` whose version is the checksum of its content: the same list
gives the same version, so screening results name exactly the list they were made with.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from paybatch.errors import PaybatchError

NULL = "-0-"
OFAC_FILES = ("sdn.csv", "alt.csv", "add.csv")
_DOB = re.compile(r"\bDOB\s+(?:circa\s+)?(?:(\d{1,2})\s+)?(?:([A-Za-z]{3})\s+)?(\d{4})", re.IGNORECASE)
_NATIONALITY = re.compile(r"\b(?:nationality|citizen)\s+([A-Za-z][A-Za-z .'-]+?)(?:;|\.|$)", re.IGNORECASE)
_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
FTM_TYPES = {"Person": "individual", "Company": "entity", "Organization": "entity", "LegalEntity": "entity",
             "Vessel": "vessel", "Airplane": "aircraft"}


class ListError(PaybatchError):
    """A sanctions list file that cannot be read: which file, which line, why."""


class SanctionsEntry(BaseModel):
    id: str
    type: str  # individual | entity | vessel | aircraft
    names: list[str]  # the primary name first, then the aliases
    programs: list[str] = Field(default_factory=list)
    dobs: list[str] = Field(default_factory=list)  # YYYY-MM-DD or YYYY
    countries: list[str] = Field(default_factory=list)


class SanctionsList(BaseModel):
    version: str
    source: str
    entries: list[SanctionsEntry]

    @property
    def name_count(self) -> int:
        return sum(len(e.names) for e in self.entries)

    def to_bytes(self) -> bytes:
        return gzip.compress(self.model_dump_json().encode(), mtime=0)

    @classmethod
    def from_bytes(cls, data: bytes) -> SanctionsList:
        loaded = cls.model_validate_json(gzip.decompress(data))
        if checksum(loaded.entries) != loaded.version:
            raise ListError(f"sanctions list {loaded.version}: its content does not match its checksum")
        return loaded


def checksum(entries: Iterable[SanctionsEntry]) -> str:
    """The list's version: a SHA-256 of its entries in a canonical form (16 hex digits)."""
    canonical = json.dumps([e.model_dump() for e in entries], sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:16]


def build(entries: list[SanctionsEntry], source: str) -> SanctionsList:
    entries = sorted(entries, key=lambda e: e.id)
    return SanctionsList(version=checksum(entries), source=source, entries=entries)


def _value(text: str) -> str:
    text = text.strip()
    return "" if text == NULL else text


def _rows(path: Path, columns: int) -> Iterable[tuple[int, list[str]]]:
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="strict")
    except UnicodeDecodeError:
        text = path.read_bytes().decode("latin-1")  # OFAC's older files are Latin-1
    except OSError as exc:
        raise ListError(f"cannot read {path}: {exc.strerror}") from None
    for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or (len(row) == 1 and not row[0].strip()) or row[0].startswith("\x1a"):  # blank, end-of-file mark
            continue
        if len(row) < columns:
            raise ListError(f"{path.name} line {number}: {len(row)} fields, expected {columns} (is this OFAC's {path.name.upper()}?)")
        if not row[0].strip().isdigit():
            raise ListError(f"{path.name} line {number}: the entry number {row[0]!r} is not a number")
        yield number, row


def _dobs(remarks: str) -> list[str]:
    found = []
    for day, month, year in _DOB.findall(remarks):
        number = _MONTHS.get(month.lower()) if month else None
        found.append(f"{year}-{number:02d}-{int(day):02d}" if day and number else year)
    return found


def parse_ofac(folder: Path) -> SanctionsList:
    """SDN.CSV with ALT.CSV and ADD.CSV beside it (any case of the names; ALT and ADD optional)."""
    files = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    if "sdn.csv" not in files:
        raise ListError(f"{folder} has no SDN.CSV (OFAC's list: SDN.CSV, and optionally ALT.CSV and ADD.CSV)")
    entries: dict[str, SanctionsEntry] = {}
    for number, row in _rows(files["sdn.csv"], 12):
        ent, name, kind, programs, remarks = row[0].strip(), _value(row[1]), _value(row[2]).lower(), _value(row[3]), _value(row[11])
        if not name:
            raise ListError(f"SDN.CSV line {number}: entry {ent} has no name")
        nationalities = [n.strip() for n in _NATIONALITY.findall(remarks)]
        entries[ent] = SanctionsEntry(id=f"ofac-{ent}", type=kind if kind in {"individual", "vessel", "aircraft"} else "entity",
                                      names=[name], programs=[p.strip() for p in programs.split(";") if p.strip()],
                                      dobs=_dobs(remarks), countries=nationalities)
    aliases: dict[str, list[str]] = defaultdict(list)
    if "alt.csv" in files:
        for number, row in _rows(files["alt.csv"], 4):
            ent, alias = row[0].strip(), _value(row[3])
            if ent not in entries:
                raise ListError(f"ALT.CSV line {number}: alias of entry {ent}, which SDN.CSV does not have")
            if alias:
                aliases[ent].append(alias)
    if "add.csv" in files:
        for number, row in _rows(files["add.csv"], 5):
            ent, country = row[0].strip(), _value(row[4])
            if ent not in entries:
                raise ListError(f"ADD.CSV line {number}: address of entry {ent}, which SDN.CSV does not have")
            if country and country not in entries[ent].countries:
                entries[ent].countries.append(country)
    for ent, names in aliases.items():
        entries[ent].names += [n for n in names if n not in entries[ent].names]
    return build(list(entries.values()), f"ofac:{folder}")


def parse_ftm(path: Path) -> SanctionsList:
    """OpenSanctions' FollowTheMoney entities (one JSON object per line); schemas other than parties are skipped."""
    entries = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ListError(f"cannot read {path}: {exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entity: dict[str, Any] = json.loads(line)
            kind = FTM_TYPES.get(entity.get("schema", ""))
            props = entity.get("properties", {})
            names = [*props.get("name", []), *props.get("alias", []), *props.get("weakAlias", [])]
        except (ValueError, AttributeError, TypeError) as exc:
            raise ListError(f"{path.name} line {number}: not a FollowTheMoney entity ({exc})") from None
        if kind is None or not names:
            continue
        entries.append(SanctionsEntry(id=str(entity.get("id") or f"ftm-{number}"), type=kind, names=list(dict.fromkeys(names)),
                                      programs=list(props.get("program", []) or props.get("topics", [])),
                                      dobs=[d[:10] for d in props.get("birthDate", [])],
                                      countries=list(dict.fromkeys([*props.get("nationality", []), *props.get("country", [])]))))
    if not entries:
        raise ListError(f"{path.name}: no Person, Company, Organization, Vessel or Airplane entity with a name")
    return build(entries, f"ftm:{path.name}")


def parse(source: Path) -> SanctionsList:
    """A folder of OFAC files, or a FollowTheMoney file (.json/.jsonl/.ftm)."""
    if source.is_dir():
        return parse_ofac(source)
    if source.is_file():
        return parse_ftm(source)
    raise ListError(f"{source} does not exist (give OFAC's folder of SDN/ALT/ADD files or a FollowTheMoney JSON file)")


def list_key(version: str) -> str:
    return f"screening/lists/{version}/list.json.gz"


LATEST_KEY = "screening/lists/LATEST"


def store(clients: Any, sanctions: SanctionsList) -> str:
    """Put the list in the artifacts bucket under its version (a checksum) and make it the latest; the URI."""
    bucket = clients.settings.buckets.artifacts
    clients.s3.put_object(Bucket=bucket, Key=list_key(sanctions.version), Body=sanctions.to_bytes(),
                          Metadata={"entries": str(len(sanctions.entries)), "names": str(sanctions.name_count),
                                    "source": sanctions.source[:200]})
    clients.s3.put_object(Bucket=bucket, Key=LATEST_KEY, Body=sanctions.version.encode())
    return f"s3://{bucket}/{list_key(sanctions.version)}"


def load_stored(clients: Any, version: str | None = None) -> SanctionsList:
    """A stored list by version (default: the latest)."""
    bucket = clients.settings.buckets.artifacts
    try:
        if version is None:
            version = clients.s3.get_object(Bucket=bucket, Key=LATEST_KEY)["Body"].read().decode().strip()
        data = clients.s3.get_object(Bucket=bucket, Key=list_key(str(version)))["Body"].read()
    except clients.s3.exceptions.NoSuchKey:
        raise ListError(f"no sanctions list {version or 'stored yet'} in s3://{bucket}/screening/lists/ "
                        "(paybatch screen list update --from PATH)") from None
    except clients.s3.exceptions.NoSuchBucket:
        raise ListError(f"the bucket {bucket} of environment {clients.settings.env!r} does not exist, so it holds no "
                        f"sanctions list: set the environment up (paybatch local up --env {clients.settings.env}) or give "
                        "--list PATH") from None
    return SanctionsList.from_bytes(data)

"""The generated data's quality suite (Great Expectations), run after every generation.

Reads back whole partition dates (up to a row budget) of every table, derives the cross-table
facts a column expectation can check (does this clearing row match its authorization? is this
partition's sequence run consecutive?), validates them with one checkpoint, and writes Data Docs
and a profile report. A failed expectation fails the run, loudly.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from paybatch.generate.cards import hash_pan, luhn_valid
from paybatch.generate.profile import write_profile
from paybatch.generate.sinks import Sink
from paybatch.generate.spec import PAN_DIMENSION, TABLES, PaymentsSpec

_PAN_LIKE = re.compile(r"(?<!\d)\d{15,19}(?!\d)")


def read_tables(sink: Sink, files: list[dict[str, Any]], max_rows: int) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Whole dates of every table (from the combined lake), dates in order, until ``max_rows`` authorizations."""
    lake = [f for f in files if f["role"] == "lake" or f["role"] == "restricted"]
    dates: list[str] = []
    rows = 0
    for date in sorted({f["date"] for f in lake if f["date"]}):
        if dates and rows >= max_rows:
            break
        dates.append(date)
        rows += sum(f["rows"] for f in lake if f["date"] == date and f["table"] == "authorization")
    frames: dict[str, pd.DataFrame] = {}
    for table in (*TABLES, PAN_DIMENSION):
        parts = [pq.read_table(io.BytesIO(sink.get_bytes(f["role"], f["key"])))
                 for f in lake if f["table"] == table and (f["date"] in dates or f["date"] is None)]
        if parts:
            frames[table] = pa.concat_tables(parts).to_pandas(types_mapper=None)
    return frames, dates


def _share_rows(dimension: str, observed: pd.Series, expected: dict[str, float], n: int) -> list[dict[str, Any]]:
    rows = []
    for category, share in expected.items():
        tolerance = max(0.004, 4 * math.sqrt(max(share * (1 - share), 1e-9) / max(n, 1)))
        rows.append({"dimension": dimension, "category": category, "observed": float(observed.get(category, 0.0)),
                     "low": share - tolerance, "high": share + tolerance})
    return rows


def distribution_frame(spec: PaymentsSpec, auth: pd.DataFrame) -> pd.DataFrame:
    """One row per (dimension, category): the observed share and the spec's tolerance band."""
    n = len(auth)
    rows = _share_rows("transaction_type", auth["transaction_type"].value_counts(normalize=True),
                       {k: v.weight for k, v in spec.transaction_types.items()}, n)
    # A card's network is fixed in the PAN dimension: the sample is the cards, not the rows.
    rows += _share_rows("card_network", auth["card_network"].value_counts(normalize=True),
                        {k: v.weight for k, v in spec.cards.items()}, min(n, spec.volumes.pans))
    for column, rate in (("device_id", spec.null_rates.device_id), ("mcc", spec.null_rates.mcc),
                         ("latitude", spec.null_rates.location)):
        rows += _share_rows("null_rate", pd.Series({column: auth[column].isna().mean()}), {column: rate}, n)
    for name, kind in spec.transaction_types.items():
        of_type = auth[(auth["transaction_type"] == name) & auth["approved"]]
        if len(of_type) >= 200 and kind.settlement_rate > 0:
            settled = of_type["settlement_date"].notna().mean()
            rows += _share_rows("settlement_rate", pd.Series({name: settled}), {name: kind.settlement_rate}, len(of_type))
    # Amounts by MCC: the observed median within 15 % of the declared one (retail categories with enough rows).
    purchases = auth[auth["transaction_type"] == "PURCHASE"]
    for mcc, group in purchases.groupby("mcc"):
        declared = spec.merchant_categories[str(mcc)]
        if len(group) >= 500:
            rows.append({"dimension": "median_amount", "category": str(mcc), "observed": float(group["amount"].median()),
                         "low": declared.median_amount * 0.85, "high": declared.median_amount * 1.15})
    hours = auth["transaction_timestamp"].dt.hour
    peak = float(hours.value_counts().idxmax()) if n else math.nan
    rows.append({"dimension": "event_time", "category": "peak_hour", "observed": peak,
                 "low": spec.event_time.peak_hour - 1.0, "high": spec.event_time.peak_hour + 1.0})
    frame = pd.DataFrame(rows)
    frame.index = frame["dimension"] + ":" + frame["category"]  # failures name the category
    return frame


def partition_frame(spec: PaymentsSpec, auth: pd.DataFrame, chargebacks: pd.DataFrame | None,
                    allocations: list[dict[str, Any]]) -> pd.DataFrame:
    """Per (date, job allocation): row and sequence facts that must be exact (chargeback counts when generated)."""
    rows = []
    auth_date = auth["transaction_id"].str.slice(1, 9)  # T<yyyymmdd><sequence>: the partition date
    charged_back = set(chargebacks["transaction_id"]) if chargebacks is not None else set()
    by_date: dict[str, list[dict[str, Any]]] = {}
    for a in allocations:
        by_date.setdefault(a["date"], []).append(a)
    for compact, group in auth.groupby(auth_date):
        date = f"{compact[:4]}-{compact[4:6]}-{compact[6:]}"
        seq = group["sequence_number"]
        for a in by_date.get(str(date), []):
            mine = seq[(seq >= a["start"]) & (seq < a["start"] + a["count"])]
            row = {
                "date": date, "job_index": a["job_index"], "rows": len(mine), "allocated": a["count"],
                "distinct": mine.nunique(), "span": int(mine.max() - mine.min() + 1) if len(mine) else 0,
                "first": int(mine.min()) if len(mine) else 0, "allocation_start": a["start"],
                "fraud": int(group.loc[mine.index, "is_fraud"].sum()), "expected_fraud": round(a["count"] * spec.fraud_rate),
            }
            if chargebacks is not None:
                row["chargebacks"] = int(group.loc[mine.index, "transaction_id"].isin(charged_back).sum())
                row["expected_chargebacks"] = round(a["count"] * spec.chargeback_rate)
            rows.append(row)
        ranges = sorted((a["start"], a["start"] + a["count"]) for a in by_date.get(str(date), []))
        overlaps = any(prev_end > start for (_, prev_end), (start, _) in itertools.pairwise(ranges))
        for row in rows:
            if row["date"] == date:
                row["no_overlap"] = not overlaps
    frame = pd.DataFrame(rows)
    if len(frame):
        frame.index = frame["date"] + "/job " + frame["job_index"].astype(str)
    return frame


def lifecycle_frame(auth: pd.DataFrame, other: pd.DataFrame, time_column: str) -> pd.DataFrame:
    """Each clearing/chargeback row beside its authorization: does it match, are the dates in order?"""
    keep = ["sequence_number", "transaction_id", "transaction_timestamp", "hash_pan", "amount", "currency", "approved",
            "settlement_date"]
    joined = other.merge(auth[keep], on="transaction_id", how="left", suffixes=("", "_auth"), indicator=True)
    frame = pd.DataFrame({
        "has_authorization": joined["_merge"] == "both",
        "same_sequence_number": joined["sequence_number"] == joined["sequence_number_auth"],
        "same_amount_currency": (joined["amount"] == joined["amount_auth"]) & (joined["currency"] == joined["currency_auth"]),
        "same_hash_pan": joined["hash_pan"] == joined["hash_pan_auth"],
        "authorization_approved": joined["approved"].fillna(False).astype(bool),
        "dates_in_order": joined[time_column] >= joined["transaction_timestamp"],
    })
    if "settlement_date" in other.columns:
        settle = pd.to_datetime(joined["settlement_date"]).dt.tz_localize("UTC")
        frame["settles_after_clearing"] = settle >= joined["clearing_timestamp"].dt.floor("D")
    frame.index = joined["transaction_id"].to_numpy()  # failures name the transaction
    return frame


def _clear_pans(column: pd.Series, known: set[str]) -> int:
    """Rows of a text column holding a card number of the PAN dimension (regex in Arrow, then a set lookup)."""
    values = column.dropna()
    if values.empty or not isinstance(values.iloc[0], str):
        return 0
    distinct = pa.array(values.unique(), pa.string())
    candidates = distinct.filter(pc.match_substring_regex(distinct, r"(^|\D)\d{15,19}(\D|$)")).to_pylist()
    leaked = {v for v in candidates if any(m in known for m in _PAN_LIKE.findall(v))}
    return int(values.isin(leaked).sum()) if leaked else 0


def pan_frames(frames: dict[str, pd.DataFrame], key: bytes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PAN dimension facts (Luhn, keyed hash) and, per transaction table, that no clear PAN leaked into it."""
    pans = frames.get(PAN_DIMENSION, pd.DataFrame({"pan": [], "hash_pan": []}))
    dim = pd.DataFrame({
        "pan": pans["pan"],
        "luhn_valid": [luhn_valid(p) for p in pans["pan"]],
        "keyed_hash": [hash_pan(key, p) == h for p, h in zip(pans["pan"], pans["hash_pan"], strict=True)],
    })
    known = set(pans["pan"])
    leaks = []
    for table in TABLES:
        frame = frames.get(table)
        if frame is None:
            continue
        hits = sum(_clear_pans(frame[c], known) for c in frame.columns if frame[c].dtype == object)
        hash_ok = frame["hash_pan"].isin(pans["hash_pan"]).all() if len(pans) else True
        leaks.append({"table": table, "clear_pans": hits, "hash_pan_in_dimension": bool(hash_ok)})
    return dim, pd.DataFrame(leaks, index=[leak["table"] for leak in leaks])


def _suites(spec: PaymentsSpec, *, with_chargebacks: bool) -> dict[str, list[Any]]:
    import great_expectations as gx

    e: Any = gx.expectations
    auth: list[Any] = [e.ExpectColumnValuesToNotBeNull(column=c) for c in
            ("sequence_number", "transaction_id", "transaction_timestamp", "transaction_type", "mti", "hash_pan",
             "card_network", "amount", "currency", "response_code", "approved")]
    auth += [
        e.ExpectColumnValuesToBeUnique(column="transaction_id"),
        e.ExpectColumnValuesToBeInSet(column="transaction_type", value_set=list(spec.transaction_types)),
        e.ExpectColumnValuesToBeInSet(column="card_network", value_set=list(spec.cards)),
        e.ExpectColumnValuesToBeInSet(column="currency", value_set=sorted({c.currency for c in spec.countries.values()})),
        e.ExpectColumnValuesToBeInSet(column="merchant_country", value_set=list(spec.countries)),
        e.ExpectColumnValuesToBeInSet(column="mcc", value_set=list(spec.merchant_categories)),
        e.ExpectColumnValuesToBeInSet(column="mti", value_set=sorted({t.mti for t in spec.transaction_types.values()})),
        e.ExpectColumnValuesToBeInSet(column="response_code",
                                      value_set=sorted({r.code for t in spec.transaction_types.values() for r in t.responses})),
        e.ExpectColumnValuesToMatchRegex(column="hash_pan", regex=r"^[0-9a-f]{64}$"),
        e.ExpectColumnValuesToBeBetween(column="amount", min_value=0),
        e.ExpectColumnValuesToBeBetween(column="latitude", min_value=-90, max_value=90),
        e.ExpectColumnValuesToBeBetween(column="longitude", min_value=-180, max_value=180),
        e.ExpectColumnValuesToBeBetween(column="risk_score", min_value=0, max_value=1),
    ]
    in_band = [e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="observed", column_B="low", or_equal=True),
               e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="high", column_B="observed", or_equal=True)]
    exact = [e.ExpectColumnPairValuesToBeEqual(column_A="rows", column_B="allocated"),
             e.ExpectColumnPairValuesToBeEqual(column_A="distinct", column_B="rows"),
             e.ExpectColumnPairValuesToBeEqual(column_A="span", column_B="rows"),
             e.ExpectColumnPairValuesToBeEqual(column_A="first", column_B="allocation_start"),
             e.ExpectColumnPairValuesToBeEqual(column_A="fraud", column_B="expected_fraud"),
             e.ExpectColumnValuesToBeInSet(column="no_overlap", value_set=[True])]
    if with_chargebacks:
        exact.append(e.ExpectColumnPairValuesToBeEqual(column_A="chargebacks", column_B="expected_chargebacks"))
    lifecycle = ["has_authorization", "same_sequence_number", "same_amount_currency", "same_hash_pan",
                 "authorization_approved", "dates_in_order"]

    def always(columns: list[str]) -> list[Any]:
        return [e.ExpectColumnValuesToBeInSet(column=c, value_set=[True]) for c in columns]

    return {
        "authorization": auth,
        "distributions": in_band,
        "partitions": exact,
        "clearing_lifecycle": always([*lifecycle, "settles_after_clearing"]),
        "chargeback_lifecycle": always(lifecycle),
        "pan_dimension": [*always(["luhn_valid", "keyed_hash"]), e.ExpectColumnValuesToBeUnique(column="pan")],
        "no_clear_pans": [e.ExpectColumnValuesToBeInSet(column="clear_pans", value_set=[0]),
                          e.ExpectColumnValuesToBeInSet(column="hash_pan_in_dimension", value_set=[True])],
        "hash_tables": always(["matches_parent"]),
    }


def hash_table_frame(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each _hash table row against its parent table row: same sequence number, hash_pan and key."""
    checks = []
    for parent, key in (("authorization", "transaction_id"), ("clearing", "clearing_id"), ("chargeback", "chargeback_id")):
        child = frames.get(f"{parent}_hash")
        base = frames.get(parent)
        if child is None or base is None:
            continue
        joined = child.merge(base[["sequence_number", "hash_pan", key]], on=key, how="left", suffixes=("", "_parent"))
        ok = (joined["sequence_number"] == joined["sequence_number_parent"]) & (joined["hash_pan"] == joined["hash_pan_parent"])
        checks.append(pd.DataFrame({"table": f"{parent}_hash", "matches_parent": ok & (len(child) == len(base))}))
    return pd.concat(checks, ignore_index=True) if checks else pd.DataFrame({"table": [], "matches_parent": []})


def build_frames(spec: PaymentsSpec, frames: dict[str, pd.DataFrame], allocations: list[dict[str, Any]],
                 key: bytes, dates: list[str]) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The frames each suite checks, and the suites that do not apply to this run (a table not generated) with why."""
    auth = frames["authorization"]
    chargeback = frames.get("chargeback")
    dim, leaks = pan_frames(frames, key)
    checked = {
        "authorization": auth,
        "distributions": distribution_frame(spec, auth),
        "partitions": partition_frame(spec, auth, chargeback, [a for a in allocations if a["date"] in dates]),
        "no_clear_pans": leaks,
    }
    skipped: dict[str, str] = {}
    for table, time_column in (("clearing", "clearing_timestamp"), ("chargeback", "chargeback_timestamp")):
        if table in frames:
            checked[f"{table}_lifecycle"] = lifecycle_frame(auth, frames[table], time_column)
        else:
            skipped[f"{table}_lifecycle"] = f"{table} was not generated"
    hashes = hash_table_frame(frames)
    if len(hashes):
        checked["hash_tables"] = hashes
    else:
        skipped["hash_tables"] = "no _hash table was generated beside its parent"
    if len(dim):
        checked["pan_dimension"] = dim
    else:
        skipped["pan_dimension"] = f"{PAN_DIMENSION} was not generated"
    return checked, skipped


def validate(spec: PaymentsSpec, checked: dict[str, pd.DataFrame], docs_dir: Path) -> dict[str, Any]:
    """Run every suite in one Great Expectations checkpoint; Data Docs go to ``docs_dir``."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(site_name="paybatch", site_config={
        "class_name": "SiteBuilder", "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)}})
    source = context.data_sources.add_pandas("generated")
    suites = _suites(spec, with_chargebacks="chargebacks" in checked["partitions"].columns)
    definitions, frames_by_name = [], {}
    for name, frame in checked.items():
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=suites[name]))
        definitions.append(context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite)))
        frames_by_name[name] = frame
    failures: list[str] = []
    results: dict[str, Any] = {}
    for definition in definitions:
        outcome = definition.run(batch_parameters={"dataframe": frames_by_name[definition.name]},
                                 result_format={"result_format": "COMPLETE"})
        results[definition.name] = {"success": bool(outcome.success), "expectations": len(outcome.results)}
        for r in outcome.results:
            if not r.success:
                cfg: Any = r.expectation_config
                kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}
                rows = r.result.get("unexpected_index_list") or []
                values = r.result.get("partial_unexpected_list") or r.result.get("observed_value")
                where = f" at {rows[:5]}" if rows and not isinstance(rows[0], int) else ""
                failures.append(f"{definition.name}: {cfg.type} {kwargs}{where} → {str(values)[:200]}")
    context.build_data_docs(site_names=["paybatch"])
    return {"success": not failures, "failures": failures, "suites": results, "data_docs": str(docs_dir / "index.html")}


def run_quality(spec: PaymentsSpec, sink: Sink, result: Any, reports_dir: Path, *, max_rows: int, key: bytes) -> dict[str, Any]:
    """Validate a finished run and write Data Docs and the profile report under ``reports_dir``."""

    frames, dates = read_tables(sink, result.files, max_rows)
    if "authorization" not in frames:
        return {"success": True, "failures": [], "suites": {}, "report": None, "note": "no authorization table in this run"}
    reports_dir.mkdir(parents=True, exist_ok=True)
    checked, skipped = build_frames(spec, frames, result.allocations, key, dates)
    outcome = validate(spec, checked, reports_dir / "data_docs")
    outcome["dates_checked"] = dates
    outcome["suites_skipped"] = skipped
    outcome["rows_checked"] = {name: len(frame) for name, frame in frames.items()}
    outcome["profile"] = str(write_profile(frames["authorization"], reports_dir / "profile.html",
                                          title=f"authorization profile — {len(frames['authorization']):,} rows, {', '.join(dates)}"))
    outcome["report"] = outcome["data_docs"]
    return outcome


"""One chunk of rows for all six tables, built column-wise with numpy and Arrow.

A chunk is a run of positions inside one sequence allocation (a partition date and a job's
range). Every value comes from a counter-based stream keyed by (seed, table, date, column) at
the row's sequence number, and the exact-count choices (fraud, chargebacks) are keyed by the
allocation, so a chunk's rows are the same whichever task builds them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from paybatch.datasets import load_schema
from paybatch.generate.cards import PanDimension
from paybatch.generate.merchants import MerchantPool
from paybatch.generate.spec import PaymentsSpec
from paybatch.generate.streams import ExactSelection, Stream

_EPOCH = dt.date(1970, 1, 1)
_ALNUM = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
MICROS = 1_000_000


@dataclass(frozen=True)
class Chunk:
    """Positions ``first`` .. ``first + count - 1`` of the allocation [start, start + size) of ``date``."""

    date: str  # YYYY-MM-DD, the partition date
    start: int  # first sequence number of the allocation
    size: int  # rows in the allocation (the exact-count rates apply to it)
    first: int
    count: int
    index: int  # chunk number inside the allocation (names the output file)

    @property
    def sequence_numbers(self) -> npt.NDArray[np.int64]:
        return np.arange(self.start + self.first, self.start + self.first + self.count, dtype=np.int64)


def fixed_width_strings(chars: npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    """A string array from an (n, width) byte matrix, without a Python object per row."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    null_count = 0 if valid is None else int(n - valid.sum())
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars).tobytes()),
                                       bitmap, null_count)


def digits(values: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.uint8]:
    """Zero-padded decimal digits of non-negative integers, as an (n, width) byte matrix."""
    out = np.empty((values.size, width), dtype=np.uint8)
    rest = values.copy()
    for col in range(width - 1, -1, -1):
        out[:, col] = rest % 10 + 48
        rest //= 10
    return out


def prefixed_ids(prefix: bytes, date: str, sequence: npt.NDArray[np.int64]) -> pa.Array:
    """Ids such as T2024011510000000000000017: a letter, the date and the 16-digit sequence number."""
    head = np.frombuffer(prefix + date.replace("-", "").encode(), dtype=np.uint8)
    return fixed_width_strings(np.concatenate([np.broadcast_to(head, (sequence.size, head.size)), digits(sequence, 16)], axis=1))


def categorical(indices: npt.NDArray[np.int64], values: list[str], mask: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    """A dictionary-encoded string column over the distinct ``values`` (cheap to build, written as dictionary pages).

    Repeated values are folded first: a dictionary with duplicates makes Parquet's dictionary pages
    depend on hashing order, and the output would stop being byte-identical.
    """
    distinct = list(dict.fromkeys(values))
    if len(distinct) != len(values):
        remap = np.array([distinct.index(v) for v in values], dtype=np.int64)
        indices = remap[indices]
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32), mask=mask), pa.array(distinct, pa.string()))


def pooled(indices: npt.NDArray[np.int64], pool: pa.Array, mask: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    """Rows that pick from a pool of distinct strings (cards, merchants) as a dictionary column: no string copied per row."""
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32), mask=mask), pool)


class ChunkBuilder:
    """Builds the six tables of one chunk for a (spec, seed) and its PAN and merchant pools."""

    def __init__(self, spec: PaymentsSpec, seed: int, cards: PanDimension, merchants: MerchantPool) -> None:
        self.spec, self.seed, self.cards, self.merchants = spec, seed, cards, merchants
        self.types = list(spec.transaction_types)
        self.networks = list(spec.cards)
        self.countries = list(spec.countries)
        self.currencies = sorted({c.currency for c in spec.countries.values()})
        self.channels = sorted({*spec.channels, *(ch for t in spec.transaction_types.values() for ch in t.channels or {})})
        self.responses = [(t, r) for t, kind in spec.transaction_types.items() for r in kind.responses]
        # A chargeback needs a cleared purchase behind it: that type and its first approving code.
        self.chargeback_type = self.types.index("PURCHASE") if "PURCHASE" in self.types else 0
        self.chargeback_response = next(i for i, (t, r) in enumerate(self.responses)
                                        if t == self.types[self.chargeback_type] and r.approved)
        self.retail = [i for i, c in enumerate(spec.merchant_categories.values()) if c.weight > 0]
        self.retail_weights = [spec.merchant_categories[merchants.mcc_codes[i]].weight for i in self.retail]
        self.median = np.array([c.median_amount for c in spec.merchant_categories.values()])
        self.sigma = np.array([c.sigma for c in spec.merchant_categories.values()])
        self.schemas = {name: load_schema(name).arrow_schema() for name in
                        ("authorization", "authorization_hash", "clearing", "clearing_hash", "chargeback", "chargeback_hash")}

    def _stream(self, table: str, chunk: Chunk, column: str) -> Stream:
        return Stream(self.seed, table, chunk.date, column)

    def build(self, chunk: Chunk, tables: Collection[str] | None = None) -> dict[str, pa.Table]:
        """The chunk's rows of every table (clearing and chargeback hold only the rows that reach them), or of
        ``tables`` and what they derive from: an authorization feed builds no clearing or chargeback."""
        wanted = set(tables) if tables is not None else set(self.schemas)
        spec = self.spec
        seq = chunk.sequence_numbers
        c = seq.astype(np.uint64)
        positions = np.arange(chunk.first, chunk.first + chunk.count, dtype=np.int64)

        def s(column: str) -> Stream:
            return self._stream("authorization", chunk, column)


        labels = (chunk.date, str(chunk.start))
        chargeback = ExactSelection(self.seed, chunk.size, round(chunk.size * spec.chargeback_rate), "chargeback", *labels)
        fraud = ExactSelection(self.seed, chunk.size, round(chunk.size * spec.fraud_rate), "fraud", *labels)
        is_chargeback = chargeback.selected(positions)
        is_fraud = fraud.selected(positions)

        # Transaction type (forced for the rows chosen for a chargeback).
        kinds = [spec.transaction_types[t] for t in self.types]
        type_idx = s("type").choice(c, [k.weight for k in kinds])
        type_idx[is_chargeback] = self.chargeback_type

        # Card (from the PAN dimension: network, product and hash are properties of the card).
        pan_idx = s("pan").integers(c, len(self.cards.pans))

        # Merchant category per type, then a merchant of that category, then its country.
        mcc_idx = np.empty(chunk.count, dtype=np.int64)
        mcc_pick = s("mcc")
        for t, kind in enumerate(kinds):
            rows = np.flatnonzero(type_idx == t)
            if rows.size == 0:
                continue
            if kind.mccs:
                own = np.array([self.merchants.mcc_codes.index(m) for m in kind.mccs])
                mcc_idx[rows] = own[mcc_pick.integers(c[rows], len(own))]
            else:
                mcc_idx[rows] = np.asarray(self.retail)[mcc_pick.choice(c[rows], self.retail_weights)]
        merchant_idx = self.merchants.offsets[mcc_idx] + s("merchant").integers(c, self.merchants.counts[mcc_idx])
        country_idx = self.merchants.country[merchant_idx]
        country_currency = np.array([self.currencies.index(spec.countries[k].currency) for k in self.countries])
        currency_idx = country_currency[country_idx]

        # Amount: log-normal by MCC, then the type's rule (ATM notes, zero-amount verification).
        amount = self.median[mcc_idx] * np.exp(self.sigma[mcc_idx] * s("amount").normal(c))
        for t, kind in enumerate(kinds):
            if kind.amount_multiple is None:
                continue
            rows = type_idx == t
            if kind.amount_multiple == 0:
                amount[rows] = 0.0
            else:
                amount[rows] = np.maximum(1, np.round(amount[rows] / kind.amount_multiple)) * kind.amount_multiple
        zero_decimals = np.array([self.currencies[i] == "JPY" for i in range(len(self.currencies))])[currency_idx]
        amount = np.where(zero_decimals, np.round(amount * 100), np.round(amount, 2))

        # Channel: the type's own mix if it has one, else the global mix.
        channel_idx = np.empty(chunk.count, dtype=np.int64)
        channel_pick = s("channel")
        for t, kind in enumerate(kinds):
            rows = np.flatnonzero(type_idx == t)
            mix = kind.channels or spec.channels
            names = list(mix)
            idx = np.array([self.channels.index(n) for n in names])
            channel_idx[rows] = idx[channel_pick.choice(c[rows], [mix[n] for n in names])]

        # Event time: normal around the peak hour, wrapped into the partition date.
        day_start = (dt.date.fromisoformat(chunk.date) - _EPOCH).days * 86400
        hours = np.mod(spec.event_time.peak_hour + spec.event_time.sigma_hours * s("hour").normal(c), 24.0)
        timestamp_us = (day_start + np.floor(hours * 3600).astype(np.int64)) * MICROS

        # Response code by type; approved or declined with the code's reason.
        response_idx = np.empty(chunk.count, dtype=np.int64)
        response_pick = s("response")
        for t, (name, kind) in enumerate(zip(self.types, kinds, strict=True)):
            rows = np.flatnonzero(type_idx == t)
            base = next(i for i, (tt, _) in enumerate(self.responses) if tt == name)
            response_idx[rows] = base + response_pick.choice(c[rows], [r.weight for r in kind.responses])
        response_idx[is_chargeback] = self.chargeback_response
        approved = np.array([r.approved for _, r in self.responses])[response_idx]
        settlement_rate = np.array([k.settlement_rate for k in kinds])[type_idx]
        cleared = (approved & (s("settles").uniform(c) < settlement_rate)) | is_chargeback

        # Clearing and settlement timing (needed on the authorization's settlement_date too).
        lo, hi = spec.clearing.delay_hours
        clearing_us = timestamp_us + (lo * 3600 + self._stream("clearing", chunk, "delay").integers(c, (hi - lo) * 3600 + 1)) * MICROS
        slo, shi = spec.clearing.settlement_delay_days
        settle_days = clearing_us // (86400 * MICROS) + slo + self._stream("clearing", chunk, "settle").integers(c, shi - slo + 1)

        # Nulls at the declared rates; location from the merchant country's centroid plus jitter.
        device_null = s("device_null").uniform(c) < spec.null_rates.device_id
        mcc_null = s("mcc_null").uniform(c) < spec.null_rates.mcc
        location_null = s("location_null").uniform(c) < spec.null_rates.location
        centroid = np.array([spec.countries[k].centroid for k in self.countries])
        jitter = spec.location_jitter_degrees
        latitude = np.clip(np.round(centroid[country_idx, 0] + jitter * s("lat").normal(c), 6), -90, 90)
        longitude = np.clip(np.round(centroid[country_idx, 1] + jitter * s("lon").normal(c), 6), -180, 180)

        alert_amount = np.array([k.risk_alert_amount for k in kinds])[type_idx]
        risk = 0.05 + 0.5 * amount / (amount + alert_amount) + 0.08 * s("risk").normal(c) + np.where(is_fraud, 0.35, 0.0)
        risk_score = np.round(np.clip(risk, 0.0, 1.0), 4)

        auth_chars = _ALNUM[(s("auth_code").bits(c)[:, None] >> (np.arange(6, dtype=np.uint64) * np.uint64(6))) % np.uint64(36)]
        network_idx = self.cards.network[pan_idx]
        hash_pan = pooled(pan_idx, self.cards.hashes)
        transaction_id = prefixed_ids(b"T", chunk.date, seq)
        timestamps = pa.array(timestamp_us, pa.timestamp("us", tz="UTC"))
        date32 = pa.array(np.full(chunk.count, (dt.date.fromisoformat(chunk.date) - _EPOCH).days, dtype=np.int32), pa.date32())
        settlement = pa.array(settle_days.astype(np.int32), pa.date32(), mask=~cleared)
        mccs = self.merchants.mcc_codes
        authorization = pa.table({
            "sequence_number": pa.array(seq),
            "transaction_id": transaction_id,
            "transaction_timestamp": timestamps,
            "transaction_type": categorical(type_idx, self.types),
            "mti": categorical(type_idx, [k.mti for k in kinds]),
            "hash_pan": hash_pan,
            "card_network": categorical(network_idx, self.networks),
            "card_product": categorical(self.cards.product[pan_idx], self.cards.product_names),
            "amount": pa.array(amount),
            "currency": categorical(currency_idx, self.currencies),
            "merchant_id": pooled(merchant_idx, self.merchants.merchant_id),
            "merchant_name": categorical(self.merchants.name_index[merchant_idx], self.merchants.names),
            "mcc": categorical(mcc_idx, mccs, mask=mcc_null),
            "merchant_country": categorical(country_idx, self.countries),
            "latitude": pa.array(latitude, mask=location_null),
            "longitude": pa.array(longitude, mask=location_null),
            "device_id": pooled(pan_idx, self.cards.device, mask=device_null),
            "channel": categorical(channel_idx, self.channels),
            "response_code": categorical(response_idx, [r.code for _, r in self.responses]),
            "approved": pa.array(approved),
            "decline_reason": categorical(response_idx, [r.reason or "" for _, r in self.responses], mask=approved),
            "risk_score": pa.array(risk_score),
            "risk_alert": pa.array(amount >= alert_amount),
            "is_fraud": pa.array(is_fraud),
            "settlement_date": settlement,
            "auth_code": fixed_width_strings(auth_chars.astype(np.uint8), valid=approved),
        })
        built: dict[str, pa.Table] = {"authorization": authorization}
        built["authorization_hash"] = pa.table({
            "sequence_number": authorization["sequence_number"], "hash_pan": hash_pan,
            "transaction_id": transaction_id, "transaction_date": date32})
        if not wanted & {"clearing", "clearing_hash", "chargeback", "chargeback_hash"}:
            return {name: self._conform(name, table) for name, table in built.items()}

        # Clearing: the settled authorizations, same sequence number, amount and currency.
        rows = pa.array(np.flatnonzero(cleared))
        interchange = np.array([spec.clearing.interchange_rates[n] for n in self.networks])[network_idx]
        clearing_ids = prefixed_ids(b"C", chunk.date, seq[cleared])
        clearing = pa.table({
            "sequence_number": pa.array(seq[cleared]),
            "clearing_id": clearing_ids,
            "transaction_id": transaction_id.take(rows),
            "transaction_timestamp": timestamps.take(rows),
            "clearing_timestamp": pa.array(clearing_us[cleared], pa.timestamp("us", tz="UTC")),
            "settlement_date": settlement.take(rows),
            "hash_pan": hash_pan.take(rows),
            "card_network": authorization["card_network"].combine_chunks().take(rows),
            "transaction_type": authorization["transaction_type"].combine_chunks().take(rows),
            "mti": categorical(np.zeros(int(cleared.sum()), dtype=np.int64), [spec.clearing.mti]),
            "amount": pa.array(amount[cleared]),
            "currency": authorization["currency"].combine_chunks().take(rows),
            "merchant_id": authorization["merchant_id"].combine_chunks().take(rows),
            "mcc": authorization["mcc"].combine_chunks().take(rows),
            "interchange_fee": pa.array(np.round(amount[cleared] * interchange[cleared], 2)),
        })
        built["clearing"] = clearing
        built["clearing_hash"] = pa.table({
            "sequence_number": clearing["sequence_number"], "hash_pan": clearing["hash_pan"],
            "clearing_id": clearing_ids, "transaction_date": date32.take(rows)})

        # Chargebacks: exactly the selected authorizations (all cleared purchases).
        cb = pa.array(np.flatnonzero(is_chargeback))

        def cb_stream(column: str) -> Stream:
            return self._stream("chargeback", chunk, column)

        c_cb = c[is_chargeback]
        dlo, dhi = spec.chargebacks.delay_days
        cb_us = clearing_us[is_chargeback] + (dlo + cb_stream("delay").integers(c_cb, dhi - dlo + 1)) * 86400 * MICROS
        claims_fraud = is_fraud[is_chargeback] | (cb_stream("category").uniform(c_cb) < spec.chargebacks.fraud_share_of_non_fraud)
        codes = [(n, kind) for n in self.networks for kind in ("fraud", "dispute")]
        code_idx = network_idx[is_chargeback] * 2 + np.where(claims_fraud, 0, 1)
        chargeback_ids = prefixed_ids(b"K", chunk.date, seq[is_chargeback])
        built["chargeback"] = pa.table({
            "sequence_number": pa.array(seq[is_chargeback]),
            "chargeback_id": chargeback_ids,
            "transaction_id": transaction_id.take(cb),
            "transaction_timestamp": timestamps.take(cb),
            "chargeback_timestamp": pa.array(cb_us, pa.timestamp("us", tz="UTC")),
            "hash_pan": hash_pan.take(cb),
            "card_network": authorization["card_network"].combine_chunks().take(cb),
            "mti": categorical(np.zeros(cb.__len__(), dtype=np.int64), [spec.chargebacks.mti]),
            "amount": pa.array(amount[is_chargeback]),
            "currency": authorization["currency"].combine_chunks().take(cb),
            "reason_code": categorical(code_idx, [getattr(spec.chargebacks.reason_codes[n], kind) for n, kind in codes]),
            "reason_category": categorical(np.where(claims_fraud, 0, 1), ["FRAUD", "DISPUTE"]),
        })
        built["chargeback_hash"] = pa.table({
            "sequence_number": built["chargeback"]["sequence_number"], "hash_pan": built["chargeback"]["hash_pan"],
            "chargeback_id": chargeback_ids, "transaction_date": date32.take(cb)})
        return {name: self._conform(name, table) for name, table in built.items()}

    def _conform(self, name: str, table: pa.Table) -> pa.Table:
        """Check the columns against the dataset schema (names and order); types stay dictionary-encoded."""
        expected = self.schemas[name].names
        if table.column_names != expected:
            raise AssertionError(f"{name}: generated columns {table.column_names} differ from the schema {expected}")
        return table


def decode_dictionaries(table: pa.Table) -> pa.Table:
    """The same table with dictionary columns as plain strings (what readers see in the Parquet)."""
    columns: list[Any] = [pc.cast(col, col.type.value_type) if pa.types.is_dictionary(col.type) else col for col in table.columns]
    return pa.table(columns, names=table.column_names)

"""Authorization records for converter tests: complete rows, changed where a test says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2025, 12, 23, tzinfo=UTC)


def full_row(i: int, **changes: object) -> dict[str, object]:
    row = {"sequence_number": i, "transaction_id": f"T{i}", "transaction_timestamp":
           (START + timedelta(seconds=997 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"), "transaction_type": "PURCHASE",
           "mti": "0100", "hash_pan": f"{i:064x}", "card_network": "VISA", "amount": i / 7, "currency": "EUR",
           "merchant_name": "Caf\u00e9 \"Zoë\"", "response_code": "00", "approved": i % 3 > 0,
           "settlement_date": "2025-12-26", "latitude": None}
    return {**row, **changes}

"""Sample payment NDJSON files for demos and smoke tests: deterministic, sized to order.

Each line is an authorization-like record; the real generator (glue_jobs/generate_payments)
produces the full six-table dataset. These files exist so a pipeline can be exercised with
files inside and outside the configured size window.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

from paybatch.aws import AwsClients

_TYPES = ["PURCHASE"] * 85 + ["CASH_ADVANCE"] * 5 + ["BALANCE_TRANSFER"] * 4 + ["REFUND"] * 3 + ["FEE"] * 3


def records(seed: int, date_prefix: str) -> Iterator[bytes]:
    """An endless, deterministic stream of authorization NDJSON lines (schema authorization v1) for one date."""
    rng = random.Random(seed)
    sequence = 1000000000000001 + seed * 10_000_000
    networks = {"VISA": ["CSP", "CSR", "CFU"], "MASTERCARD": ["CFX", "WOH", "BUS"], "AMEX": ["PLT", "GLD", "GRN"],
                "DISCOVER": ["DIS"]}
    while True:
        network = rng.choice(list(networks))
        approved = rng.random() > 0.05
        record = {
            "sequence_number": sequence,
            "transaction_id": f"{date_prefix.replace('-', '')}{sequence}",
            "transaction_timestamp": f"{date_prefix}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z",
            "transaction_type": rng.choice(_TYPES),
            "mti": "0100",
            "hash_pan": f"{rng.getrandbits(256):064x}",
            "card_network": network,
            "card_product": rng.choice(networks[network]),
            "amount": round(rng.lognormvariate(3.5, 1.0), 2),
            "currency": rng.choice(["USD", "EUR", "GBP"]),
            "mcc": rng.choice(["5411", "5812", "5999", "4111", "5541"]),
            "merchant_country": rng.choice(["US", "GB", "DE", "FR"]),
            "response_code": "00" if approved else "05",
            "approved": approved,
        }
        sequence += 1
        yield (json.dumps(record, separators=(",", ":")) + "\n").encode()


def sample_file(size_bytes: int, seed: int, date_prefix: str) -> bytes:
    """Whole NDJSON lines adding up to about ``size_bytes`` (never a cut line)."""
    out = bytearray()
    for line in records(seed, date_prefix):
        if len(out) + len(line) > size_bytes and out:
            break
        out += line
    return bytes(out)


def upload_samples(clients: AwsClients, sizes_mb: list[float], date_prefix: str, prefix: str = "sample",
                   extension: str = ".ndjson") -> list[str]:
    """Upload one file per size to the input bucket; returns the keys."""
    keys = []
    for i, size in enumerate(sizes_mb):
        key = f"{date_prefix}-{prefix}-{i:03}{extension}"
        clients.s3.put_object(Bucket=clients.settings.buckets.input, Key=key,
                              Body=sample_file(int(size * 1024 * 1024), seed=i, date_prefix=date_prefix))
        keys.append(key)
    return keys

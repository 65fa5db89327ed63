"""The PAN dimension: Luhn-valid test-range card numbers and their keyed hashes.

Clear PANs exist only here (written to the restricted bucket); transaction tables carry
``hash_pan``, an HMAC-SHA-256 of the PAN under a key from configuration (PCI DSS 4.0.1 req.
3.5.1.1 asks for keyed hashes: a bare SHA-256 of a 16-digit PAN is brute-forceable).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from paybatch.errors import ConfigError
from paybatch.generate.spec import PaymentsSpec
from paybatch.generate.streams import Stream, stream_key

LOCAL_KEY_PREFIX = "local:"
KEY_SOURCES = ("local:", "ssm:", "secretsmanager:")
# The labelled, non-secret key of local work: `paybatch local up` seeds it into the environment's SSM
# parameter or secret, and generating into a folder with no environment running uses it directly,
# so both give the same hashes. Never valid on AWS (config refuses ``local:`` there).
LOCAL_PAN_KEY = "paybatch-LOCAL-ONLY-pan-hash-key-seeded-by-local-up"


def luhn_check_digit(digits: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Check digits for rows of payload digits (each row a PAN without its last digit)."""
    # Double every second digit counted from the right of the payload (the check digit goes after it).
    doubled = digits[:, ::-1].copy()
    doubled[:, ::2] *= 2
    doubled[doubled > 9] -= 9
    result: npt.NDArray[np.int64] = (10 - doubled.sum(axis=1) % 10) % 10
    return result


def luhn_valid(pan: str) -> bool:
    """True when ``pan`` passes the Luhn (mod 10) check."""
    if not pan.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(pan)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def hash_pan(key: bytes, pan: str) -> str:
    """The keyed hash every table uses in place of the PAN: hex HMAC-SHA-256."""
    return hmac.new(key, pan.encode(), hashlib.sha256).hexdigest()


def resolve_hash_key(source: str, clients: Any | None = None, *, what: str = "the PAN hash key") -> bytes:
    """The HMAC key named by configuration: ``local:TEXT``, ``ssm:/parameter`` or ``secretsmanager:secret-id``.

    The one resolver of configured secrets (the PAN hash key, the screening webhook's signing key); ``what``
    names the secret in errors.
    """
    if source.startswith(LOCAL_KEY_PREFIX):
        return source[len(LOCAL_KEY_PREFIX):].encode()
    if clients is None:
        raise ConfigError(f"{what} {source!r} needs AWS access (SSM or Secrets Manager)")
    try:
        if source.startswith("ssm:"):
            value = clients.client("ssm").get_parameter(Name=source[4:], WithDecryption=True)["Parameter"]["Value"]
        elif source.startswith("secretsmanager:"):
            value = clients.client("secretsmanager").get_secret_value(SecretId=source[15:])["SecretString"]
        else:
            raise ConfigError(f"{what}: source {source!r} must start with one of {', '.join(KEY_SOURCES)}")
    except ConfigError:
        raise
    except Exception as exc:  # botocore ClientError, endpoint errors: say which key could not be read
        raise ConfigError(f"cannot read {what} from {source}: {exc}. Locally, start the environment "
                          "(paybatch local up), which seeds a labelled local key, or set PAN_HASH_KEY=local:TEXT") from exc
    if not value:
        raise ConfigError(f"{what} at {source} is empty")
    return str(value).encode()


@dataclass(frozen=True)
class PanDimension:
    """Every card of one (seed, spec): clear PAN, hash, network, product; indexed by pan id."""

    pans: list[str]
    hashes: pa.Array  # string, hex HMAC per pan id
    network: npt.NDArray[np.int64]  # index into spec.cards
    product: npt.NDArray[np.int64]  # index into product_names, per pan id
    product_names: list[str]
    device: pa.Array  # a device id per card (nulled per row by the null rate)
    network_names: pa.Array  # the card networks, in spec order

    def table(self) -> pa.Table:
        """The restricted PAN dimension table (the only place clear PANs exist)."""
        return pa.table({
            "pan_id": pa.array(np.arange(len(self.pans), dtype=np.int64)),
            "pan": pa.array(self.pans, pa.string()),
            "hash_pan": self.hashes,
            "card_network": self.network_names.take(pa.array(self.network)),
            "card_product": pa.array(self.product_names, pa.string()).take(pa.array(self.product)),
            "bin": pa.array([p[:6] for p in self.pans], pa.string()),
        })


def _affine(key: int, space: int) -> tuple[int, int]:
    """Multiplier (coprime to the space, so the map is a bijection) and offset for account digits."""
    a = key % space or 1
    while math.gcd(a, space) != 1:
        a += 1
    return a, (key >> 20) % space


def _digit_matrix(values: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.int64]:
    out = np.empty((values.size, width), dtype=np.int64)
    rest = values.copy()
    for col in range(width - 1, -1, -1):
        out[:, col] = rest % 10
        rest //= 10
    return out


def build_pan_dimension(spec: PaymentsSpec, seed: int, key: bytes) -> PanDimension:
    """Build the dimension vectorised (numpy for digits and Luhn; hmac per card)."""
    count = spec.volumes.pans
    ids = np.arange(count, dtype=np.uint64)
    networks = list(spec.cards)
    network = Stream(seed, "pan", "network").choice(ids, [spec.cards[n].weight for n in networks])
    bin_pick = Stream(seed, "pan", "bin").bits(ids)
    product_pick = Stream(seed, "pan", "product").bits(ids)
    pans: list[str] = [""] * count
    product_names = list(dict.fromkeys(p for name in networks for p in spec.cards[name].products))
    products = np.zeros(count, dtype=np.int64)
    for n_index, name in enumerate(networks):
        card = spec.cards[name]
        rows = np.flatnonzero(network == n_index)
        if rows.size == 0:
            continue
        if len({len(b) for b in card.bins}) != 1:
            raise ConfigError(f"cards.{name}.bins must all have the same length")
        prefix_len = len(card.bins[0])
        bins = np.array([[int(c) for c in b] for b in card.bins], dtype=np.int64)
        chosen = bins[(bin_pick[rows] % np.uint64(len(card.bins))).astype(np.int64)]
        # The account digits are a keyed affine bijection of the pan id: distinct cards, distinct PANs.
        free = card.length - prefix_len - 1
        space = 10**free
        if count > space:
            raise ConfigError(f"cards.{name}: {count} cards do not fit in {free} account digits")
        a, b = _affine(stream_key(seed, "pan", "account", name), space)
        if space * count < 2**62:
            account = (rows.astype(np.int64) * a + b) % space
        else:  # 19-digit cards: the product would overflow int64
            account = np.array([(r * a + b) % space for r in rows.tolist()], dtype=np.int64)
        payload = np.concatenate([chosen, _digit_matrix(account, free)], axis=1)
        full = np.concatenate([payload, luhn_check_digit(payload)[:, None]], axis=1)
        text = (full + ord("0")).astype(np.uint8)
        for row, pan_bytes in zip(rows.tolist(), text, strict=True):
            pans[row] = pan_bytes.tobytes().decode()
        own = np.array([product_names.index(p) for p in card.products], dtype=np.int64)
        products[rows] = own[(product_pick[rows] % np.uint64(len(card.products))).astype(np.int64)]
    device_bits = Stream(seed, "pan", "device").bits(ids)
    devices = [f"DEV-{d:016x}" for d in device_bits.tolist()]
    return PanDimension(
        pans=pans,
        hashes=pa.array([hash_pan(key, p) for p in pans], pa.string()),
        network=network,
        product=products,
        product_names=product_names,
        device=pa.array(devices, pa.string()),
        network_names=pa.array(networks, pa.string()),
    )

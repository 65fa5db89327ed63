"""The merchant pool: ids, names, category codes and countries, grouped by MCC for fast lookup."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from paybatch.generate.spec import PaymentsSpec
from paybatch.generate.streams import Stream

_FIRST = ("North", "Blue", "Golden", "Urban", "Corner", "Harbor", "Summit", "Maple", "Silver", "Union", "Prairie",
          "Lakeside", "Metro", "Pioneer", "Royal", "Sunrise", "Cedar", "Atlas", "Evergreen", "Beacon")
_SECOND = ("Market", "Point", "House", "Works", "Depot", "Outlet", "Hub", "Co", "Express", "Central", "Traders",
           "Plaza", "Corner", "Supply", "Gallery", "Station", "Exchange", "Bazaar", "Shop", "Store")
SPECIAL_MERCHANTS = 50  # merchants for a category with weight 0 (ATMs, banks): reachable only by type


@dataclass(frozen=True)
class MerchantPool:
    """Merchants sorted by MCC: category c owns rows offsets[c] .. offsets[c] + counts[c] - 1."""

    mcc_codes: list[str]
    offsets: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]
    merchant_id: pa.Array
    name_index: npt.NDArray[np.int64]  # index into names, per merchant
    names: list[str]  # distinct merchant names
    country: npt.NDArray[np.int64]  # index into spec.countries


def build_merchant_pool(spec: PaymentsSpec, seed: int) -> MerchantPool:
    codes = list(spec.merchant_categories)
    total = spec.volumes.merchants
    counts = np.array([max(SPECIAL_MERCHANTS if c.weight == 0 else 1, round(total * c.weight))
                       for c in spec.merchant_categories.values()], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    size = int(counts.sum())
    ids = np.arange(size, dtype=np.uint64)
    countries = list(spec.countries)
    country = Stream(seed, "merchant", "country").choice(ids, [spec.countries[c].weight for c in countries])
    first = Stream(seed, "merchant", "first").integers(ids, len(_FIRST))
    second = Stream(seed, "merchant", "second").integers(ids, len(_SECOND))
    mcc_of_row = np.repeat(np.arange(len(codes)), counts)
    names = [f"{_FIRST[a]} {_SECOND[b]} {spec.merchant_categories[codes[m]].name.split()[0]}"
             for a, b, m in zip(first.tolist(), second.tolist(), mcc_of_row.tolist(), strict=True)]
    merchant_ids = [f"MID{seed % 1000:03d}{i:09d}" for i in range(size)]
    distinct = list(dict.fromkeys(names))
    position = {name: i for i, name in enumerate(distinct)}
    name_index = np.array([position[n] for n in names], dtype=np.int64)
    return MerchantPool(codes, offsets, counts, pa.array(merchant_ids, pa.string()), name_index, distinct, country)

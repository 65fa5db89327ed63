"""The generator's spec: what to generate (tables, rates, distributions), validated from YAML.

Kept apart from the engine on purpose (as dbldatagen separates spec from engine): a data engineer
tunes rates here without reading Spark code, and a wrong value fails before any Spark starts.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from paybatch.errors import ConfigError

DEFAULT_SPEC: Path | Traversable = resources.files("paybatch.generate") / "payments.yaml"  # works from paybatch.zip too

TABLES = ("authorization", "authorization_hash", "clearing", "clearing_hash", "chargeback", "chargeback_hash")
PAN_DIMENSION = "pan_dimension"
# Which specialised lake bucket (Settings.buckets.lake_<family>) each table is also written to.
TABLE_FAMILY = {t: t.removesuffix("_hash") for t in TABLES}

# ISO 4217 / ISO 3166 codes the spec may use (a spec naming anything else is rejected).
ISO_CURRENCIES = frozenset("USD EUR GBP JPY CAD AUD MXN BRL CHF SEK NOK DKK PLN INR SGD HKD CNY NZD ZAR KRW".split())
ISO_COUNTRIES = frozenset("US GB DE FR CA ES MX JP AU BR CH SE NO DK PL IN SG HK CN NZ ZA KR IT NL IE BE AT PT".split())

Rate = Annotated[float, Field(ge=0, le=1)]
Weight = Annotated[float, Field(ge=0, le=1)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _weights_sum_to_one(weights: dict[str, float] | list[float], what: str) -> None:
    total = sum(weights.values() if isinstance(weights, dict) else weights)
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"{what} weights add up to {total:.6f}, not 1")


class Volumes(_Spec):
    pans: Annotated[int, Field(ge=1, le=10_000_000)] = 100_000
    merchants: Annotated[int, Field(ge=1, le=1_000_000)] = 20_000
    rows_per_file: Annotated[int, Field(ge=1_000, le=20_000_000)] = 1_000_000


class OutputSpec(_Spec):
    layout: Literal["yyyy/mm/dd", "hive"] = "yyyy/mm/dd"


class CardNetwork(_Spec):
    weight: Weight
    length: Literal[15, 16, 19]
    bins: Annotated[list[Annotated[str, Field(pattern=r"^\d{6,8}$")]], Field(min_length=1)]
    products: Annotated[list[Annotated[str, Field(pattern=r"^[A-Z0-9]{2,8}$")]], Field(min_length=1)]


class Response(_Spec):
    code: Annotated[str, Field(pattern=r"^[0-9A-Z]{2}$")]
    weight: Weight
    approved: bool
    reason: str | None = None

    @model_validator(mode="after")
    def _declines_have_a_reason(self) -> Response:
        if not self.approved and not self.reason:
            raise ValueError(f"declined response {self.code} needs a reason")
        if self.approved and self.reason:
            raise ValueError(f"approved response {self.code} must not carry a decline reason")
        return self


class TransactionType(_Spec):
    weight: Weight
    mti: Annotated[str, Field(pattern=r"^0[12][0-9]0$")]
    settlement_rate: Rate
    risk_alert_amount: Annotated[float, Field(gt=0)]
    responses: Annotated[list[Response], Field(min_length=1)]
    mccs: list[str] | None = None  # None: the retail mix of merchant_categories
    channels: dict[str, Weight] | None = None  # None: the global channel mix
    amount_multiple: Annotated[int, Field(ge=0)] | None = None  # 20: ATM notes; 0: a zero-amount verification

    @model_validator(mode="after")
    def _weights(self) -> TransactionType:
        _weights_sum_to_one([r.weight for r in self.responses], "responses")
        if self.channels:
            _weights_sum_to_one(self.channels, "channels")
        if not any(r.approved for r in self.responses):
            raise ValueError("needs at least one approved response code")
        return self


class MerchantCategory(_Spec):
    name: str
    weight: Weight
    median_amount: Annotated[float, Field(gt=0)]
    sigma: Annotated[float, Field(ge=0, le=3)]


class Country(_Spec):
    weight: Weight
    currency: str
    centroid: tuple[Annotated[float, Field(ge=-90, le=90)], Annotated[float, Field(ge=-180, le=180)]]

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if value not in ISO_CURRENCIES:
            raise ValueError(f"{value!r} is not an ISO 4217 currency code this generator knows")
        return value


class NullRates(_Spec):
    device_id: Rate
    mcc: Rate
    location: Rate


class EventTime(_Spec):
    peak_hour: Annotated[float, Field(ge=0, lt=24)]
    sigma_hours: Annotated[float, Field(gt=0, le=12)]


class Clearing(_Spec):
    mti: Annotated[str, Field(pattern=r"^1[0-9]{3}$")]
    delay_hours: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]]
    settlement_delay_days: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]]
    interchange_rates: dict[str, Rate]


class ReasonCodes(_Spec):
    fraud: str
    dispute: str


class Chargebacks(_Spec):
    mti: Annotated[str, Field(pattern=r"^1[0-9]{3}$")]
    delay_days: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]
    fraud_share_of_non_fraud: Rate
    reason_codes: dict[str, ReasonCodes]


class PaymentsSpec(_Spec):
    """The whole declaration; ``check`` cross-validates the parts that refer to each other."""

    name: str
    version: Annotated[int, Field(ge=1)]
    sequence_start: Annotated[int, Field(ge=1, lt=2**62)] = 1000000000000001
    volumes: Volumes = Volumes()
    output: OutputSpec = OutputSpec()
    cards: dict[str, CardNetwork]
    transaction_types: dict[str, TransactionType]
    channels: dict[str, Weight]
    merchant_categories: dict[str, MerchantCategory]
    countries: dict[str, Country]
    location_jitter_degrees: Annotated[float, Field(ge=0, le=10)] = 1.5
    null_rates: NullRates
    fraud_rate: Rate
    chargeback_rate: Rate
    event_time: EventTime
    clearing: Clearing
    chargebacks: Chargebacks

    @field_validator("merchant_categories")
    @classmethod
    def _mcc_format(cls, value: dict[str, MerchantCategory]) -> dict[str, MerchantCategory]:
        bad = [code for code in value if not re.fullmatch(r"\d{4}", code)]
        if bad:
            raise ValueError(f"merchant category codes must be 4 digits (ISO 18245): {bad}")
        return value

    @field_validator("countries")
    @classmethod
    def _iso_countries(cls, value: dict[str, Country]) -> dict[str, Country]:
        bad = [code for code in value if code not in ISO_COUNTRIES]
        if bad:
            raise ValueError(f"not ISO 3166 alpha-2 country codes this generator knows: {bad}")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> PaymentsSpec:
        _weights_sum_to_one({k: v.weight for k, v in self.cards.items()}, "cards")
        _weights_sum_to_one({k: v.weight for k, v in self.transaction_types.items()}, "transaction_types")
        _weights_sum_to_one(self.channels, "channels")
        _weights_sum_to_one({k: v.weight for k, v in self.merchant_categories.items()}, "merchant_categories")
        _weights_sum_to_one({k: v.weight for k, v in self.countries.items()}, "countries")
        for name, kind in self.transaction_types.items():
            unknown = [m for m in kind.mccs or [] if m not in self.merchant_categories]
            if unknown:
                raise ValueError(f"transaction_types.{name}.mccs names unknown merchant categories {unknown}")
        for what, mapping in (("clearing.interchange_rates", self.clearing.interchange_rates),
                              ("chargebacks.reason_codes", self.chargebacks.reason_codes)):
            missing = sorted(set(self.cards) - set(mapping))
            if missing:
                raise ValueError(f"{what} has no entry for card networks {missing}")
        for lo, hi, what in ((*self.clearing.delay_hours, "clearing.delay_hours"),
                             (*self.clearing.settlement_delay_days, "clearing.settlement_delay_days"),
                             (*self.chargebacks.delay_days, "chargebacks.delay_days")):
            if lo > hi:
                raise ValueError(f"{what}: the range [{lo}, {hi}] is empty")
        return self


@lru_cache(maxsize=8)
def load_spec(path: Path | Traversable | None = None) -> PaymentsSpec:
    """Read and validate a spec file (default: the payments spec shipped with paybatch)."""
    path = path or DEFAULT_SPEC
    if not path.is_file():
        raise ConfigError(f"no generator spec at {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"generator spec {path} is not valid YAML: {exc}") from exc
    try:
        return PaymentsSpec.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(f"  {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid generator spec {path}:\n{problems}") from None

"""The generator spec: the shipped spec is valid, and each kind of mistake is named precisely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from paybatch.errors import ConfigError
from paybatch.generate.spec import DEFAULT_SPEC, load_spec


def write_spec(tmp_path: Path, change: Any) -> Path:
    data = yaml.safe_load(DEFAULT_SPEC.read_text())
    change(data)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_spec_is_valid_and_matches_the_business_rules() -> None:
    spec = load_spec()
    mix = {name: kind.weight for name, kind in spec.transaction_types.items()}
    assert (mix["PURCHASE"], mix["CASH_ADVANCE"], mix["BALANCE_TRANSFER"], mix["REFUND"]) == (0.85, 0.05, 0.04, 0.03)
    assert {r.code for r in spec.transaction_types["CASH_ADVANCE"].responses} == {"00", "85"}
    assert {r.code for r in spec.transaction_types["BALANCE_TRANSFER"].responses} == {"00", "87"}
    assert spec.transaction_types["REFUND"].settlement_rate == 0.90
    assert spec.transaction_types["CASH_ADVANCE"].settlement_rate == 0.95
    assert spec.cards["VISA"].products == ["CSP", "CSR", "CFU"]
    assert (spec.null_rates.device_id, spec.null_rates.mcc, spec.null_rates.location) == (0.08, 0.05, 0.01)
    assert (spec.fraud_rate, spec.chargeback_rate, spec.event_time.peak_hour, spec.event_time.sigma_hours) == (0.003, 0.001, 18, 3)
    assert spec.sequence_start == 1000000000000001


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["transaction_types"]["PURCHASE"].update(weight=0.5), "transaction_types weights add up to"),
        (lambda d: d["countries"]["US"].update(currency="USX"), "not an ISO 4217 currency"),
        (lambda d: d["countries"].update(XX=d["countries"].pop("BR")), "not ISO 3166"),
        (lambda d: d["merchant_categories"].update({"54A1": d["merchant_categories"].pop("5691")}), "4 digits"),
        (lambda d: d["transaction_types"]["CASH_ADVANCE"].update(mccs=["9999"]), "unknown merchant categories"),
        (lambda d: d["clearing"]["interchange_rates"].pop("AMEX"), "no entry for card networks ['AMEX']"),
        (lambda d: d["transaction_types"]["REFUND"]["responses"][1].pop("reason"), "needs a reason"),
        (lambda d: d.update(fraud_rate=1.5), "fraud_rate"),
        (lambda d: d["clearing"].update(delay_hours=[10, 2]), "is empty"),
        (lambda d: d.update(colour="blue"), "colour"),
    ],
)
def test_each_mistake_is_named(tmp_path: Path, change: Any, message: str) -> None:
    with pytest.raises(ConfigError, match="invalid generator spec") as err:
        load_spec(write_spec(tmp_path, change))
    assert message in str(err.value)


def test_missing_and_malformed_spec_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no generator spec"):
        load_spec(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cards: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_spec(bad)

"""Each Lambda function's bundle holds what its handler imports, and nothing a function would miss goes unnoticed."""

from __future__ import annotations

import pytest

from paybatch.errors import PaybatchError
from paybatch.ops import package
from paybatch.ops.package import LAMBDA_HANDLERS, bundle_contents


def test_each_function_gets_only_what_it_imports() -> None:
    builder, builder_deps = bundle_contents(LAMBDA_HANDLERS["builder"])
    api, api_deps = bundle_contents(LAMBDA_HANDLERS["screening-api"])
    worker, _ = bundle_contents(LAMBDA_HANDLERS["bulk-worker"])
    assert "paybatch.builder.manifests" in builder and not any(m.startswith(("paybatch.screening", "paybatch.iceberg",
                                                                              "paybatch.bulk", "paybatch.convert")) for m in builder)
    assert builder_deps == {"aws-lambda-powertools", "pydantic", "pyyaml"}  # no numpy, no matcher, no pyarrow
    assert "paybatch.screening.matcher" in api and not any(m.startswith("paybatch.builder") for m in api)
    assert {"numpy", "rapidfuzz", "nicknames"} <= api_deps  # nicknames is imported inside a function: still shipped
    assert "paybatch.bulk.kinds" in worker and "paybatch.generate.spec" in worker and "paybatch.generate.job" not in worker


def test_a_module_importing_what_no_function_has_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    real = package._imports

    def pyarrow_in_storage(path, module, is_package):  # type: ignore[no-untyped-def]
        top, deferred = real(path, module, is_package)
        return (top | {"pyarrow.fs"}, deferred) if module == "paybatch.storage" else (top, deferred)

    monkeypatch.setattr(package, "_imports", pyarrow_in_storage)
    with pytest.raises(PaybatchError, match=r"paybatch\.storage imports pyarrow"):
        bundle_contents(LAMBDA_HANDLERS["builder"])

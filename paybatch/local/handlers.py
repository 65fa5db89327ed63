"""Handlers found by name, as Lambda resolves a function's Handler setting and EventBridge a rule's target.

The local runtime sits below the parts whose handlers it runs (the builder, the scheduler, the bulk worker), so
it names them (``paybatch.constants``) instead of importing them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def import_handler(dotted: str) -> Callable[..., Any]:
    """``package.module.function`` → the function."""
    module_name, _, attribute = dotted.rpartition(".")
    handler: Callable[..., Any] = getattr(importlib.import_module(module_name), attribute)
    return handler

"""paybatch: a manifest-driven AWS pipeline for payment data that also runs whole on one machine."""

from __future__ import annotations

__version__ = "0.1.0"

"""Where the shipped configuration and demo data live."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """The folder holding default.toml and the demo data ($CC_CONFIG_DIR overrides)."""
    override = os.environ.get("CC_CONFIG_DIR")
    if override:
        return Path(override)
    packaged = Path(__file__).resolve().parent / "_config"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "config"

"""Fixtures of the block-layer tests (helpers live in blockhelpers.py)."""
from blockhelpers import ours  # noqa: F401  (pytest fixture)

import sys
from pathlib import Path

# The helpers import as a plain module, never through tests/conftest.py.
sys.path.insert(0, str(Path(__file__).resolve().parent))

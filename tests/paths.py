"""Where the shared contracts and data are: `../shared` beside the checkout (as CI lays it out)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEED_SUITE = SHARED / "bench" / "seed_suite.json"
DATA = SHARED / "data"

from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "company-small"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.exists():
        pytest.skip(f"the shared samples are not beside the checkout ({SAMPLES})")
    return SAMPLES

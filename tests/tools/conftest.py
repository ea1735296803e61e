import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "verifiers"))  # sandbox_checks: the hostile-program checks


@pytest.fixture(scope="session")
def tokenizer():
    from mmrl.models import load_processor
    return load_processor("smollm2-135m-instruct")

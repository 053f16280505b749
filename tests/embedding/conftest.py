"""Shared inputs of the embedding tests."""

import numpy as np
import pytest

from radiolatent.data.inputs import model_input


@pytest.fixture(scope="module")
def pool_images():
    """The default pool's model inputs, (N, 64, 64) uint8."""
    return np.asarray(model_input("pool").images)

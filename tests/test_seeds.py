"""Named random streams: the numbers behind the names may never change (every recorded result depends on them)."""

import numpy as np

from liverkit.experiment.protocol import model_seed
from liverkit.seeds import GanStream, Stream, derive


def test_stream_numbers_are_the_ones_results_were_recorded_with():
    assert {s.name: s.value for s in Stream} == {
        "INNER_SPLIT": 1,
        "OUTER_POOL": 2,
        "OUTER_MODEL": 3,
        "INNER_POOL": 4,
        "INNER_MODEL": 5,
        "SYNTHETIC": 8,
        "GAN_FOLD": 7,
        "OUTER_FOLDS": 12,
        "FOLD_CHECK": 13,
        "GAN_REPEAT": 11,
    }
    assert [s.value for s in GanStream] == [0, 1, 2]


def test_derive_is_a_seed_sequence_of_the_parts():
    expected = int(np.random.SeedSequence([7, 1, 2, 3]).generate_state(1)[0])
    assert derive(7, 1, 2, Stream.OUTER_MODEL) == expected == model_seed(7, 1, 2)
    assert derive(7, 1, 2, Stream.INNER_MODEL, 0) != derive(7, 1, 2, Stream.INNER_MODEL, 1)
    assert 0 <= derive(2**40, 5) < 2**32  # any integer seed, one 32-bit result

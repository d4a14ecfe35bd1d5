"""Hub loads: local paths are never sent to the hub as repo ids."""

import pytest

from mpq.core import hub
from mpq.core.errors import MpqError


@pytest.mark.parametrize("spec", ["/no/such/model", "./model", "~/m", "a/b/c", "runs/"])
def test_a_missing_local_model_path_says_so(spec):
    with pytest.raises(MpqError, match="no such directory"):
        hub.from_pretrained(object, spec, False, "what save_pretrained writes")


@pytest.mark.parametrize("spec", ["google/vit-base-patch16-224", "beans", "openai/whisper-medium"])
def test_hub_ids_are_not_paths(spec):
    assert not hub.looks_like_path(spec)

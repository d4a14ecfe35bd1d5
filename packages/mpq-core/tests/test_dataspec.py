"""The dataset-spec and split grammar shared by the modalities."""

import pytest

from mpq.core.dataspec import DatasetSpec, parse_dataset_spec, parse_split
from mpq.core.errors import MpqError


def test_hub_options_and_config():
    spec = parse_dataset_spec(
        "zhoubolei/scene_parse_150:revision=refs/convert/parquet:data_dir=scene_parsing"
    )
    assert spec == DatasetSpec(
        "zhoubolei/scene_parse_150",
        {"revision": "refs/convert/parquet", "data_dir": "scene_parsing"},
    )
    assert parse_dataset_spec("fixie-ai/common_voice_17_0@en").options == {"config": "en"}
    assert str(parse_dataset_spec("beans:streaming=false")) == "beans:streaming=false"


def test_values_may_hold_colons_and_local_sources_keep_their_paths():
    spec = parse_dataset_spec(
        "ILSVRC/imagenet-1k:data_files=hf://datasets/ILSVRC/imagenet-1k/data/validation-*.parquet"
    )
    assert spec.options["data_files"].startswith("hf://datasets/ILSVRC")
    local = parse_dataset_spec("commonvoice:/data/cv-corpus-11.0-2022-09-21/en:exclude=362,711")
    assert local.local("commonvoice") == "/data/cv-corpus-11.0-2022-09-21/en"
    assert local.excluded == [362, 711] and local.local("imagefolder") is None
    assert parse_dataset_spec("skimage:384").local("skimage") == "384"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("beans:revison=main", "unknown key"),
        ("beans:streaming=maybe", "streaming must be true or false"),
        ("beans:exclude=1,x", "exclude must list item indices"),
        ("beans@a:config=b", "give the config once"),
        ("beans:data_dir=a:data_dir=b", "given twice"),
        ("", "empty"),
    ],
)
def test_bad_specs_are_refused_with_the_reason(text, message):
    with pytest.raises(MpqError, match=message):
        parse_dataset_spec(text)


def test_local_sources_refuse_hub_options():
    with pytest.raises(MpqError, match="only apply to hub datasets"):
        parse_dataset_spec("imagefolder:/x:revision=main").refuse_options("an imagefolder")


def test_split_slices_keep_the_indices_of_the_whole_split():
    assert parse_split("validation") == parse_split("validation[0:]")
    split = parse_split("validation[:802]")
    assert (split.name, split.start, split.stop) == ("validation", 0, 802)
    assert str(split) == "validation[:802]" and str(parse_split("test[5:9]")) == "test[5:9]"
    assert list(parse_split("test[5:9]").indices(7)) == [5, 6]
    assert parse_split("test[5:]").indices(None) is None
    for bad in ("validation[::2]", "validation[-5:]", "val idation", "validation[:10%]"):
        with pytest.raises(MpqError):
            parse_split(bad)

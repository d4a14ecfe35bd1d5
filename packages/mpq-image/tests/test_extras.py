"""Optional parts of mpq-image say which extra brings them."""

import sys

import pytest

from mpq.core.codec import codec_class, parse_codec_spec
from mpq.core.errors import MpqError


def test_compressai_codecs_without_compressai_name_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "compressai" or m.startswith("compressai.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "compressai", None)  # as if it were not installed
    (setting,) = parse_codec_spec("bmshj2018-factorized:quality=1:pretrained=false")
    cls = codec_class(setting.codec)
    with pytest.raises(MpqError, match=r"pip install 'mpq-image\[compressai\]'"):
        cls(**dict(setting.values)).setup()

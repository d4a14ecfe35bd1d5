import pytest

from mpq.core.errors import MpqError
from mpq.core.files import left_out_notice, list_files

SUFFIXES = {".png", ".jpg"}


def _touch(root, *names):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_folders_give_their_files_of_the_kind_and_count_the_rest(tmp_path):
    _touch(tmp_path, "b.png", "a.JPG", "sub/c.png", "notes.txt", "sub/more.txt", "README")
    found = list_files([tmp_path], SUFFIXES, "images")
    assert found.files == [tmp_path / "a.JPG", tmp_path / "b.png", tmp_path / "sub" / "c.png"]
    assert found.left_out == {".txt": 2, "": 1}
    assert left_out_notice(found.left_out) == (
        "Left out 3 files of the given folders, of types this command does not read (1 without a"
        " suffix, 2 .txt); name such a file directly to read it anyway."
    )


def test_hidden_files_and_folders_are_passed_over_unless_named(tmp_path):
    # A macOS copy's resource forks and a notebook's checkpoints hold no images of the set.
    _touch(tmp_path, "a.png", "._a.png", ".DS_Store", ".ipynb_checkpoints/a-checkpoint.png")
    found = list_files([tmp_path], SUFFIXES, "images")
    assert found.files == [tmp_path / "a.png"]
    assert found.left_out == {}
    assert left_out_notice(found.left_out) is None
    named = list_files([tmp_path / "._a.png"], SUFFIXES, "images")
    assert named.files == [tmp_path / "._a.png"]


def test_a_folder_without_files_of_the_kind_says_what_it_holds(tmp_path):
    _touch(tmp_path, "scan.heic", "scan2.heic", "list.txt")
    with pytest.raises(MpqError) as error:
        list_files([tmp_path], SUFFIXES, "images")
    assert f"no images found in {tmp_path} (they hold 2 .heic, 1 .txt)" in str(error.value)
    assert "files ending in .jpg, .png, or name a file directly" in str(error.value)

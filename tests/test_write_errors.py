"""A write that fails names its file: "No space left on device" alone does not tell an
operator which disk. Real parts: /dev/full, which answers every write with ENOSPC."""

from __future__ import annotations

import errno
import os

import pytest

from syndicate.site import files


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_full_disk_names_the_file_being_written() -> None:
    with pytest.raises(OSError) as caught:
        files._write_new("/dev/full", b"<feed/>" * 1000, 0.0, truncate=False)
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == "/dev/full"
    assert "/dev/full" in str(caught.value) and "No space left" in str(caught.value)


def test_an_error_that_names_its_file_is_left_as_it_is(tmp_path: os.PathLike[str]) -> None:
    missing = os.path.join(tmp_path, "no", "such", "feed.rss")
    with pytest.raises(FileNotFoundError) as caught:
        files._write_new(missing, b"x", 0.0)
    assert caught.value.filename == missing

"""A refused command line: exit 2, one stderr line naming the field, no traceback, no file."""

import pytest

from experiments.helpers import preflight


def assert_refused(capsys, call, field, tmp_path):
    """``call()`` exits 2 with one ``error:`` line naming ``field`` and writes nothing."""
    with pytest.raises(SystemExit) as info:
        call()
    assert info.value.code == preflight.EXIT_CODE
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert field in lines[0], lines[0]
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []

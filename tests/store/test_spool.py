"""The audit spool on its own: segments, adoption of a dead process's segments, torn lines."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from cds.store.spool import SUFFIX, Spool


def drain(spool: Spool) -> list[bytes]:
    """Read and mark stored everything the spool holds, as the writer does."""
    lines: list[bytes] = []
    while (chunk := spool.read(max_lines=3)) is not None:
        lines.extend(chunk.lines)
        spool.stored(chunk)
    return lines


def test_full_segments_are_rotated_and_deleted_once_stored(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=64)
    for i in range(20):
        spool.append(b'{"n":%d,"pad":"xxxxxxxxxxxxxxxxxxxx"}' % i)
        if i % 5 == 4:
            assert len(drain(spool)) == 5
    assert len(list(tmp_path.glob(f"*{SUFFIX}"))) == 1  # only the segment taking appends
    spool.close()
    assert list(tmp_path.glob(f"*{SUFFIX}")) == []  # fully stored: nothing left behind


def test_a_killed_process_leaves_every_appended_record_for_the_next_writer(
        tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from cds.store.spool import Spool
        spool = Spool(Path({str(tmp_path)!r}))
        for i in range(500):
            spool.append(b'{{"n":%d}}' % i)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[2],
                            capture_output=True, check=False)
    assert result.returncode == -9, result.stderr
    spool = Spool(tmp_path)
    assert spool.adopt_orphans() == 1
    assert [line.decode() for line in drain(spool)] == [f'{{"n":{i}}}' for i in range(500)]
    assert list(tmp_path.glob(f"*{SUFFIX}")) == []


def test_a_live_writers_segment_is_never_adopted(tmp_path: Path) -> None:
    alive = Spool(tmp_path)
    alive.append(b'{"n":1}')
    other = Spool(tmp_path)
    assert other.adopt_orphans() == 0
    assert drain(other) == []
    assert drain(alive) == [b'{"n":1}']


def test_a_torn_last_line_of_a_dead_segment_is_skipped_and_counted(tmp_path: Path) -> None:
    (tmp_path / f"gone-1-1-1{SUFFIX}").write_bytes(b'{"n":1}\n{"n":2}\n{"n":')
    spool = Spool(tmp_path)
    assert spool.adopt_orphans() == 1
    assert drain(spool) == [b'{"n":1}', b'{"n":2}']
    assert spool.torn_lines == 1
    assert list(tmp_path.glob(f"*{SUFFIX}")) == []

from mpq.core.sweep_writer import RowWriter


def test_rows_are_counted_shown_and_written_per_flush():
    parts, shown = [], []
    writer = RowWriter(parts.append, shown.append)
    writer.skip(3)
    writer.skip(0)
    writer.add({"status": "ok"})
    writer.add({"status": "failed"})
    writer.flush()
    writer.flush()
    assert parts == [[{"status": "ok"}, {"status": "failed"}], []]
    assert (writer.written, writer.failed, writer.skipped) == (1, 1, 3)
    assert shown == [3, 1, 1]


def test_a_part_is_written_per_part_rows_or_part_seconds_whichever_first():
    parts, now = [], [0.0]
    writer = RowWriter(parts.append, lambda n: None, part_rows=3, part_seconds=10.0,
                       clock=lambda: now[0])  # fmt: skip
    for i in range(7):
        writer.add({"status": "ok", "i": i})
    assert [[r["i"] for r in p] for p in parts] == [[0, 1, 2], [3, 4, 5]]
    now[0] = 9.9
    writer.add({"status": "ok", "i": 7})
    assert len(parts) == 2  # 2 rows kept, 9.9 s since the last part
    now[0] = 10.0
    writer.add({"status": "failed", "i": 8})
    assert [r["i"] for r in parts[2]] == [6, 7, 8]
    now[0] = 25.0
    writer.add({"status": "ok", "i": 9})  # the first row after a quiet spell goes at once
    writer.add({"status": "ok", "i": 10})
    writer.flush()  # the end of the sweep writes what is left
    assert [[r["i"] for r in p] for p in parts[3:]] == [[9], [10]]
    assert sum(len(p) for p in parts) == 11 and (writer.written, writer.failed) == (10, 1)

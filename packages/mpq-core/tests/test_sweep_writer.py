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

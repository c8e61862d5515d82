"""Copy-on-write meter: one minor fault and one private page per page the child writes; fork cost."""
import matplotlib
import pytest

from forklab.meters import cow

matplotlib.use("Agg")


def test_each_page_the_child_writes_costs_one_fault_and_becomes_private():
    m = cow.measure(writes=(0, 10, 200), region_pages=256)
    assert [r.pages_written for r in m.rows] == [0, 10, 200]
    assert [r.minor_faults for r in m.rows] == [0, 10, 200]
    kib = m.page_size // 1024
    assert [r.private_added_kib for r in m.rows] == [0, 10 * kib, 200 * kib]
    assert [r.shared_lost_kib for r in m.rows] == [0, 10 * kib, 200 * kib]
    assert m.faults_match_writes() and m.private_grows_by_a_page_per_write()
    assert "one minor fault per page written: True" in m.summary()


def test_a_wrong_meter_reading_is_detected():
    m = cow.measure(writes=(50,), region_pages=64)
    broken = cow.CowMeasurement(rows=[cow.CowRow(50, 3, 0, 0, 0)], region_pages=64, page_size=m.page_size)
    assert not broken.faults_match_writes() and not broken.private_grows_by_a_page_per_write()


def test_writing_more_pages_than_the_region_is_refused():
    with pytest.raises(ValueError, match="region_pages"):
        cow.measure(writes=(100,), region_pages=10)


def test_fork_gets_slower_as_the_parent_grows():
    f = cow.fork_cost(sizes_mib=(0, 128), repeats=5)
    assert f.sizes_mib == [0, 128]
    assert f.grows_with_size(), f.summary()
    assert "µs" in f.summary()


def test_plots_draw_one_point_per_row():
    m = cow.measure(writes=(0, 8), region_pages=16)
    ax = m.plot()
    assert len(ax.lines) == 2 and list(ax.lines[0].get_xdata()) == [0, 8]

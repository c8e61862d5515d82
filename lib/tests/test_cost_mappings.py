"""What fork() really pays for: private memory with anonymous pages (not resident memory), and the parent's own
first write to each page afterwards. Relations only: figures vary from machine to machine."""
import pytest

from forklab.meters import cost


def test_fork_copies_entries_only_for_private_anonymous_memory():
    rows = {r.kind: r for r in cost.mapping_cost(size_mib=64, repeats=5)}
    assert list(rows) == list(cost.MAPPINGS)
    # all three mappings were really resident while the parent forked
    assert all(rows[k].rss_kib > rows["none"].rss_kib + 60 * 1024 for k in ("private", "shared", "file"))
    private, shared, file, none = (rows[k].create_us for k in ("private", "shared", "file", "none"))
    # vma_needs_copy(): a mapping without an anon_vma is skipped, so shared memory costs fork() next to nothing
    assert private > 5 * max(shared, file), rows
    assert private - none > 10 * max(shared - none, file - none, 50), rows


def test_the_parent_faults_once_per_page_it_writes_after_fork():
    w = cost.writes_after_fork(size_mib=32)
    assert w.pages == 32 * 256 or w.pages == 32 * (1 << 20) // 16384   # 4 KiB pages (16 KiB on some arm64)
    assert w.unforked_faults < w.pages / 100          # before any fork the pages are writable: no faults
    assert w.faults_match_pages(w.parent_faults)      # after fork: the parent's entries are write-protected too
    assert w.faults_match_pages(w.child_faults)       # and the child's (notebook 02's side)
    assert w.parent_write_us > w.unforked_write_us    # each of those faults copies a page


def test_writes_after_fork_refuses_a_size_it_cannot_double():
    with pytest.raises(ValueError, match="twice"):
        cost.writes_after_fork(size_mib=cost.largest_allowed_mib())

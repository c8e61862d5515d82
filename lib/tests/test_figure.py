"""forklab.figure: a plot is shown as an <img> whose alt says what it shows (JupyterLab gives image/png no alt)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from forklab import figure  # noqa: E402
from forklab.meters.cow import CowMeasurement, CowRow, ForkCost  # noqa: E402
from forklab.course.tree import from_shape  # noqa: E402
from forklab.course.tree_drawing import alt_text  # noqa: E402


def test_the_bundle_is_an_img_with_the_alt_and_the_same_words_as_text():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    data = figure.bundle(fig, 'fork "copies" <page tables>')
    plt.close(fig)
    assert set(data) == {"text/html", "text/plain"}          # no bare image/png: JupyterLab would show it alt-less
    assert data["text/html"].startswith('<img alt="fork &quot;copies&quot; &lt;page tables&gt;" '
                                        'src="data:image/png;base64,iVBOR')
    assert data["text/plain"] == 'fork "copies" <page tables>'


def test_outside_a_kernel_the_figure_stays_open_for_plt_show():
    fig, _ = plt.subplots()
    assert figure.show(fig, "a plot") is False
    assert plt.fignum_exists(fig.number)
    plt.close(fig)
    with pytest.raises(ValueError, match="text equivalent"):
        figure.show(fig, " ")


def test_alt_texts_state_what_was_measured():
    tree = from_shape([[[]], []])
    assert alt_text(tree) == ("Drawing of a process tree, the real tree: 4 processes, each parent above its "
                              "children: a is the parent of b and c; b is the parent of d.")
    cow = CowMeasurement(rows=[CowRow(pages_written=n, minor_faults=n, private_kib=4 * n, private_added_kib=4 * n,
                                      shared_lost_kib=4 * n) for n in (0, 16)], region_pages=64, page_size=4096)
    assert "Pages written → minor faults: 0 → 0, 16 → 16." in cow.alt_text()
    cost = ForkCost(sizes_mib=[0, 256], median_us=[50.0, 9000.0], best_us=[40.0, 8400.0], repeats=7)
    assert "Best of 7: 0 MiB → 40 µs, 256 MiB → 8400 µs." in cost.alt_text()

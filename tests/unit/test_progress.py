"""Off a terminal, progress is one plain line per 10% of the total, never carriage-return redraws."""

import io

from pipeline.progress import PlainProgress, progress_bar


def test_plain_progress_prints_a_line_per_tenth_and_the_end():
    stream = io.StringIO()
    bar = PlainProgress(desc="predictor", total=20, unit="epoch", stream=stream)
    for epoch in range(20):
        bar.set_postfix(refresh=False, loss=f"{1 / (epoch + 1):.2f}")
        bar.update(1)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in stream.getvalue()
    assert lines[0].startswith("predictor:  10% 2/20 epoch") and lines[-1].startswith("predictor: 100% 20/20 epoch")
    assert lines[-1].endswith("loss=0.05")


def test_a_resumed_loop_counts_from_where_it_was_and_iterables_are_wrapped():
    stream = io.StringIO()
    bar = PlainProgress(desc="classifier", total=10, initial=6, stream=stream)
    bar.update(1)
    assert stream.getvalue().startswith("classifier:  70% 7/10")
    stream = io.StringIO()
    assert list(PlainProgress(range(3), desc="batches", stream=stream)) == [0, 1, 2]
    assert stream.getvalue().count("\n") == 3  # three steps of a third: each crosses a tenth


def test_off_a_terminal_the_bar_is_plain(capsys):
    assert isinstance(progress_bar(range(2), desc="x"), PlainProgress)  # pytest's stderr is not a terminal

"""benchmarks/report.py: a benchmark writes its table into docs/speed.md between its markers, and
nothing else of the page changes."""
import importlib.util
import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = load("report")


def test_a_table_goes_between_its_markers_and_nowhere_else(tmp_path):
    doc = tmp_path / "speed.md"
    begin, end = report.markers("bench_x")
    doc.write_text(f"# Speed\nby hand\n{begin}\nold table\n{end}\nafter, by hand\n")
    report.write("bench_x", report.table(["a", "b"], [[1, None]]) + "\n\nWritten today.", doc)
    assert doc.read_text() == (f"# Speed\nby hand\n{begin}\n| a | b |\n|---|---|\n| 1 | – |\n\n"
                               f"Written today.\n{end}\nafter, by hand\n")
    report.write("bench_x", "again", doc)
    assert "old table" not in doc.read_text() and doc.read_text().count("again") == 1


def test_a_page_without_the_markers_is_left_alone_and_says_which(tmp_path):
    doc = tmp_path / "speed.md"
    doc.write_text("# Speed\n")
    with pytest.raises(SystemExit, match="bench_x: begin"):
        report.write("bench_x", "table", doc)
    assert doc.read_text() == "# Speed\n"


def test_every_section_a_benchmark_writes_has_its_markers_once_in_the_page():
    written = {m for path in BENCH.glob("bench_*.py")
               for m in re.findall(r'report(?:\(\))?\.write\("([a-z_]+)"', path.read_text())}
    assert {"bench_load", "bench_chaos", "bench_pages"} <= written
    page = report.DOC.read_text()
    for section in written:
        begin, end = report.markers(section)
        assert page.count(begin) == 1 and page.count(end) == 1 and page.index(begin) < page.index(end)


def test_the_stamp_names_the_command_date_and_machine():
    line = report.stamp([str(BENCH / "bench_load.py"), "--sessions", "30"])
    assert line.startswith("Written by `python benchmarks/bench_load.py --sessions 30` on 20")
    assert "CPU cores" in line


def test_the_chaos_table_has_a_row_per_fault(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    chaos = load("bench_chaos")
    rows = [{"mode": "gcs", "server_alive": True, "pages_visited_during": 19, "pages_failed_during": 0,
             "page_p95_s_during": 13.3, "seconds_to_train_again": 144, "runs_lost": 0, "fault_seconds": 70},
            {"mode": "unreachable", "server_alive": False, "pages_visited_during": 5,
             "pages_failed_during": 5, "page_p95_s_during": None, "seconds_to_train_again": None,
             "runs_lost": 1, "fault_seconds": 180.2}]
    lines = chaos.docs_table(rows).splitlines()
    assert lines[2] == "| `kill -9` of the GCS | yes | 19 (0) | 13.3 | 144 | 0 |"
    assert lines[3] == "| the head unreachable for 180 s | **no** | 5 (5) | – | – | 1 |"
    sys.modules.pop("report", None)

"""The README's tables say what the committed files under results/ say, rounded as printed.

Each table is parsed from README.md and every cell is compared, as a string, with the file's
value formatted the way the README prints it, so editing a number in either place fails here.
Reads JSON and CSV only (no JAX, no idm import): ``experiments.helpers.fits.markdown`` formats
exponents the same way (``f"{e:.3f} [{lo:.3f}, {hi:.3f}]"``) but its tables have other columns
than the README's, and importing it pulls in JAX.
"""

import csv
import json
import math
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
README = (ROOT / "README.md").read_text()


def _table(header_start: str) -> list[list[str]]:
    """Body rows (cells stripped) of the one README table whose header line starts so."""
    lines = README.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(header_start)]
    assert len(starts) == 1, f"{len(starts)} README tables start with {header_start!r}"
    i = starts[0]
    assert set(lines[i + 1].replace("|", "").replace(" ", "")) <= {"-"}, lines[i + 1]
    rows = []
    for line in lines[i + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    assert rows, header_start
    return rows


def _json(path: str):
    return json.loads((RESULTS / path).read_text())


def _csv(path: str) -> list[dict]:
    with open(RESULTS / path, newline="") as f:
        return list(csv.DictReader(f))


def _mean(values) -> float:
    values = [float(v) for v in values]
    return math.fsum(values) / len(values)


def _ci(value: float, ci) -> str:
    """An exponent with its interval, as the README and fits.markdown print it."""
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _pct(rel: float) -> str:
    """A relative error bar in percent, two significant figures ('4.1%', '5.0%', '11%')."""
    p = 100 * rel
    return f"{p:.1f}%" if round(p, 1) < 10 else f"{p:.0f}%"


def _n(n: int) -> str:
    """n as the rate_long table writes it: powers of ten as 10^k."""
    k = round(math.log10(n))
    return f"10^{k}" if 10**k == n and k >= 3 else str(n)


def _fits(path: str) -> dict:
    return {(f["manifold"], f["d"], f["method"]): f for f in _json(path)["fits"]}


def test_default_exponent_table():
    fits = _fits("default/summary.json")
    rows = _table("| manifold | d | D | method | exponent [95% CI] | predicted |")
    assert len(rows) == 4
    for manifold, d, D, method, exponent, predicted, n_used, largest in rows:
        f = fits[(manifold, int(d), method)]
        assert int(D) == f["D"]
        assert exponent == _ci(f["exponent"], f["ci"])
        assert float(predicted.split()[0]) == round(f["reference_exponent"], 3)
        ns = f["ns_used"]
        assert n_used == f"{min(ns)}-{max(ns)}" + (" (all)" if not f["dropped"] else "")
        assert largest == _pct(max(f["rel_errors"][str(n)] for n in ns))


def test_default_floor_free_table():
    fits = _fits("default/summary.json")
    parts = {"W1": None, "radial": "distance_to_manifold", "along the circle": "tangential"}
    rows = _table("| manifold | part | exponent [95% CI] | per doubling of n")
    assert len(rows) == 5
    for manifold, part, exponent, slopes in rows:
        f = fits[(manifold, {"circle": 1, "sphere": 2}[manifold], "idm")]
        fit = f if parts[part] is None else f[parts[part]]
        assert exponent == _ci(fit["exponent"], fit["ci"])
        assert slopes == " ".join(f"{p['slope']:+.2f}" for p in fit["slopes_per_doubling"])


def test_high_dim_table():
    rows = _table("| n | 250 | 500 |")
    header = next(line for line in README.splitlines() if line.startswith("| n | 250 | 500 |"))
    ns = [int(c) for c in header.strip().strip("|").split("|")[1:]]
    cross = {c["method"]: c for c in _json("high_dim/summary.json")["crossover"]}
    by = defaultdict(list)
    for r in _csv("high_dim/rows.csv"):
        by[(r["method"], r["c"], int(r["n"]))].append(r)

    def band(method, c, column):
        return [f"{_mean(r[column] for r in by[(method, c, n)]):.3f}" for n in ns]

    def bold(entry):
        below = set(entry["n_where_idm_below_train"])
        return [
            f"**{w:.3f}**" if n in below else f"{w:.3f}"
            for n, w in zip(entry["ns"], entry["w1"], strict=True)
        ]

    for c in cross.values():
        assert c["ns"] == ns
    floors = [
        f"{_mean(r['w1_floor'] for k, v in by.items() if k[2] == n for r in v):.3f}" for n in ns
    ]
    expected = {
        "training set": [f"{w:.3f}" for w in cross["idm c=0.5"]["w1_train"]],
        "IDM, c = 0.5 (chosen from data)": bold(cross["idm c=0.5"]),
        "IDM, c = 1": bold(cross["idm c=1"]),
        "IDM c = 1, shrinkage E[1 - abs(x)] (lower bound)": band("idm", "1.0", "radial_shrinkage"),
        "copy fraction, IDM c = 0.5": band("idm", "0.5", "copy_fraction"),
        "floor of 4000 population points": floors,
    }
    assert {r[0] for r in rows} == set(expected)
    for label, *cells in rows:
        assert cells == expected[label], label


def test_inertia_table():
    data = {r["D"]: r for r in _json("inertia/inertia.json")}
    rows = _table("| D | sigma^2 | Tweedie step | paper step |")
    assert [int(r[0]) for r in rows] == sorted(data)
    for D, sigma2, tweedie, paper in rows:
        r = data[int(D)]
        assert [sigma2, tweedie, paper] == [f"{r[k]:.4f}" for k in ("sigma2", "tweedie", "paper")]


def test_generate_clouds_table():
    names = {"von Mises-Fisher on S^2 (kappa = 4)": "vmf_sphere", "flat torus T^2": "torus"}
    data = {r["cloud"]: r for r in _json("generate/clouds.json")}
    rows = _table("| cloud | IDM copies | W1 IDM |")
    assert {r[0] for r in rows} == set(names)
    for label, copies, w1, cfdm, kde, floor in rows:
        r = data[names[label]]
        assert copies == f"{r['copy_fraction_idm']:.3f}"
        assert w1 == f"{r['w1_idm']:.3f}"
        assert cfdm == f"{r['w1_cfdm']:.3f} ({r['copy_fraction_cfdm']:.3f})"
        assert kde == f"{r['w1_kde']:.2f}"
        assert floor == f"{r['w1_floor']:.3f}"


def test_bandwidth_table_is_the_committed_one():
    md = (RESULTS / "bandwidth/bandwidth.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) >= 3
    assert "\n".join(table) in README


def _as_printed(cell: str, value: float) -> None:
    """A cell with its own number of decimals holds the value rounded to them."""
    decimals = len(cell.split(".")[1]) if "." in cell else 0
    assert cell == f"{value:.{decimals}f}", (cell, value)


def test_tradeoff_table():
    s = _json("tradeoff/summary.json")
    curves = {(m, c["c"]): c for m, cs in s["curves"].items() for c in cs}
    names = {"idm": "idm", "sigma-CFDM": "cfdm", "KDE": "kde"}
    rows = _table("| method | c | copy fraction | held-out W1 | confident (p > 0.9) |")
    auto = s["auto"]
    per_split = auto["per_split"]
    auto_rows = [r for r in _csv("tradeoff/rows.csv") if r["is_auto"] == "True"]
    assert len(auto_rows) == auto["splits"] == len(per_split)
    seen = set()
    for label, c, copies, w1, confident, nearest in rows:
        if label == "test images":
            assert (
                w1
                == f"floor {s['w1_floor']:.3f} (two halves of {int(auto_rows[0]['n_test']) // 2})"
            )
            assert confident == f"{s['test_confident']:.3f}"
            assert nearest == f"{s['test_nn_median']:.2f}"
        elif label == "**idm, c=auto**":
            cs = [p["c"] for p in per_split]
            assert c == f"{auto['c_mean']:.3f} ({min(cs):.3f}-{max(cs):.3f})"
            mean_copy = _mean(p["copy_fraction"] for p in per_split)
            assert copies == f"{mean_copy:.4f} (max {auto['max_copy_fraction']:.4f})"
            assert w1 == f"**{_mean(p['w1_test'] for p in per_split):.3f}**"
            assert confident == f"{_mean(p['confident'] for p in per_split):.3f}"
            assert nearest == f"{_mean(r['nn_median'] for r in auto_rows):.2f}"
        else:
            if label in ("dm (memorizes)", "training set itself"):
                assert c == ""
                r = curves[("dm" if label.startswith("dm") else "train", None)]
            else:
                r = curves[(names[label], float(c))]
            _as_printed(copies, r["copy_fraction"])  # the column's precision varies by row
            assert w1 == f"{r['w1_test']:.3f}"
            assert confident == f"{r['confident']:.3f}"
            assert nearest == (f"{r['nn_median']:.2f}" if r["nn_median"] > 1e-6 else "0")
        seen.add((label, c))
    assert len(seen) == len(rows) == 11


def test_bad_input_table():
    """The bad inputs tried and what each got, as experiments.studies.bad_inputs wrote them."""
    cases = _json("reliability/bad_inputs.json")["cases"]
    rows = _table("| input | exit | what it says |")
    assert [r[0] for r in rows] == [c["input"] for c in cases]
    for row, case in zip(rows, cases, strict=True):
        assert row[1] == str(case["exit"])
        if "report" not in case:
            assert row[2].replace("\\|", "|") == case["says"]
        assert row[3] == (", ".join(case["written"]) or "none")
        if case["exit"] == 2:  # a refusal: one line, no traceback, nothing written
            assert case["stderr_lines"] == 1, case
            assert not case["traceback"], case
            assert not case["written"], case


def test_rate_long_table():
    """experiment=rate_long (issue 21): exponents, error bars, slopes, two-term fits, cell times."""
    fits = {f["d"]: f for f in _json("rate_long/summary.json")["fits"] if f["method"] == "idm"}
    cell = defaultdict(float)  # the idm and train rows of one (d, n, seed)
    for r in _csv("rate_long/rows.csv"):
        cell[(int(r["d"]), int(r["n"]), int(r["seed"]))] += float(r["seconds"])
    rows = _table("| d | predicted | IDM W1 exponent [95% CI] | n used | largest error bar |")
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5, 6, 8]
    for d, predicted, exponent, n_used, largest, slopes, two_term, share, seconds in rows:
        f = fits[int(d)]
        ns = f["ns_used"]
        assert not f["dropped"]  # every n of the grid, every error bar under 10%
        assert predicted == f"{f['predicted_exponent']:.3f}"
        assert exponent == _ci(f["exponent"], f["ci"])
        assert n_used == f"{_n(min(ns))}-{_n(max(ns))} ({len(ns)})"
        assert largest == _pct(max(f["rel_errors"].values()))
        assert slopes == " ".join(f"{p['slope']:+.2f}" for p in f["slopes_per_doubling"])
        tt = f["two_term"]
        assert two_term == f"{tt['a']:.3f}, {tt['b']:.3f} ({_pct(tt['residual'])})"
        assert share == f"{tt['share_first'][0]:.2f} / {tt['share_first'][-1]:.2f}"
        times = [t for (dd, n, _), t in cell.items() if dd == int(d) and n == max(ns)]
        assert len(times) == f["n_seeds"]
        assert seconds == f"{min(times):.0f}-{max(times):.0f} s ({_n(max(ns))})"


def test_trained_table():
    """The trained-network table: every line as experiments.studies.trained_figure prints it."""
    from experiments.studies.trained_figure import README_HEADER, load_rows, readme_table

    expected = readme_table(load_rows(RESULTS / "trained")).splitlines()[2:]
    printed = ["| " + " | ".join(r) + " |" for r in _table(README_HEADER)]
    assert printed == expected
    assert len(printed) == 7


def test_trained_summary():
    """What the trained grid shows, per manifold and D, and the paragraph on D = 100: as
    experiments.studies.trained_figure prints them from results/trained."""
    from experiments.studies import trained_figure as tf

    rows = tf.load_rows(RESULTS / "trained")
    expected = tf.summary_table(rows).splitlines()[2:]
    printed = ["| " + " | ".join(r) + " |" for r in _table(tf.SUMMARY_HEADER)]
    assert printed == expected
    assert len(printed) == 4
    lines = README.splitlines()
    (start,) = [i for i, line in enumerate(lines) if line.startswith(tf.SUMMARY_TEXT_START)]
    end = lines.index("", start)
    assert lines[start:end] == tf.summary_text(rows).splitlines()
    # and --readme leaves a README that says so unchanged
    assert tf.sync_readme(README, rows) == README


def test_crossover_tables():
    """The README prints results/crossover/tables.md as it is (tests/experiments/test_crossover.py
    checks that file against the summary)."""
    tables = (RESULTS / "crossover" / "tables.md").read_text().strip().splitlines()
    lines = README.splitlines()
    first = [i for i, line in enumerate(lines) if line == tables[0]]
    assert len(first) == 1, tables[0]
    assert lines[first[0] : first[0] + len(tables)] == tables

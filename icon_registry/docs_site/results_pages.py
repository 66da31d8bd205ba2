"""The Results pages: ``results/reproduce.json`` (``icon reproduce``) and ``results/bench.json``
(``icon bench``) as sections a reader can follow, with their plots.

Both files are data: every key and value goes through the escape helpers, and anything this
module does not recognise is still shown (a table of what the file holds), never dropped and
never interpreted. The experiments' questions come from ``icon_registry.training.reproduce.ABOUT``
(the code that runs them); the benchmark suites are rendered generically, whatever suites and
fields the file has.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Callable, Optional

from icon_registry.docs_site.escape import code, inline, one_line, prose
from icon_registry.docs_site.inputs import outside_reason

# ----------------------------------------------------------------- reading


def read_results(path: Path):
    """(data, None) from a results file, or (None, a Markdown admonition saying why not);
    (None, None) when the file does not exist."""
    if not (path.exists() or path.is_symlink()):
        return None, None
    if outside_reason(path, path.parent):
        return None, f'!!! warning "Not read"\n    {code(path.name)} is a link out of the results folder or not a regular file.\n'
    data, error = load_json(path)
    if error is not None:
        return None, f'!!! warning "Unreadable results"\n    {code(path.name)} could not be read: {inline(error)}\n'
    return data, None


def load_json(path: Path):
    """(data, None) from a JSON results file, or (None, why it cannot be read: not UTF-8, not JSON,
    nested too deeply, unreadable)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, ValueError, RecursionError) as err:  # RecursionError: nested too deeply
        return None, one_line(str(err) or type(err).__name__)


def result_plots(data) -> list[str]:
    """The plot files a results file names under ``plots`` (plain PNG file names only: an SVG
    could carry a script that runs when the file is opened on its own)."""
    plots = data.get("plots", []) if isinstance(data, dict) else []
    return [p for p in plots if isinstance(p, str) and re.fullmatch(r"[\w.-]+\.png", p)]


# ----------------------------------------------------------------- values


def number(value, key: str = "") -> str:
    """A measured value as text: ratios with 2 decimals, other floats with 4 significant digits."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if "ratio" in key:
            return f"{value:.2f}"
        return f"{value:.4g}"
    if value is None:
        return "–"
    return inline(value)


def cell(value, key: str = "") -> str:
    """A table cell: numbers formatted, text escaped, nested data as escaped JSON text."""
    if isinstance(value, (dict, list)):
        try:
            return code(json.dumps(value, sort_keys=True, ensure_ascii=False))
        except (RecursionError, ValueError):
            return "(nested too deeply to show)"
    return number(value, key)


def _is_scalar(value) -> bool:
    return not isinstance(value, (dict, list))


def is_mean_std(value) -> bool:
    """A summary of repeated runs as icon_registry.training.metrics.mean_std writes it."""
    return isinstance(value, dict) and isinstance(value.get("mean"), (int, float)) and "std" in value


def key_value_table(items, header=("Field", "Value")) -> list[str]:
    """Two columns; a value that is a flat dict reads "key = value; ..." in one cell."""
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    for k, v in items:
        if _is_flat_dict(v):
            shown = "; ".join(f"{inline(kk)} = {cell(vv, str(kk))}" for kk, vv in v.items())
        else:
            shown = cell(v, str(k))
        lines.append(f"| {inline(k)} | {shown} |")
    return lines + [""]


def _is_flat_dict(value) -> bool:
    return isinstance(value, dict) and bool(value) and all(_is_scalar(v) for v in value.values())


def records_table(records: list[dict], columns: list[str], headers: dict[str, str] | None = None) -> list[str]:
    headers = headers or {}
    lines = ["| " + " | ".join(headers.get(k) or inline(k) for k in columns) + " |", "|" + "---|" * len(columns)]
    for rec in records:
        lines.append("| " + " | ".join(cell(rec.get(k, ""), k) if k in rec else "" for k in columns) + " |")
    return lines + [""]


def generic(data, level: int) -> list[str]:
    """Any JSON value as tables and headings (what the file holds, when nothing else applies)."""
    if level > 6 and isinstance(data, (dict, list)):  # below the last heading level: JSON text
        return [cell(data), ""]
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return records_table(data, _columns(data))
    if isinstance(data, dict):
        out = []
        scalars = [(k, v) for k, v in data.items() if _is_scalar(v)]
        if scalars:
            out += key_value_table(scalars, ("Key", "Value"))
        for k, v in data.items():
            if not _is_scalar(v):
                out += ["#" * min(level, 6) + f" {inline(one_line(k))}", ""]
                if isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()):
                    rows = [{"name": name, **x} for name, x in v.items()]
                    out += records_table(rows, _columns(rows))
                else:
                    out += generic(v, level + 1)
        return out
    if isinstance(data, list):
        return [f"- {cell(x)}" for x in data] + [""]
    return [cell(data), ""]


def _columns(records: list[dict]) -> list[str]:
    keys: list[str] = []
    for rec in records:
        keys += [k for k in rec if k not in keys]
    return keys


def _contents(path: Path, command: str):
    """(the file's data, None), or (None, the lines a page shows instead: why it could not be
    read, or that ``command`` has not been run)."""
    data, problem = read_results(path)
    if problem:
        return None, [problem]
    if data is None:
        return None, ['!!! info "Not yet run"',
                      f"    Not yet run: run `{command}` (it writes `results/{path.name}`), then rebuild the site.", ""]
    return data, None


# ----------------------------------------------------------------- conformance

CONFORMANCE_COMMAND = "python -m tests.compiler.conformance --json results/conformance.json"


def conformance_page(path: Path) -> str:
    """Every compiled entry against its peer libraries or slow references: one row per check."""
    L = ["# Conformance", "",
         "Every compiled entry against a peer library (pytorch-metric-learning, lightly, scikit-learn, torch) or an "
         "independent slow reference, in float64: the largest differences of the loss value and, where measured, "
         f"of its gradients. Written by `{CONFORMANCE_COMMAND}` from a checkout (the references are test code).", ""]
    data, stub = _contents(path, CONFORMANCE_COMMAND)
    if stub is not None:
        return "\n".join(L + stub)
    cases = data.get("cases") if isinstance(data, dict) else None
    if not (isinstance(cases, list) and cases and all(isinstance(case, dict) for case in cases)):
        return "\n".join(L + generic(data, 2))
    L += key_value_table([(k, v) for k, v in data.items() if k != "cases" and _is_scalar(v)])
    return "\n".join(L + records_table(cases, _columns(cases)))


# ----------------------------------------------------------------- reproductions

RUN_FIELDS = {  # top-level fields of reproduce.json, in the order the run summary shows them
    "command": "Command",
    "dataset": "Data",
    "seeds_note": "Seeds",
    "losses": "Losses",
    "machine": "Machine",
    "wall_seconds": "Wall time (s)",
    "wall_limit_seconds": "Time limit (s)",
    "targets_met": "Targets met",
}
_RUN_SILENT = {"quick", "seeds", "wall_within_limit"}  # said by the fields above
_REPRO_STRUCTURE = {"summary", "plots", "details", "seconds_per_experiment"}


def _experiment_about():
    """{experiment key: About} from the code that runs the experiments (empty if it cannot load)."""
    try:
        from icon_registry.training.reproduce import ABOUT
    except Exception:  # noqa: BLE001 - the training extras may be missing: pages still show the numbers
        return {}
    return ABOUT


def reproduce_page(path: Path, plots_present: set[str]) -> str:
    """One section per experiment: question, setup, a compact table, its plot, the command."""
    L = ["# Reproductions", "",
         "The paper's claims in miniature on scikit-learn's digits, measured by [`icon reproduce`](../reference/cli.md#icon-reproduce): "
         "every loss is a compiled catalog entry, every number comes from a run, and a missed target stays missed.", ""]
    data, stub = _contents(path, "icon reproduce")
    if stub is not None:
        return "\n".join(L + stub)
    if not isinstance(data, dict):
        return "\n".join(L + ["## What the file holds", ""] + generic(data, 3))
    L += ["## The run", ""]
    run = [(label, data[key]) for key, label in RUN_FIELDS.items() if key in data and _is_scalar(data[key])]
    run += [(key, value) for key, value in data.items()
            if key not in RUN_FIELDS and key not in _RUN_SILENT and key not in _REPRO_STRUCTURE and _is_scalar(value)]
    L += key_value_table(run)

    rows = data.get("summary")
    rows = rows if isinstance(rows, list) else []
    details = data.get("details") if isinstance(data.get("details"), dict) else {}
    seconds = data.get("seconds_per_experiment") if isinstance(data.get("seconds_per_experiment"), dict) else {}
    about = _experiment_about()
    quick = data.get("quick") is True
    shown_plots: set[str] = set()
    for letter, key in _experiments(rows, details):
        detail = details.get(key) if key else None
        info = about.get(key)
        title = info.title if info else (key or letter)
        L += [f"## ({inline(letter)}) {inline(one_line(title))}" if letter else f"## {inline(one_line(title))}", ""]
        if info:
            L += [f"**Question.** {inline(info.question)}", ""]
        setup = _setup_lines(detail) if isinstance(detail, dict) else []
        if key in seconds and _is_scalar(seconds[key]):
            setup.append(f"- run time: {number(seconds[key])} s")
        if setup:
            L += ["**Setup.**", ""] + setup + [""]
        mine = [r for r in rows if isinstance(r, dict) and r.get("experiment") == letter]
        if mine:
            L += _summary_table(mine)
        plot = detail.get("plot") if isinstance(detail, dict) else None
        if isinstance(plot, str) and plot in plots_present:
            shown_plots.add(plot)
            caption = info.caption if info and info.caption else f"Figure of experiment ({letter})."
            L += _figure(plot, f"({letter}) {title}", caption)
        runs = _every_run(detail) if isinstance(detail, dict) else []
        if runs:
            L += ['??? info "Every run (mean, standard deviation and the value of each seed)"', ""]
            L += ["    " + line if line else "" for line in records_table(runs, ["measurement", "mean", "std", "runs", "values"],
                                                                          {"measurement": "Measurement", "mean": "Mean",
                                                                           "std": "Std", "runs": "Runs", "values": "Values"})]
        if re.fullmatch(r"[a-z]", str(letter)):
            L += [f"Reproduce it: `icon reproduce --only {letter}{' --quick' if quick else ''}`", ""]
    others = sorted(plots_present - shown_plots)
    if others:
        L += ["## Other plots", ""]
        for name in others:  # a plain file name (result_plots)
            L += _figure(name, name, name)
    rest = {k: v for k, v in data.items() if not _is_scalar(v) and k not in _REPRO_STRUCTURE}
    leftover_rows = [r for r in rows if not isinstance(r, dict)]
    if leftover_rows:
        rest["summary"] = leftover_rows
    if rest:
        L += ["## Other data in the file", ""] + generic(rest, 3)
    return "\n".join(L)


def _experiments(rows: list, details: dict) -> list[tuple[str, Optional[str]]]:
    """(letter, details key) in the order of the summary, then experiments without summary rows."""
    letters: list[str] = []
    for row in rows:
        if isinstance(row, dict) and _is_scalar(row.get("experiment")) and str(row.get("experiment")) not in letters:
            letters.append(str(row.get("experiment")))
    out = []
    for letter in letters:
        key = next((k for k in details if str(k).split("_")[0] == letter), None)
        out.append((letter, key))
    for key in details:
        if key not in {k for _, k in out}:
            out.append((str(key).split("_")[0] if "_" in str(key) else "", key))
    return out


def _summary_table(rows: list[dict]) -> list[str]:
    lines = ["| Method | Metric | Mean ± std | Runs | Target | Met |", "|---|---|---|---|---|---|"]
    notes = []
    for row in rows:
        mean, std = row.get("mean"), row.get("std")
        value = _as_written(mean) + (f" ± {_as_written(std)}" if std is not None else "")
        met = row.get("target_met")
        met_text = {True: '<span class="icon-met">✓ met</span>', False: '<span class="icon-missed">✗ missed</span>'}.get(met, "")
        method = inline(row.get("method", ""))
        if row.get("note"):
            if row["note"] not in notes:  # rows that share a note share its footnote
                notes.append(row["note"])
            method += f"<sup>{notes.index(row['note']) + 1}</sup>"
        lines.append(f"| {method} | {inline(row.get('metric', ''))} | {value} | {number(row.get('runs'))} | "
                     f"{inline(row.get('target', ''))} | {met_text} |")
    lines.append("")
    for k, note in enumerate(notes, 1):
        lines.append(f"<sup>{k}</sup> {inline(note)}<br>")
    return lines + [""]


def _as_written(value) -> str:
    """A summary number with the digits the file gives it (``icon reproduce`` rounds to 4 decimals)."""
    return f"{value:.6g}" if _is_number(value) else number(value)


_NOT_SETUP = {"plot", "target", "target_met"}


def _setup_lines(detail: dict, prefix: str = "") -> list[str]:
    """The experiment's settings: its scalar fields (not the measurements), nested settings too."""
    lines = []
    for key, value in detail.items():
        if key in _NOT_SETUP or is_mean_std(value):
            continue
        if _is_scalar(value):
            lines.append(f"- {inline(prefix + str(key))}: {number(value, str(key))}")
        elif isinstance(value, dict):
            lines += _setup_lines(value, f"{prefix}{key}: ")
    return lines


def _every_run(detail: dict, prefix: str = "") -> list[dict]:
    out = []
    for key, value in detail.items():
        if is_mean_std(value):
            values = value.get("values")
            values = values if isinstance(values, list) else []
            shown = ", ".join(number(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))
            out.append({"measurement": prefix + str(key), "mean": value["mean"], "std": value.get("std"),
                        "runs": value.get("n", ""), "values": shown})
        elif isinstance(value, dict):
            out += _every_run(value, f"{prefix}{key}: ")
    return out


def _figure(src: str, alt: str, caption: str) -> list[str]:
    """An image with a caption; ``src`` is a plain file name (checked by the caller)."""
    from icon_registry.docs_site.escape import label

    return [f'<figure class="icon-figure"><img src="{src}" alt="{label(alt)}">',
            f"<figcaption>{inline(caption)}</figcaption></figure>", ""]


# ----------------------------------------------------------------- benchmarks

BENCH_META = ("tool", "timing", "target_ratio", "environment", "machine")
HEADERS = {
    "case": "Case", "entry": "Entry", "method": "Method", "what": "What", "data": "Data", "n": "n", "d": "d",
    "dtype": "dtype", "device": "Device", "compiled_ms": "Compiled (ms)", "hand_ms": "Hand-written (ms)",
    "ratio": "Ratio", "seconds": "Time (s)", "cpu_seconds": "CPU time (s)", "peak_rss_gib": "Peak memory (GiB)",
    "chunked": "Chunked", "chunk_size": "Chunk size", "ours_seconds": "Ours (s)", "sklearn_seconds": "scikit-learn (s)",
}
#: fields kept out of a suite's main table (they stay in its "every field" table)
SECONDARY = {"ratio_median_paired", "repeats", "calls_per_sample", "value_rel_diff", "grad_rel_diff", "load_average_before",
             "load_average_after", "measured_at", "time_over_n2_scaling", "cpu_time_over_n2_scaling", "description", "note"}
TIME_UNITS = {"_ms": 1e-3, "seconds": 1.0}  # a field name ending so is a time, in these seconds
MEMORY_UNITS = {"_gib": 1.0, "_mib": 1.0 / 1024, "_bytes": 1.0 / 2**30}


def _time_scale(key: str) -> Optional[float]:
    return next((scale for suffix, scale in TIME_UNITS.items() if key.endswith(suffix)), None)


def _memory_scale(key: str) -> Optional[float]:
    return next((scale for suffix, scale in MEMORY_UNITS.items() if key.endswith(suffix)), None)


def bench_suites(data) -> dict:
    """{suite name: its data} of a bench.json: every top-level field that is not the run's metadata."""
    if isinstance(data, list):
        return {"results": data}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k not in BENCH_META and not str(k).endswith(("_worst_ratio", "_environment"))
            and not _is_scalar(v)}


def rows_of(value) -> list[tuple[str, list[dict]]]:
    """(path, rows) of every table of records inside a suite's data (the suite itself, its ``rows``,
    or nested parts such as a t-SNE suite's calibration and end_to_end)."""
    if isinstance(value, list):
        return [("", value)] if value and all(isinstance(r, dict) for r in value) else []
    if isinstance(value, dict):
        out = []
        for key, inner in value.items():
            if key == "rows" and isinstance(inner, list):
                out += [("", inner)] if inner and all(isinstance(r, dict) for r in inner) else []
            elif isinstance(inner, dict):
                out += [(f"{key}/{path}" if path else str(key), rows) for path, rows in rows_of(inner)]
        return out
    return []


def bench_page(path: Path, plot_for: Callable[[str, str], Optional[str]]) -> str:
    """Ratio tables per suite and plots of time and memory against n.

    ``plot_for(suite, table path)`` is the plot file drawn for that table (None: no plot)."""
    L = ["# Benchmarks", "",
         "Speed and memory of the compiled losses, measured by [`icon bench`](../reference/cli.md#icon-bench). "
         "A ratio is the compiled loss's time over its reference's, both measured in the same run (below 1: the compiled "
         "loss is faster). The reference (the hand_ms column) is hand-written torch unless the case's description names "
         "another.", ""]
    data, stub = _contents(path, "icon bench")
    if stub is not None:
        return "\n".join(L + stub)
    if isinstance(data, dict):
        run = [(k, data[k]) for k in BENCH_META if k in data and (_is_scalar(data[k]) or _is_flat_dict(data[k]))]
        if run:
            L += ["## The machine and the method", ""] + key_value_table(run)
    target = data.get("target_ratio") if isinstance(data, dict) else None
    for suite, value in bench_suites(data).items():
        L += _suite_section(suite, value, data, target, plot_for)
    return "\n".join(L)


def _suite_section(suite: str, value, data, target, plot_for) -> list[str]:
    L = [f"## Suite {inline(one_line(suite))}", ""]
    if isinstance(value, dict):
        if _is_scalar(value.get("skipped")) and value.get("skipped"):
            L += ['!!! info "Skipped"', f"    {inline(value['skipped'])}", ""]
        if isinstance(value.get("description"), str):
            L += [prose(value["description"]), ""]
    worst = data.get(f"{suite}_worst_ratio") if isinstance(data, dict) else None
    target = data.get(f"{suite}_target_ratio", target) if isinstance(data, dict) else target
    if isinstance(worst, (int, float)) and not isinstance(worst, bool):
        bound = f" (target ≤ {number(target, 'ratio')})" if isinstance(target, (int, float)) else ""
        L += [f"Worst ratio: **{number(worst, 'ratio')}**{bound}.", ""]
    tables = rows_of(value)
    for table_path, rows in tables:
        if table_path:
            L += [f"### {inline(one_line(table_path))}", ""]
            part = _part_of(value, table_path)
            if isinstance(part, dict) and isinstance(part.get("description"), str):
                L += [prose(part["description"]), ""]
        L += _rows_section(rows)
        plot = plot_for(suite, table_path)
        if plot:
            what = f"suite {suite}" + (f", {table_path}" if table_path else "")
            L += _figure(plot, f"time and memory against n ({what})",
                         f"Time (and memory, where measured) against the batch size n, {what}; log-log axes.")
    if isinstance(value, dict):
        scalars = [(k, v) for k, v in value.items()
                   if (_is_scalar(v) or _is_flat_dict(v)) and k not in ("description", "skipped")]
        nested = {k: v for k, v in value.items() if isinstance(v, dict) and not rows_of(v) and not _is_flat_dict(v)}
        if scalars:
            L += key_value_table(scalars)
        for key, inner in nested.items():
            L += [f"**{inline(one_line(key))}**", ""] + generic(inner, 4)
    elif not tables:
        L += generic(value, 3)
    if re.fullmatch(r"[a-z][a-z0-9_-]*", suite) and suite != "results":
        L += [f"Reproduce it: {code(bench_command(suite, tables))}", ""]
    return L


#: the row fields of a compared suite that are ``icon bench`` options (field -> option)
_ROW_OPTIONS = {"d": "dim", "dtype": "dtype", "device": "device", "repeats": "repeats"}


def bench_command(suite: str, tables) -> str:
    """The ``icon bench`` command of a suite's rows: a compared suite's rows record the dimension,
    dtype, device and repeats they ran with, and each one every row shares that is not the
    option's default is given (else the command would measure something else)."""
    from icon_registry.commands.bench import COMPARED, OTHER_SUITES

    command = f"icon bench --suite {suite}"
    rows = [row for _, table in tables for row in table]
    if suite in OTHER_SUITES or not rows:
        return command
    for field, option in _ROW_OPTIONS.items():
        values = {json.dumps(row.get(field)) for row in rows}
        value = rows[0].get(field)
        one_word = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and re.fullmatch(r"[\w.:+-]+", value))
        if len(values) == 1 and one_word and value != COMPARED[option]:
            command += f" --{option} {value}"
    return command


def _part_of(value, table_path: str):
    for key in table_path.split("/"):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _rows_section(rows: list[dict]) -> list[str]:
    """The main table (varying, primary fields), the fields that are the same in every row, the
    cases' descriptions, and a collapsed table of every field."""
    columns = _columns(rows)
    constant = [k for k in columns if all(k in r for r in rows) and len({json.dumps(r[k], sort_keys=True, default=str) for r in rows}) == 1
                and len(rows) > 1]
    main = [k for k in columns if k not in constant and k not in SECONDARY]
    if all(r.get("entry") == r.get("case") for r in rows) and "case" in main:
        main = [k for k in main if k != "entry"]
    L = []
    fixed = [k for k in constant if _is_scalar(rows[0][k]) and k not in ("description", "note")]
    if fixed:
        L += ["In every row: " + ", ".join(f"{inline(k)} = {cell(rows[0][k], k)}" for k in fixed) + ".", ""]
    pivot = ratio_pivot(rows)
    if pivot:
        L += pivot
    elif main:
        L += records_table(rows, main, {k: HEADERS[k] for k in main if k in HEADERS})
    described = {}
    for row in rows:
        name = row.get("case") or row.get("entry") or row.get("method")
        if _is_scalar(name) and isinstance(row.get("description"), str):
            described.setdefault(str(name), row["description"])
    if described:
        L += [f"- {code(name)}: {inline(text)}" for name, text in described.items()] + [""]
    L += ['??? info "Every field of every row"', ""]
    L += ["    " + line if line else "" for line in records_table(rows, columns)]
    return L


def ratio_pivot(rows: list[dict]) -> list[str]:
    """Rows with a size ``n`` and a ``ratio`` as one line per case and one column per n: the
    ratio, and under it the two times it divides (``*_ms`` fields). [] for other rows."""
    if not rows or not all(_is_number(r.get("n")) and _is_number(r.get("ratio")) for r in rows):
        return []
    sizes = sorted({r["n"] for r in rows})
    groups = _series_keys(rows)
    if any(len({r["n"] for r in members}) < len(members) for members in groups.values()):
        return []  # two rows of one case at one size: no single cell for them
    times = [k for k in _columns(rows) if k.endswith("_ms")][:2]
    lines = ["| Case | " + " | ".join(f"n = {number(n)}" for n in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for name, members in groups.items():
        by_size = {r["n"]: r for r in members}
        cells = []
        for n in sizes:
            r = by_size.get(n)
            if r is None:
                cells.append("")
                continue
            text = f"**{number(r['ratio'], 'ratio')}**"
            if len(times) == 2 and all(_is_number(r.get(k)) for k in times):
                text += f"<br><small>{number(r[times[0]])} / {number(r[times[1]])} ms</small>"
            cells.append(text)
        lines.append(f"| {inline(name) or '–'} | " + " | ".join(cells) + " |")
    legend = "Each cell: the ratio"
    if len(times) == 2:
        legend += f", then the times it divides, {' / '.join(inline(t[:-3]) for t in times)} in ms"
    return lines + ["", f"<small>{legend}.</small>", ""]


def _is_number(value) -> bool:
    """A finite number that float arithmetic and formatting take: not NaN or inf, and not an int past
    float's range (a 400-digit one: OverflowError), which shows as the text it is."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def plot_rows(rows: list[dict], path: Path, title: str) -> Optional[Path]:
    """Time (and memory) against n, log-log, one line per case and measured field; None when the
    rows have fewer than two sizes or no time. Raises ImportError without matplotlib."""
    sizes = {r["n"] for r in rows if _is_number(r.get("n")) and r["n"] > 0}  # log axes: positive, finite
    keys = _columns(rows)
    times = [k for k in keys if _time_scale(k) and k not in SECONDARY and "cpu" not in k]
    memories = [k for k in keys if _memory_scale(k)]
    if len(sizes) < 2 or not times:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    groups = _series_keys(rows)
    panels = [("time (s)", times, _time_scale)] + ([("memory (GiB)", memories, _memory_scale)] if memories else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.2), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    for ax, (ylabel, fields, scale_of) in zip(axes[0], panels):
        for f_index, field in enumerate(fields):  # one colour per case, one line style per field
            for g_index, (group, members) in enumerate(groups.items()):
                points = sorted((r["n"], r[field] * scale_of(field)) for r in members
                                if _is_number(r.get(field)) and r.get("n") in sizes and r[field] > 0)
                if len(points) < 1:
                    continue
                name = " · ".join(part for part in (group, HEADERS.get(field, field)) if part)
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=_plain(name),
                        color=colours[g_index % len(colours)], linestyle=styles[f_index % len(styles)])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size n")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle(_plain(title), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _series_keys(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped by their categorical fields that vary (case, chunked, method, ...)."""
    columns = _columns(rows)
    varying, partitions = [], []
    for k in columns:
        if k in ("n", "description", "note", "measured_at") or len({str(r.get(k)) for r in rows}) < 2:
            continue
        if not all(isinstance(r.get(k), (str, bool)) or r.get(k) is None for r in rows):
            continue
        partition = {tuple(j for j, r in enumerate(rows) if str(r.get(k)) == value) for value in {str(r.get(k)) for r in rows}}
        if partition not in partitions:  # entry beside case: the same grouping said twice
            partitions.append(partition)
            varying.append(k)
    if not varying:  # one case: named by its case field, when it has one
        varying = [k for k in ("case", "entry", "method", "what") if isinstance(rows[0].get(k), str)][:1]
    groups: dict[str, list[dict]] = {}
    for row in rows:
        name = ", ".join(f"{k}={row.get(k)}" if isinstance(row.get(k), bool) else str(row.get(k)) for k in varying[:2])
        groups.setdefault(name, []).append(row)
    return groups


def _plain(text: str) -> str:
    """Text for a matplotlib label (``plots.plot_text``), at most 80 characters."""
    from icon_registry.training.plots import plot_text

    return plot_text(text)[:80]

"""The ``ewp`` command line.

Heavy imports (Prefect, MLflow, scikit-learn) happen inside the commands that need them, after
``configure_environment`` has pointed Prefect and MLflow at the data home, so ``ewp --help``
and ``ewp validate`` stay quick and nothing writes to the user's home directory.

Every command loads and validates its config before any work. Bad input, a bad config or an
impossible setting ends with one line naming the file (and line and field where there is one)
and exit code 2, never a Python traceback; Prefect's console log shows such an error's message
without its traceback too.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from ewp.config import Config, ConfigError, load_config
from ewp.settings import configure_environment, data_home

if TYPE_CHECKING:  # imported lazily at run time: Prefect and MLflow are slow to import
    from ewp.access import WorkspaceStore
    from ewp.review import ReviewStore
    from ewp.tracking import Tracker
    from flows.train import TrainResult

app = typer.Typer(
    name="ewp",
    help=(
        "Early-warning pipeline for police professional standards units: leak-free officer "
        "histories, interpretable escalation-risk scores, and flags with reasons for human "
        "review."
    ),
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


@app.callback()
def _owner_only() -> None:
    # Whatever a command writes (data home, ingested export, review store) holds or derives
    # from officer records: owner-only files (0600) and folders (0700), before anything opens.
    os.umask(0o077)


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML config in configs/; default: the embedded default (synthetic force).",
        exists=False,
    ),
]


def _config(path: Path | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        _fail("Config error", exc)


def _fail(title: str, exc: Exception | str) -> NoReturn:
    """Print ``title: message`` as one line (never wrapped) and exit with code 2."""
    console.print(f"[red]{title}:[/red] {exc}", soft_wrap=True, markup=True, highlight=False)
    raise typer.Exit(2)


def _day(option: str, value: str | None) -> dt.date | None:
    """A ``YYYY-MM-DD`` option as a date; a bad one is reported naming the option."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        _fail("Bad option", f'{option}: "{value}" is not a date (expected YYYY-MM-DD): {exc}')


def _expected_errors() -> dict[type[Exception], str]:
    """Errors that mean bad input, config or state, and how each is introduced to the user."""
    from ewp.validation import AccountingError, ContractError
    from models.timechop import SplitError

    return {
        ContractError: "Contract error",
        ConfigError: "Config error",
        SplitError: "Config error (time windows)",
        AccountingError: "Records do not add up (a bug in ewp: please report it)",
    }


class _NoTraceback(logging.Filter):
    """Drop the traceback from a log record whose exception is one of ``errors``."""

    def __init__(self, errors: tuple[type[Exception], ...]) -> None:
        super().__init__()
        self.errors = errors

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], self.errors):
            record.exc_info = None
            record.exc_text = None
        return True


@contextmanager
def _reported_errors(also: dict[type[Exception], str] | None = None) -> Iterator[None]:
    """Report an expected error (``_expected_errors``, and ``also``) in one line, exit code 2.

    Prefect logs a failed task or flow with its traceback on the console (the root logger's
    handlers); for these errors the message is enough, so the traceback is dropped there.
    """
    expected = {**_expected_errors(), **(also or {})}
    quiet = _NoTraceback(tuple(expected))
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    except tuple(expected) as exc:
        title = next(text for kind, text in expected.items() if isinstance(exc, kind))
        _fail(title, exc)
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


def _summary_table(summary: pd.DataFrame) -> Table:
    table = Table(title="Validation summary (read = accepted + quarantined)")
    for column in ("table", "file", "read", "accepted", "quarantined"):
        table.add_column(column, justify="right" if column not in ("table", "file") else "left")
    for row in summary.itertuples(index=False):
        table.add_row(row.table, row.file, str(row.read), str(row.accepted), str(row.quarantined))
    return table


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the export.")],
    officers: Annotated[int, typer.Option(help="Officers serving at the start.")] = 34_000,
    start_year: Annotated[int, typer.Option(help="First year simulated.")] = 2013,
    end_year: Annotated[int, typer.Option(help="Last year simulated.")] = 2024,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same force.")] = 20_261_123,
    no_bias: Annotated[
        bool, typer.Option("--no-bias", help="Turn the reporting-bias knob off.")
    ] = False,
    report: Annotated[
        bool, typer.Option("--report", help="Print generated figures beside the targets.")
    ] = False,
) -> None:
    """Write a synthetic force's export (officers, notices, outcomes) calibrated to the Met.

    Ground truth (latent risk per officer and month) goes to ground_truth/latent_risk.parquet
    under the export folder; it is not part of the contract and no model reads it.
    """
    from ewp.io import write_export, write_ground_truth
    from ewp.synthetic import calibration_report, generate_force

    bias = {} if no_bias else dict(Config().synthetic.reporting_bias)
    started = time.perf_counter()
    with console.status(f"Simulating {officers:,} officers, {start_year}–{end_year}…"):
        force = generate_force(
            officers=officers,
            start_year=start_year,
            end_year=end_year,
            seed=seed,
            reporting_bias=bias,
        )
        paths = write_export(
            officers=force.officers, notices=force.notices, outcomes=force.outcomes, out_dir=out
        )
        truth = write_ground_truth(force.ground_truth, out)
    console.print(
        f"Wrote {len(force.officers):,} officers, {len(force.notices):,} notices, "
        f"{len(force.outcomes):,} outcomes to {out} in {time.perf_counter() - started:.1f} s"
    )
    for table, path in paths.items():
        console.print(f"  {table}: {path}")
    console.print(f"  ground truth (never a model input): {truth}")
    if report:
        calibration = calibration_report(force)
        table = Table(title="Calibration against ../shared/domain.md")
        for column in calibration.columns:
            table.add_column(str(column))
        for row in calibration.itertuples(index=False):
            table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
        console.print(table)


@app.command()
def validate(
    data_dir: Annotated[
        Path | None,
        typer.Argument(help="Folder with officers, notices and outcomes (CSV, CSV.gz, Parquet)."),
    ] = None,
    config: ConfigOption = None,
    quarantine: Annotated[
        Path | None, typer.Option(help="Where to write the quarantine report (CSV).")
    ] = None,
) -> None:
    """Check a config and a data folder against the contract, without running anything.

    Bad rows are reported with file, line and field and written to the quarantine report;
    a missing column or file stops with exit code 2.
    """
    from ewp.io import read_raw_export, write_quarantine
    from ewp.validation import validate_export
    from models.fairness import check_reference_groups

    cfg = _config(config)
    console.print(f"Config OK: {config or 'embedded default'} ({cfg.name})")
    folder = data_dir or cfg.data.dir
    if folder is None and cfg.data.ingest is not None:
        from ewp.adapters import MappingError, load_mapping, mapping_path

        spec = cfg.data.ingest
        try:
            mapping = mapping_path(spec.source) if "/" not in spec.source else Path(spec.source)
            load_mapping(mapping)
        except (MappingError, ConfigError) as exc:
            _fail("Mapping error", exc)
        if not spec.from_dir.is_dir():
            _fail("Config error", f"data.ingest.from_dir: {spec.from_dir} is not a folder")
        console.print(
            f"Mapping OK: {mapping}; source folder {spec.from_dir}. Runs convert it first; "
            f"`ewp ingest {spec.from_dir} --source {spec.source} --out DIR` shows the summary."
        )
        return
    if folder is None:
        console.print("No data folder given (the config uses the synthetic force): done.")
        return
    with _reported_errors():
        result = validate_export(
            read_raw_export(folder),
            category_map=cfg.category_map(),
            extracted_on=cfg.data.extracted_on,
            today=dt.date.today(),
        )
        check_reference_groups(
            result.data.officers,
            config=cfg.fairness,
            until=cfg.data.extracted_on or dt.date.today(),
        )
    console.print(_summary_table(result.summary))
    for row in result.summary.itertuples(index=False):
        if row.ignored_columns:
            console.print(
                f"  {row.file}: columns not in the contract, ignored: {row.ignored_columns}",
                soft_wrap=True,
                highlight=False,
            )
    if len(result.quarantine):
        for row in result.quarantine.head(20).itertuples(index=False):
            console.print(
                f"  [yellow]quarantined[/yellow] {row.reason}", soft_wrap=True, highlight=False
            )
        if len(result.quarantine) > 20:
            console.print(f"  … and {len(result.quarantine) - 20:,} more")
    target = quarantine or Path("quarantine.csv")
    write_quarantine(result.quarantine, target)
    console.print(f"Quarantine report: {target} ({len(result.quarantine):,} rows)")


@app.command()
def ingest(
    source_dir: Annotated[Path, typer.Argument(help="Folder with the force's own files.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the contract tables.")],
    source: Annotated[
        str, typer.Option(help="Shipped mapping name (configs/mappings/NAME.yaml) or a file.")
    ] = "cpdp",
) -> None:
    """Convert a force's own export into the ewp contract with a mapping (e.g. Chicago CPDP).

    Every quirk is handled visibly: counted in the summary (ingest/summary.csv) and, where a
    row cannot be used, kept in the quarantine report (ingest/quarantine.csv).
    """
    from ewp.adapters import MappingError, mapping_path
    from ewp.adapters import ingest as run_ingest

    try:
        mapping = Path(source) if Path(source).suffix in {".yaml", ".yml"} else mapping_path(source)
        with _reported_errors(), console.status(f"Ingesting {source_dir} with {mapping.name}…"):
            result = run_ingest(source_dir=source_dir, out_dir=out, mapping=mapping)
    except MappingError as exc:
        _fail("Cannot ingest", exc)
    console.print(_frame_table(result.summary, title=f"Ingest summary: {source_dir}"))
    for name, path in result.paths.items():
        console.print(f"  {name}: {path}")


@app.command()
def demo(config: ConfigOption = None) -> None:
    """Run the first end-to-end path as a Prefect flow on the embedded default (or a config).

    Generates (or reuses) the synthetic force, validates it, builds features, trains a logistic
    scorecard (logged to MLflow), compares it with "3+ notices in 180 days" on a held-out date,
    and writes the ranked flag list with each officer's top reasons.
    """
    cfg = _config(config)
    home = data_home(cfg.home)
    configure_environment(home)
    started = time.perf_counter()
    console.print(f"ewp demo: state under {home} (Prefect starts a temporary local server)")
    from flows.demo import RULE_NAME, demo_flow

    with _reported_errors():
        result = demo_flow(cfg, home)
    holdout = result.holdout.assign(
        list=result.holdout["list"].map(
            {"volume_rule_3_in_180d": f"flag volume of {RULE_NAME}", "top_1pct": "top 1%"}
        )
    )
    console.print(
        _frame_table(
            holdout,
            title="Held-out year (12 monthly as-of dates, pooled): true and false positives",
        )
    )
    console.print(f"Model {result.model_id} (MLflow run {result.mlflow_run_id})")
    console.print(f"Flag list: {result.flags_csv}")
    console.print(f"Weekly report: [bold]{result.report}[/bold]")
    console.print(f"Run folder: {result.run_dir}  ({time.perf_counter() - started:.0f} s)")


def _frame_table(frame: pd.DataFrame, *, title: str) -> Table:
    """A DataFrame as a rich table: numbers to 3 decimals, NaN as a dash."""
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), justify="left" if frame[column].dtype == object else "right")
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            if isinstance(value, float):
                cells.append("–" if pd.isna(value) else f"{value:.3f}")
            else:
                cells.append(str(value))
        table.add_row(*cells)
    return table


def _by_split_table(long: pd.DataFrame, *, title: str) -> Table:
    """Candidates x test blocks as "TP / FP (precision)" cells, then all blocks pooled."""
    table = Table(title=title)
    table.add_column("candidate")
    splits = [s for s in dict.fromkeys(long["split"]) if s != "all"]
    for split in splits:
        table.add_column(f"{split[:4]} TP / FP (prec.)", justify="right")
    table.add_column("all TP / FP (prec.)", justify="right")
    for candidate, rows in long.groupby("candidate", sort=True):
        cells = rows.set_index("split")
        row = [str(candidate)]
        for split in [*splits, "all"]:
            precision = cells.loc[split, "precision"]
            shown = "–" if pd.isna(precision) else f"{precision:.3f}"
            row.append(f"{cells.loc[split, 'tp']:.1f} / {cells.loc[split, 'fp']:.1f} ({shown})")
        table.add_row(*row)
    return table


def _fairness_table(result: TrainResult, config: Config) -> Table:
    """The selected candidate's gate metrics by group: rate (per 1,000 or per cent), ratio to
    the reference, interval, verdict (groups with "insufficient data" included, so none is
    hidden; a suppressed small group shows its verdict and no number). Without any recorded
    attribute the table says "not audited: no attributes"."""
    from models.fairness import NOT_AUDITED, UNKNOWN
    from reports.audit import rate_text

    fairness = config.fairness
    by_group = result.audit_by_group
    assert by_group is not None
    title = (
        f"Fairness of {result.champion} on the latest test block ({fairness.confidence:.0%} "
        f"intervals; band {fairness.band[0]:g}–{fairness.band[1]:g})"
    )
    table = Table(title=title)
    if set(by_group["group"]) <= {UNKNOWN}:
        table.add_column("verdict")
        table.add_row(NOT_AUDITED)
        return table
    shown = by_group.loc[by_group["metric"].isin(fairness.gate_metrics)].sort_values(
        ["attribute", "metric", "group"], kind="stable"
    )
    for column in ("attribute", "group", "metric", "n", "rate", "ratio", "interval", "verdict"):
        table.add_column(column, justify="right" if column in ("n", "rate", "ratio") else "left")
    for row in shown.itertuples(index=False):
        interval = (
            f"{row.ratio_ci_low:.2f}–{row.ratio_ci_high:.2f}"
            if pd.notna(row.ratio_ci_low) and pd.notna(row.ratio_ci_high)
            else "–"
        )
        table.add_row(
            row.attribute,
            str(row.group),
            row.metric,
            "–" if pd.isna(row.n) else str(row.n),
            "–" if pd.isna(row.value) else rate_text(row.metric, row.value),
            "–" if pd.isna(row.ratio) else f"{row.ratio:.2f}",
            interval,
            row.verdict,
        )
    return table


def _with_intervals(table: pd.DataFrame) -> pd.DataFrame:
    """The equal-volume table with each ratio and its interval in one column."""

    def shown(column: str, signed: bool) -> pd.Series:
        sign = "+" if signed else ""
        return table.apply(
            lambda row: (
                f"{row[column]:{sign}.2f} "
                f"[{row[column + '_low']:{sign}.2f}, {row[column + '_high']:{sign}.2f}]"
            ),
            axis=1,
        )

    return table[["candidate", "k", "tp", "fp", "precision"]].assign(
        **{"TP ratio": shown("tp_ratio", False), "FP change": shown("fp_change", True)}
    )


def _print_evaluation(result: TrainResult, config: Config) -> None:
    from models.evaluation import by_split

    ev = config.evaluation
    for rule, table in result.headline_by_rule.groupby("rule", sort=False):
        console.print(
            _by_split_table(
                by_split(result.metrics, list_name=f"volume_{rule}"),
                title=f"At the flag volume of {rule}, per test block "
                "(as-of dates in each block pooled)",
            )
        )
        console.print(
            _frame_table(
                _with_intervals(table),
                title=f"Every candidate at the flag volume of {rule}, pooled over test dates "
                "(TP ratio = TP / rule TP; FP change = relative change in FP; "
                f"[{ev.confidence:.0%} bootstrap interval over officers])",
            )
        )
    console.print(
        _by_split_table(
            by_split(result.metrics, list_name=ev.selection_list),
            title=f"At {ev.selection_list}, per test block",
        )
    )
    console.print(
        _frame_table(
            result.selection[["candidate", "mean_precision", "worst_regret", "eligible"]],
            title=f"Selection on mean {ev.selection_list} precision over test dates "
            f"(headline rule: {ev.headline_rule})",
        )
    )
    _print_share_of_references(result, list_name=ev.selection_list)
    if result.audit_by_group is not None:
        console.print(_fairness_table(result, config))
        for line in result.fairness_findings:
            console.print(f"  {line}", soft_wrap=True, highlight=False)
        console.print(f"Fairness audit: [bold]{result.audit_report}[/bold]")
    console.print(f"Tables: {result.run_dir}")


def _print_share_of_references(result: TrainResult, *, list_name: str) -> None:
    """On a synthetic force: how much of the ceiling and of the oracle the champion reaches."""
    from flows.train import HISTORY_CEILING, ORACLE
    from models.evaluation import share_of_references

    if result.champion is None:
        return
    shares = share_of_references(
        result.selection, champion=result.champion, references=[HISTORY_CEILING, ORACLE]
    )
    for row in shares.itertuples(index=False):
        console.print(
            f"{result.champion} reaches {row.share:.2f} of {row.reference}'s mean {list_name} "
            f"precision ({row.champion_precision:.3f} against {row.reference_precision:.3f})"
        )


def _run_training(config: Path | None, *, register: bool) -> None:
    cfg = _config(config)
    home = data_home(cfg.home)
    configure_environment(home)
    started = time.perf_counter()
    from flows.train import run_train

    with _reported_errors():
        result = run_train(cfg, home, publish=register)
    _print_evaluation(result, cfg)
    if register:
        console.print(
            f"Selected {result.champion} ({result.model_id}), registered as version "
            f"{result.version}; champion {'moved' if result.promoted else 'unchanged'}: "
            f"{result.promotion_reason}"
        )
    console.print(f"Done in {time.perf_counter() - started:.0f} s")


@app.command()
def train(config: ConfigOption = None) -> None:
    """Evaluate the candidate grid over time, then register the selected model in MLflow.

    The champion alias moves only if the selected model beats the current champion on the
    selection metric in this evaluation.
    """
    _run_training(config, register=True)


@app.command()
def evaluate(config: ConfigOption = None) -> None:
    """Evaluate models against the threshold rules over time and print the comparison.

    Same evaluation as ``train`` (models x test dates, at each rule's flag volume, top 1% and
    top 50), without touching the model registry.
    """
    _run_training(config, register=False)


@app.command()
def score(
    config: ConfigOption = None,
    as_of: Annotated[
        str | None, typer.Option(help="List date (YYYY-MM-DD); default the latest Monday.")
    ] = None,
) -> None:
    """Score the serving cohort with the champion and publish this week's list and report."""
    cfg = _config(config)
    day = _day("--as-of", as_of)
    home = data_home(cfg.home)
    configure_environment(home)
    from ewp.tracking import NoChampionError
    from flows.score import score_flow

    with _reported_errors(also={NoChampionError: "No champion (run `ewp train` first)"}):
        published = score_flow(cfg, home, day)
    console.print(
        f"{published.flagged} flagged ({published.new_flags} new), "
        f"{published.suppressed} suppressed"
    )
    console.print(f"Weekly report: [bold]{published.report}[/bold]")


@app.command()
def audit(
    run: Annotated[Path, typer.Argument(help="A weekly run folder (with flags.csv).")],
    config: ConfigOption = None,
) -> None:
    """Audit a published weekly list for fairness by ethnicity, gender and age band.

    Writes audit.html and the audit CSVs into the run folder (the score flow already does this
    after each run; this re-runs it, e.g. after a config change).
    """
    cfg = _config(config)
    home = data_home(cfg.home)
    configure_environment(home)
    from ewp.review import ReviewStore
    from features.history import build_features
    from flows.audit import audit_provenance
    from flows.common import export_date, export_fingerprint, prepare_export, validate
    from flows.score import audit_weekly_list, review_url

    flags_csv = run / "flags.csv"
    if not flags_csv.is_file():
        _fail("Not a run folder", f"{flags_csv} not found: give a weekly run folder")
    flags = pd.read_csv(flags_csv, dtype=str, keep_default_na=False)
    as_of = _day(f"{flags_csv} as_of", flags["as_of"].iloc[0])
    with _reported_errors():
        export_dir = prepare_export.fn(cfg, home)
        data = validate.fn(export_dir, cfg).data
    matrix = build_features(data, [as_of], config=cfg.features)
    store = ReviewStore(review_url(cfg, home))
    try:
        earlier = store.flags_frame()
    finally:
        store.close()
    path = audit_weekly_list(
        data=data,
        matrix=matrix,
        flagged_ids=flags["officer_id"],
        config=cfg,
        run_dir=run,
        as_of=as_of,
        earlier_lists=earlier.loc[
            pd.to_datetime(earlier["as_of"]) < pd.Timestamp(as_of), ["as_of", "officer_id"]
        ],
        provenance=audit_provenance(
            cfg,
            model_version=flags["model_version"].iloc[0],
            data_fingerprint=export_fingerprint(export_dir),
            extracted_on=export_date(data, cfg.data.extracted_on).isoformat(),
        ),
    )
    console.print(f"Fairness audit: [bold]{path}[/bold]")


@app.command()
def serve(config: ConfigOption = None) -> None:
    """Register and run the scheduled deployments against a Prefect server.

    Weekly scoring on Mondays at 06:00 and retraining on the 1st of each month at 05:00
    (Europe/London). Point PREFECT_API_URL at a running `prefect server start` to see them in
    its UI; stop with Ctrl-C.
    """
    cfg = _config(config)
    configure_environment(data_home(cfg.home))
    from prefect import serve as prefect_serve

    from flows.schedule import deployments

    prefect_serve(*deployments(config))


@app.command()
def bench(
    scale: Annotated[
        list[str] | None,
        typer.Option(help="met (45,000 officers) and/or national (150,000); default both."),
    ] = None,
    cadence: Annotated[
        list[str] | None,
        typer.Option(help="monthly and/or weekly as-of dates; default both."),
    ] = None,
    sql: Annotated[bool, typer.Option(help="Run the DuckDB formulation.")] = True,
    train: Annotated[bool, typer.Option(help="Time the full training runs.")] = True,
    score: Annotated[bool, typer.Option(help="Time the weekly scoring runs.")] = True,
    naive_dates: Annotated[
        int, typer.Option(help="Dates the naive reference is checked on (and timed on, if slow).")
    ] = 24,
    naive_budget: Annotated[
        float,
        typer.Option(
            help="Run the naive reference on every date if that takes at most this many seconds."
        ),
    ] = 120.0,
    sql_memory: Annotated[
        str, typer.Option(help="DuckDB's memory limit (it spills beyond).")
    ] = "4GB",
) -> None:
    """Benchmark the feature matrix, training and weekly scoring at Met and national scale,
    beside a naive pandas reference, a DuckDB SQL formulation and a write-once lower bound.

    Each step runs in its own process (wall time, CPU time, peak memory); ewp's matrix is
    checked against the naive reference first. Forces are generated once under
    <data home>/bench/; results go to <data home>/bench/results.json. See benchmarks/suite.py.
    """
    scales = scale or ["met", "national"]
    cadences = cadence or ["monthly", "weekly"]
    bad = sorted({*scales} - {"met", "national"}) + sorted({*cadences} - {"monthly", "weekly"})
    if bad:
        console.print(f"[red]Unknown scale or cadence:[/red] {', '.join(bad)}")
        raise typer.Exit(2)
    from benchmarks.suite import run_suite

    run_suite(
        home=data_home(Config().home),
        scales=scales,
        cadences=cadences,
        with_sql=sql,
        with_training=train,
        with_scoring=score,
        naive_dates=naive_dates,
        naive_budget=naive_budget,
        sql_memory=sql_memory,
        echo=typer.echo,  # plain lines: the tables are wider than rich's default width
    )


review_app = typer.Typer(help="Record human decisions on flags (every change is audited).")
app.add_typer(review_app, name="review")


def _review_store(config: Path | None) -> tuple[Config, ReviewStore]:
    cfg = _config(config)
    home = data_home(cfg.home)
    configure_environment(home)  # the data home owner-only, as for every other command
    from ewp.review import ReviewStore
    from flows.score import review_url

    return cfg, ReviewStore(review_url(cfg, home))


@review_app.command("decide")
def review_decide(
    flag_id: Annotated[str, typer.Argument(help="The flag's ID (flags.csv, first column).")],
    decision: Annotated[str, typer.Option(help="One of the config's review decisions.")],
    reviewer: Annotated[str, typer.Option(help="Who decided.")],
    note: Annotated[str, typer.Option(help="Free text.")] = "",
    on: Annotated[
        str | None, typer.Option(help="Decision date (YYYY-MM-DD); default today.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Record (or change) the decision on one flag."""
    from ewp.review import ReviewError

    decided_on = _day("--on", on) or dt.date.today()
    cfg, store = _review_store(config)
    try:
        store.record_decision(
            flag_id=flag_id,
            decision=decision,
            reviewer=reviewer,
            note=note,
            decided_on=decided_on,
            allowed=cfg.review.decisions,
        )
    except ReviewError as exc:
        console.print(f"[red]Not recorded:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    console.print(f"Recorded {decision} on {flag_id} by {reviewer}")


@review_app.command("import")
def review_import(
    path: Annotated[Path, typer.Argument(help="Decisions CSV, or flags.csv filled in.")],
    actor: Annotated[str, typer.Option(help="Who is importing.")] = "ewp review import",
    config: ConfigOption = None,
) -> None:
    """Import decisions from a CSV: all rows or none; the same file twice is refused."""
    from ewp.review import ReviewError

    cfg, store = _review_store(config)
    try:
        applied = store.import_decisions(path, allowed=cfg.review.decisions, actor=actor)
    except ReviewError as exc:
        console.print(f"[red]Nothing imported:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    console.print(f"Imported {applied} decisions from {path}")


@review_app.command("trail")
def review_trail(config: ConfigOption = None) -> None:
    """Show the audit trail: who changed what, and when."""
    _, store = _review_store(config)
    try:
        console.print(_frame_table(store.audit_frame(), title="Review audit trail"))
    finally:
        store.close()


users_app = typer.Typer(help="Accounts of the review workspace (ewp web): roles and units.")
app.add_typer(users_app, name="users")
PASSWORD_ENV = "EWP_PASSWORD"


def _workspace_store(config: Path | None) -> WorkspaceStore:
    cfg = _config(config)
    home = data_home(cfg.home)
    from ewp.access import WorkspaceStore
    from ewp.review import default_url

    return WorkspaceStore(cfg.review.database_url or default_url(home))


def _new_password(password_file: Path | None) -> str:
    """The password from a file (first line), else $EWP_PASSWORD, else a hidden prompt."""
    import os

    if password_file is not None:
        try:
            return password_file.read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError) as exc:
            console.print(f"[red]Cannot read a password from {password_file}:[/red] {exc}")
            raise typer.Exit(2) from exc
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


PasswordFileOption = Annotated[
    Path | None,
    typer.Option(
        help=f"File whose first line is the password; default ${PASSWORD_ENV}, else a prompt."
    ),
]


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option(help="reviewer, auditor or admin.")],
    unit: Annotated[
        list[str] | None, typer.Option(help="A unit a reviewer may see; repeat for several.")
    ] = None,
    password_file: PasswordFileOption = None,
    proxy_only: Annotated[
        bool,
        typer.Option("--proxy-only", help="No password: signs in only through the proxy header."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Create a workspace account (the password is hashed with argon2id, never stored)."""
    from ewp.access import AccessError

    password = None if proxy_only else _new_password(password_file)
    store = _workspace_store(config)
    try:
        user = store.add_user(
            username=name, role=role, units=unit or [], password=password, actor="ewp users add"
        )
    except AccessError as exc:
        console.print(f"[red]Not added:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    units = f" for {', '.join(sorted(user.units))}" if user.units else ""
    console.print(f"Added {user.role} {user.username}{units}")


@users_app.command("set-password")
def users_set_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_file: PasswordFileOption = None,
    config: ConfigOption = None,
) -> None:
    """Set a new password for an account (ends its open sessions)."""
    from ewp.access import AccessError

    password = _new_password(password_file)
    store = _workspace_store(config)
    try:
        store.update_user(username=name, password=password, actor="ewp users set-password")
    except AccessError as exc:
        console.print(f"[red]Not changed:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    console.print(f"New password set for {name}")


@users_app.command("list")
def users_list(config: ConfigOption = None) -> None:
    """List the workspace's accounts with their role and units."""
    store = _workspace_store(config)
    try:
        users = store.users()
    finally:
        store.close()
    table = Table(title="Workspace accounts")
    for column in ("user", "role", "units", "active", "sign-in"):
        table.add_column(column)
    for user in users:
        table.add_row(
            user.username,
            user.role,
            ", ".join(sorted(user.units)),
            "yes" if user.active else "no",
            "password" if user.has_password else "reverse proxy only",
        )
    console.print(table)


@app.command()
def web(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Start the review workspace: a web app over the review store, with sign-in.

    Reviewers review and decide flags of their units, auditors read fairness audits and model
    cards, admins manage accounts. Create accounts first with `ewp users add`.
    """
    import uvicorn

    from web import create_app, web_settings

    cfg = _config(config)
    home = data_home(cfg.home)
    application = create_app(web_settings(cfg, home))
    console.print(f"Review workspace on http://{host}:{port}/ (data home {home}); Ctrl-C stops")
    uvicorn.run(application, host=host, port=port, log_level="info", proxy_headers=False)


models_app = typer.Typer(help="The MLflow model registry: list versions, promote a champion.")
app.add_typer(models_app, name="models")


def _tracker(config: Path | None) -> Tracker:
    cfg = _config(config)
    home = data_home(cfg.home)
    configure_environment(home)
    from flows.train import tracker_for

    return tracker_for(cfg, home)


@models_app.command("list")
def models_list(config: ConfigOption = None) -> None:
    """List registered versions of ewp-escalation and which one is champion."""
    versions = _tracker(config).list_versions()
    if versions.empty:
        console.print("No registered model yet: run `ewp train`.")
        return
    console.print(_frame_table(versions, title="ewp-escalation versions"))


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="Registered version to make champion.")],
    reason: Annotated[str, typer.Option(help="Why (recorded on the version).")],
    by: Annotated[str, typer.Option(help="Who is promoting it.")] = "unknown",
    config: ConfigOption = None,
) -> None:
    """Make a registered version the champion by hand, with a written reason."""
    from mlflow.exceptions import MlflowException

    try:
        _tracker(config).set_champion(version=version, reason=reason, promoted_by=by)
    except (ValueError, MlflowException) as exc:
        console.print(f"[red]Cannot promote version {version}:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"Version {version} is now champion ({reason})")


if __name__ == "__main__":
    app()

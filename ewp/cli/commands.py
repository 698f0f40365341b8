"""The ``ewp`` command line.

Heavy imports (Prefect, MLflow, scikit-learn) happen inside the commands that need them, after
``configure_environment`` has pointed Prefect and MLflow at the data home, so ``ewp --help``
stays quick and nothing writes to the user's home directory.

Every command loads and validates its config before any work. Bad input, a bad config or an
impossible setting ends with one line naming the file (and line and field where there is one)
and exit code 2, never a Python traceback.

Global options (before the command): ``--home DIR`` chooses the data home (a new one is created
only where it is named, see ``ewp.core.settings.chosen_data_home``), ``-v`` shows Prefect's and
MLflow's own log lines (commands that run flows take ``-v`` after their name too), ``--version``
and shell completion (``--install-completion``, ``--show-completion``). Long steps are drawn
as a progress display with an ETA (``ewp.cli.terminal``). Every command that records who did
something takes ``--by NAME`` (default: the user name on this computer).
"""

from __future__ import annotations

import datetime as dt
import difflib
import getpass
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, get_args

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from typer.core import TyperArgument, TyperCommand

from ewp.benchmarks.suite import SCALES
from ewp.cli.prefect_server import tie_temporary_server
from ewp.cli.terminal import quiet_environment, session
from ewp.core.config import DEMO_CONFIG, Config, ConfigError, load_config
from ewp.core.settings import DataHomeError, chosen_data_home, configure_environment
from ewp.core.timechop import Cadence

if TYPE_CHECKING:  # imported lazily at run time: Prefect and MLflow are slow to import
    from ewp.flows.score import Published
    from ewp.flows.train import TrainResult
    from ewp.stores.access import WorkspaceStore
    from ewp.stores.review import ReviewStore
    from ewp.stores.tracking import Tracker


class _PlainUsage(TyperCommand):
    """A command whose usage line names its arguments plainly (``ewp audit [OPTIONS]
    RUN_FOLDER``, ``[DATA_DIR]`` when optional), not as typer's ``{run}``."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar or str(param.name).upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces


class _Typer(typer.Typer):
    """``typer.Typer`` whose commands are ``_PlainUsage`` commands."""

    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or _PlainUsage, **kwargs)


app = _Typer(
    name="ewp",
    help=(
        "Early-warning pipeline for police professional standards units: leak-free officer "
        "histories, interpretable escalation-risk scores, and flags with reasons for human "
        "review."
    ),
    no_args_is_help=True,
    # Plain help (click's layout): no "<bool>" type column, no markup to escape.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    # A crash's traceback never prints local variables: they may hold officer records.
    pretty_exceptions_show_locals=False,
)
# Lines are never broken by rich (a wrapped path cannot be copied); tables fit the terminal.
console = Console(soft_wrap=True)


@dataclass
class _GlobalOptions:
    """What the global options set for the command that follows."""

    home: Path | None = None
    verbose: bool = False


_options = _GlobalOptions()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ewp")
    except PackageNotFoundError:  # running from a checkout that is not installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"ewp {_version()}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="Data home for this command (default: $EWP_HOME, else the config's home, "
            ".ewp in the working directory). ewp creates a new data home only where it is "
            "named like this or inside the ewp checkout.",
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Also show Prefect's and MLflow's own log lines."),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    # Whatever a command writes (data home, ingested export, review store) holds or derives
    # from officer records: owner-only files (0600) and folders (0700), before anything opens.
    os.umask(0o077)
    _options.home = home
    _options.verbose = verbose
    # ewp serve's console is the schedule's log: Prefect's lines are what it is for.
    if not verbose and ctx.invoked_subcommand != "serve":
        quiet_environment()


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML config (see configs/); default: the embedded default (synthetic force).",
        exists=False,
    ),
]
VerboseOption = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Also show Prefect's and MLflow's own log lines."),
]


def _by_default() -> str:
    """The user name on this computer: who is at the keyboard, unless ``--by`` says so."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this user ID (e.g. in a container)
        return f"uid {os.getuid()}"


ByOption = Annotated[
    str,
    typer.Option(
        "--by",
        default_factory=_by_default,
        show_default="your user name on this computer",
        help="Who is doing this (recorded with the change).",
    ),
]


def _config(path: Path | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        _fail("Config error", exc)


def _home(config: Config) -> Path:
    """The data home for this command (``--home``, ``$EWP_HOME`` or the config's), with
    Prefect and MLflow pointed at it; refused, in one line, where nobody chose one."""
    try:
        home = chosen_data_home(config.home, override=_options.home)
    except DataHomeError as exc:
        _fail("No data home", exc)
    configure_environment(home)
    return home


def _verbose(flag: bool) -> bool:
    """``-v`` given before the command or after it."""
    _options.verbose = _options.verbose or flag
    return _options.verbose


@contextmanager
def _running(verbose: bool) -> Iterator[None]:
    """While flows run: their steps drawn as progress, library noise kept off the console
    (``ewp.cli.terminal.session``), the first step awaited as Prefect starts."""
    waiting = None if os.environ.get("PREFECT_API_URL") else "Starting Prefect (a local server)"
    with session(console, verbose=verbose, waiting=waiting):
        tie_temporary_server()  # it dies with this command, even on SIGKILL
        yield


def _program() -> str:
    """How to call ewp again, as the user did: ``ewp`` if that is on the PATH, else the path
    they ran (e.g. ``.venv/bin/ewp``)."""
    invoked = Path(sys.argv[0])
    if invoked.name != "ewp":
        return "ewp"
    on_path = shutil.which("ewp")
    if on_path and Path(on_path).resolve() == invoked.resolve():
        return "ewp"
    if invoked.resolve().is_relative_to(Path.cwd()):
        return str(invoked.resolve().relative_to(Path.cwd()))
    return str(invoked)


def _fail(title: str, exc: Exception | str) -> NoReturn:
    """Print ``title: message`` as one line (never wrapped) and exit with code 2."""
    console.print(f"[red]{title}:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
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
    from ewp.core.errors import ContractError
    from ewp.core.timechop import SplitError
    from ewp.data.validation import AccountingError

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
    streams: Annotated[
        bool,
        typer.Option("--streams", help="Also write postings and use-of-force reports."),
    ] = False,
) -> None:
    """Write a synthetic force's export, calibrated to the Met.

    The export holds the three contract tables: officers, notices and outcomes (and, with
    --streams, the optional postings and activity streams: docs/streams.md).
    Ground truth (latent risk per officer and month) goes to ground_truth/latent_risk.parquet
    under the export folder; it is not part of the contract and no model reads it.
    """
    from ewp.data.io import write_ground_truth
    from ewp.data.synthetic import calibration_report, generate_force
    from ewp.data.synthetic_streams import generate_streams, stream_figures, write_force

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
        drawn = generate_streams(force, seed=seed) if streams else None
        paths = write_force(force, out, streams=drawn)
        truth = write_ground_truth(force.ground_truth, out)
    console.print(
        f"Wrote {len(force.officers):,} officers, {len(force.notices):,} notices, "
        f"{len(force.outcomes):,} outcomes to {out} in {time.perf_counter() - started:.1f} s"
    )
    for table, path in paths.items():
        console.print(f"  {table}: {path}")
    console.print(f"  ground truth (never a model input): {truth}")
    if report and drawn is not None:
        console.print(stream_figures(force, drawn).to_string(index=False), highlight=False)
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
        typer.Argument(
            metavar="DATA_DIR",
            help="Folder with officers, notices and outcomes (CSV, CSV.gz, Parquet).",
        ),
    ] = None,
    config: ConfigOption = None,
    quarantine: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the quarantine report (CSV); default: "
            "<data home>/validate/<folder name>/quarantine.csv."
        ),
    ] = None,
) -> None:
    """Check a config and an export against the contract.

    Nothing else runs.
    Bad rows are reported with file, line and field and written to the quarantine report (it
    holds officer records, so by default it goes under the data home, never the working
    folder); a missing column or file stops with exit code 2.
    """
    from ewp.data.io import write_quarantine
    from ewp.flows.common import check_usable, read_and_validate

    cfg = _config(config)
    console.print(f"Config OK: {config or 'embedded default'} ({cfg.name})")
    folder = data_dir or cfg.data.dir
    if folder is None and cfg.data.ingest is not None:
        from ewp.data.adapters import MappingError, load_mapping, resolve_mapping

        spec = cfg.data.ingest
        try:
            mapping = resolve_mapping(spec.source)
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
    target = quarantine or _home(cfg) / "validate" / Path(folder).resolve().name / "quarantine.csv"
    with _reported_errors():
        result = read_and_validate(Path(folder), cfg)
    console.print(_summary_table(result.summary))
    if result.export_date is not None:
        console.print(f"Export date: {result.export_date.describe()}", soft_wrap=True)
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
    target.parent.mkdir(parents=True, exist_ok=True)
    write_quarantine(result.quarantine, target)
    console.print(f"Quarantine report: {target} ({len(result.quarantine):,} rows)")
    with _reported_errors():
        check_usable(result, cfg, hint="")  # the quarantine above says why


@app.command()
def ingest(
    source_dir: Annotated[
        Path, typer.Argument(metavar="SOURCE_DIR", help="Folder with the force's own files.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the contract tables.")],
    source: Annotated[
        str, typer.Option(help="Shipped mapping name (configs/mappings/NAME.yaml) or a file.")
    ] = "cpdp",
) -> None:
    """Convert a force's own export into the ewp contract.

    A mapping (e.g. Chicago CPDP's) says how.
    Every quirk is handled visibly: counted in the summary (ingest/summary.csv) and, where a
    row cannot be used, kept in the quarantine report (ingest/quarantine.csv).
    """
    from ewp.data.adapters import MappingError, resolve_mapping
    from ewp.data.adapters import ingest as run_ingest

    try:
        mapping = resolve_mapping(source)
        with _reported_errors(), console.status(f"Ingesting {source_dir} with {mapping.name}…"):
            result = run_ingest(source_dir=source_dir, out_dir=out, mapping=mapping)
    except MappingError as exc:
        _fail("Cannot ingest", exc)
    console.print(_frame_table(result.summary, title=f"Ingest summary: {source_dir}"))
    for name, path in result.paths.items():
        console.print(f"  {name}: {path}")


@app.command()
def demo(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML config; default: configs/demo.yaml."),
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """The quick start: train and score on the demo config.

    ewp train, then ewp score, on configs/demo.yaml: the same flows as a real run, on the default
    config's synthetic force with a reduced evaluation grid (one test date, four candidates), so it
    takes about a minute. The demo has its own review store and model registry (<data
    home>/stores/demo/): its list never mixes with a real weekly list. Ends with the command that
    makes a real one.
    """
    path = config or DEMO_CONFIG
    cfg = _config(path)
    home = _home(cfg)
    verbose = _verbose(verbose)
    started = time.perf_counter()
    console.print(f"ewp demo: config {path}, data home {home}", soft_wrap=True, highlight=False)
    from ewp.flows.score import score_flow
    from ewp.flows.train import run_train
    from ewp.stores.tracking import NoChampionError

    try:
        with _reported_errors(), _running(verbose):
            trained = run_train(cfg, home)
            if trained.model_id is None:
                _fail("No champion", _registration(trained))
            published = score_flow(cfg, home)
    except NoChampionError as error:
        _no_champion(path, error)
    console.print(_demo_table(trained, cfg))
    console.print(_registration(trained), soft_wrap=True, highlight=False)
    _print_published(published)
    console.print(f"Done in {time.perf_counter() - started:.0f} s.")
    program = _program()
    console.print(
        "\nNext, a real weekly list (the default config, in its own store apart from the "
        f"demo's):\n  [bold]{program} train && {program} score[/bold]",
        soft_wrap=True,
        highlight=False,
    )


def _demo_table(result: TrainResult, config: Config) -> Table:
    """The demo's comparison in brief: each candidate's precision on the selection list,
    whether the fairness gate let it pass (the first reason), and which one became champion."""
    selection = result.selection
    candidates = {c.name for c in config.evaluation.candidates}
    frame = pd.DataFrame(
        {
            "candidate": [
                f"{name} (champion)" if name == result.champion else name
                for name in selection["candidate"]
            ],
            f"mean {config.selection_list()} precision": selection["mean_precision"],
            "fairness gate": [
                str(reason).split(";")[0] if name in candidates else "(a reference, not a model)"
                for name, reason in zip(
                    selection["candidate"], selection["gate_reason"], strict=True
                )
            ],
        }
    )
    return _frame_table(frame, title="The candidates on the demo's test dates")


def _no_champion(config: Path | None, error: Exception | None = None) -> NoReturn:
    """Stop with one line: nothing to score with yet, and the command that fixes it."""
    flag = f" -c {config}" if config is not None else ""
    from ewp.stores.tracking import ChampionForOtherLabelError, OutdatedModelError

    if isinstance(error, ChampionForOtherLabelError):
        _fail("The champion answers another label", str(error))
    if isinstance(error, OutdatedModelError):
        _fail(
            "The champion cannot be loaded",
            str(error).replace("`ewp train`", f"`{_program()} train{flag}`"),
        )
    _fail(
        "No champion yet",
        f"run `{_program()} train{flag}` first: it evaluates the candidates and makes the best "
        "one champion (or make a registered version champion with `ewp models promote`)",
    )


def _print_published(published: Published) -> None:
    """What a published weekly list holds and where it is."""
    console.print(
        f"Weekly list of {published.run_dir.name.removeprefix('weekly-')}: "
        f"{published.flagged} flagged ({published.new_flags} new), "
        f"{published.suppressed} suppressed"
    )
    for warning in published.warnings:
        console.print(f"[bold yellow]Warning:[/bold yellow] {warning}", soft_wrap=True)
    console.print(f"Weekly report: [bold]{published.report}[/bold]", soft_wrap=True)


def _registration(result: TrainResult) -> str:
    """What ``ewp train`` did with the registry, in one sentence."""
    if result.champion is None:
        return f"No eligible candidate: nothing registered ({result.promotion_reason})"
    if result.model_id is None:
        return f"Selected {result.champion}: {result.promotion_reason}"
    registered = (
        f"registered as version {result.version}"
        if result.version is not None
        else "already registered"
    )
    champion = "moved" if result.promoted else "unchanged"
    return (
        f"Selected {result.champion} ({result.model_id}), {registered}; champion {champion}: "
        f"{result.promotion_reason}"
    )


def _frame_table(frame: pd.DataFrame, *, title: str) -> Table:
    """A DataFrame as a rich table: numbers to 3 decimals, NaN as a dash."""
    table = Table(title=title)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column]) and frame[column].dtype != bool
        table.add_column(str(column), justify="right" if numeric else "left")
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
    from ewp.models.fairness import NOT_AUDITED, UNKNOWN
    from ewp.reports.audit import rate_text

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

        def cell(row: pd.Series) -> str:
            if pd.isna(row[column]):  # a ratio to a rule that found nobody: undefined
                return "–"
            if pd.isna(row[column + "_low"]) or pd.isna(row[column + "_high"]):
                return f"{row[column]:{sign}.2f}"
            return (
                f"{row[column]:{sign}.2f} "
                f"[{row[column + '_low']:{sign}.2f}, {row[column + '_high']:{sign}.2f}]"
            )

        return table.apply(cell, axis=1)

    return table[["candidate", "k", "tp", "fp", "precision"]].assign(
        **{"TP ratio": shown("tp_ratio", False), "FP change": shown("fp_change", True)}
    )


def _headline_title(config: Config, *, rule: str | None = None) -> str:
    """The title of the equal-volume table for ``rule`` (default: the headline rule)."""
    ev = config.evaluation
    return (
        f"Every candidate at the flag volume of {rule or ev.headline_rule}, pooled over test "
        "dates (TP ratio = TP / rule TP; FP change = relative change in FP; "
        f"[{ev.confidence:.0%} bootstrap interval over officers])"
    )


def _print_selection(result: TrainResult, config: Config) -> None:
    """The selection on the published list, with the top 1% and the headline rule's volume
    beside it, the champion's precision at other list sizes, short rule lists and ties."""
    ev = config.evaluation
    selection_list = config.selection_list()
    # The selection list, with the top 1% and the headline rule's volume beside it.
    pooled = result.summary.pivot(index="candidate", columns="list", values="precision")
    beside = [name for name in ("top_1pct", f"volume_{ev.headline_rule}") if name in pooled]
    selection = result.selection.assign(
        pooled=result.selection.apply(
            lambda r: (
                "–"
                if pd.isna(r.get("pooled_precision"))
                else f"{r['pooled_precision']:.3f} [{r['precision_low']:.3f}, "
                f"{r['precision_high']:.3f}]"
            ),
            axis=1,
        ),
        **{name: result.selection["candidate"].map(pooled[name]) for name in beside},
    )
    published = "the list scoring publishes" if not ev.selection_list else "set in the config"
    console.print(
        _frame_table(
            selection[["candidate", "mean_precision", "pooled", *beside, "eligible"]],
            title=f"Selection on mean {selection_list} precision over test dates ({published}; "
            f"pooled precision with its {ev.confidence:.0%} interval; headline rule: "
            f"{ev.headline_rule})",
        )
    )
    curve = result.precision_curve
    if result.champion is not None and curve is not None:
        mine = curve.loc[curve["candidate"] == result.champion].sort_values("k")
        console.print(
            f"Precision at k of {result.champion} ({ev.confidence:.0%} interval): "
            + ", ".join(
                f"{int(r.k)}: {r.precision:.3f} [{r.precision_low:.3f}, {r.precision_high:.3f}]"
                for r in mine.itertuples(index=False)
                if pd.notna(r.precision)
            )
        )
    short = result.short_rule_lists
    for r in () if short is None else short.itertuples(index=False):
        if r.list == selection_list:
            console.print(
                f"{r.rule} flags fewer than {selection_list} holds on {r.short_dates} of "
                f"{r.test_dates} test dates ({r.rule_flags:.0f} of {r.places:.0f} places); "
                f"its list goes on {r.filled_by}, never with arbitrary officers"
            )
    console.print(
        "Ties at a list's cut-off share its places (intervals resample the same shares); "
        "the audit's and stability's officer lists break ties by a seeded random draw"
    )


def _print_evaluation(result: TrainResult, config: Config) -> None:
    from ewp.models.evaluation import by_split

    selection_list = config.selection_list()
    for rule, table in result.headline_by_rule.groupby("rule", sort=False):
        console.print(
            _by_split_table(
                by_split(result.metrics, list_name=f"volume_{rule}"),
                title=f"At the flag volume of {rule}, per test block "
                "(as-of dates in each block pooled)",
            )
        )
        console.print(
            _frame_table(_with_intervals(table), title=_headline_title(config, rule=rule))
        )
    console.print(
        _by_split_table(
            by_split(result.metrics, list_name=selection_list),
            title=f"At {selection_list}, per test block",
        )
    )
    _print_selection(result, config)
    _print_share_of_references(result, list_name=selection_list)
    if result.audit_by_group is not None:
        console.print(_fairness_table(result, config))
        for line in result.fairness_findings:
            console.print(f"  {line}", soft_wrap=True, highlight=False)
        console.print(f"Fairness audit: [bold]{result.audit_report}[/bold]")
    if result.evaluation_report is not None:
        console.print(f"Evaluation report: [bold]{result.evaluation_report}[/bold]")
    console.print(f"Tables: {result.run_dir}")


def _print_share_of_references(result: TrainResult, *, list_name: str) -> None:
    """On a synthetic force: how much of the ceiling and of the oracle the champion reaches."""
    from ewp.models.evaluation import share_of_references
    from ewp.models.selection import HISTORY_CEILING, ORACLE

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


def _run_training(config: Path | None, *, register: bool, verbose: bool) -> None:
    cfg = _config(config)
    home = _home(cfg)
    verbose = _verbose(verbose)
    started = time.perf_counter()
    console.print(f"Data home: {home}", soft_wrap=True, highlight=False)
    from ewp.flows.train import run_train

    with _reported_errors(), _running(verbose):
        result = run_train(cfg, home, publish=register)
    _print_evaluation(result, cfg)
    if register:
        console.print(_registration(result), soft_wrap=True, highlight=False)
    console.print(f"Done in {time.perf_counter() - started:.0f} s")


@app.command()
def train(config: ConfigOption = None, verbose: VerboseOption = False) -> None:
    """Evaluate the candidates over time; register the best.

    The selected model is registered in MLflow (ewp-escalation); the champion alias moves only if
    the selected model beats the current champion on the selection metric in this evaluation.
    """
    _run_training(config, register=True, verbose=verbose)


@app.command()
def evaluate(config: ConfigOption = None, verbose: VerboseOption = False) -> None:
    """Evaluate the candidates over time, registering nothing.

    Prints the comparison with the threshold rules: the same evaluation as ewp train (models x test
    dates, at each rule's flag volume, top 1% and top 50), without touching the model registry.
    """
    _run_training(config, register=False, verbose=verbose)


@app.command()
def score(
    config: ConfigOption = None,
    as_of: Annotated[
        str | None, typer.Option(help="List date (YYYY-MM-DD); default the latest Monday.")
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """Publish this week's list, scored by the champion.

    Every serving officer is scored; the list, its reasons and the report are written to the
    run folder and the flags recorded in the review store.
    """
    cfg = _config(config)
    day = _day("--as-of", as_of)
    home = _home(cfg)
    verbose = _verbose(verbose)
    from ewp.flows.score import score_flow
    from ewp.stores.tracking import NoChampionError

    try:
        with _reported_errors(), _running(verbose):
            published = score_flow(cfg, home, day)
    except NoChampionError as error:
        _no_champion(config, error)
    _print_published(published)


@app.command()
def monitor(
    config: ConfigOption = None,
    backfill: Annotated[
        str | None,
        typer.Option(
            metavar="FROM",
            help="First publish the weekly lists of every Monday from FROM (YYYY-MM-DD) to the "
            "export's latest, with the champion, as ewp score --as-of would have.",
        ),
    ] = None,
    every: Annotated[
        int, typer.Option(min=1, help="With --backfill: a list every N weeks (default 1).")
    ] = 1,
    verbose: VerboseOption = False,
) -> None:
    """Monitor the champion in service: matured lists, drift, calibration, reviews.

    Writes monitor.html, CSVs and health.json to the data home's runs/<config>/monitor-<export
    date>/ and records the matured metrics on the champion's registered version.
    """
    cfg = _config(config)
    start = _day("--backfill", backfill)
    home = _home(cfg)
    verbose = _verbose(verbose)
    from ewp.flows.monitor import NothingToMonitor, backfill_flow, monitor_flow
    from ewp.stores.tracking import NoChampionError

    try:
        with _reported_errors({NothingToMonitor: "Nothing to monitor"}), _running(verbose):
            if start is not None:
                days = backfill_flow(cfg, home, start, every)
                console.print(f"Published {len(days)} weekly lists, {days[0]} to {days[-1]}")
            monitored = monitor_flow(cfg, home)
    except NoChampionError as error:
        _no_champion(config, error)
    console.print(monitored.health.line(), soft_wrap=True, highlight=False)
    console.print(f"Monitoring page: [bold]{monitored.report}[/bold]", soft_wrap=True)


@app.command()
def audit(
    run: Annotated[
        Path, typer.Argument(metavar="RUN_FOLDER", help="A weekly run folder (with flags.csv).")
    ],
    config: ConfigOption = None,
) -> None:
    """Audit a published weekly list for fairness.

    By ethnicity, gender and age band. Writes audit.html and the audit CSVs into the run folder (the
    score flow already does this after each run; this re-runs it, e.g. after a config change).
    """
    cfg = _config(config)
    home = _home(cfg)
    flags_csv = run / "flags.csv"
    if not flags_csv.is_file():
        _fail("Not a run folder", f"{flags_csv} not found: give a weekly run folder")
    from ewp.flows.weekly_audit import audit_flow

    with _reported_errors(), _running(verbose=False):
        path = audit_flow(cfg, home, run)
    console.print(f"Fairness audit: [bold]{path}[/bold]")


@app.command()
def oversight(
    config: ConfigOption = None,
    as_of: Annotated[
        str | None, typer.Option(help="Report date (YYYY-MM-DD); default the export date.")
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """Report on the misconduct system itself: time to decide, pile-ups, outcomes, disparity.

    Writes oversight.html and its tables (CSV) to <data home>/runs/<config>/oversight-<date>/ from
    what was known before the date. See docs/oversight.md.
    """
    cfg = _config(config)
    day = _day("--as-of", as_of)
    home = _home(cfg)
    verbose = _verbose(verbose)
    from ewp.flows.oversight import oversight_flow

    with _reported_errors(), _running(verbose):
        run = oversight_flow(cfg, home, day)
    for sentence in run.headline:
        console.print(f"- {escape(sentence)}", soft_wrap=True, highlight=False)
    console.print(f"Oversight report: [bold]{escape(str(run.report))}[/bold]", soft_wrap=True)


@app.command()
def serve(config: ConfigOption = None) -> None:
    """Run the weekly scoring, monthly retraining, oversight and monitoring schedules.

    Registers the deployments with a Prefect server and runs them. Weekly scoring on Mondays at
    06:00, retraining on the 1st of each month at 05:00, the oversight report at 07:00 and
    monitoring on the 2nd at 05:00 (Europe/London). Point PREFECT_API_URL at a running Prefect
    server (prefect server start) to see them in its UI; stop with Ctrl-C.
    """
    cfg = _config(config)
    # The scheduled runs resolve the data home again, in this process: the same one.
    os.environ["EWP_HOME"] = str(_home(cfg))
    tie_temporary_server()  # it dies with this command, even on SIGKILL
    from prefect import serve as prefect_serve

    from ewp.flows.schedule import deployments

    prefect_serve(*deployments(config))


ScaleName = StrEnum("ScaleName", {name: name for name in SCALES})
CadenceName = StrEnum("CadenceName", {name: name for name in get_args(Cadence)})


@app.command()
def bench(
    scale: Annotated[
        list[ScaleName] | None,
        typer.Option(help="met (45,000 officers) and/or national (150,000); default both."),
    ] = None,
    cadence: Annotated[
        list[CadenceName] | None,
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
    """Benchmark features, training and scoring at scale.

    The feature matrix, training and weekly scoring at Met and national scale, beside a naive
    pandas reference, a DuckDB SQL formulation and a write-once lower bound.
    Each step runs in its own process (wall time, CPU time, peak memory); ewp's matrix is
    checked against the naive reference first. Forces are generated once under
    <data home>/bench/; results go to <data home>/bench/results.json. See benchmarks/suite.py.
    """
    from ewp.benchmarks.suite import run_suite

    run_suite(
        home=_home(Config()),
        scales=[s.value for s in scale or ScaleName],
        cadences=[c.value for c in cadence or CadenceName],
        with_sql=sql,
        with_training=train,
        with_scoring=score,
        naive_dates=naive_dates,
        naive_budget=naive_budget,
        sql_memory=sql_memory,
        echo=typer.echo,  # plain lines: the tables are wider than rich's default width
    )


review_app = _Typer(
    help="Record human decisions on flags (every change is audited).", no_args_is_help=True
)
app.add_typer(review_app, name="review")


def _review_store(config: Config) -> ReviewStore:
    home = _home(config)  # the data home owner-only, as for every other command
    from ewp.flows.common import review_url
    from ewp.stores.review import ReviewStore

    return ReviewStore(review_url(config, home))


def _complete_decision(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of ``--decision``: the review decisions of the config given so far."""
    try:
        decisions = load_config(ctx.params.get("config")).review.decisions
    except ConfigError:
        decisions = Config().review.decisions
    return [d for d in decisions if d.startswith(incomplete)]


def _check_decision(decision: str, config: Config) -> None:
    """Refuse, in one line, a decision that is not one of the config's."""
    allowed = config.review.decisions
    if decision not in allowed:
        _fail("Bad option", f"--decision: {decision!r} is not one of: {', '.join(allowed)}")


def _who(by: str, old_spelling: str | None) -> str:
    """``--by``, or the hidden spelling an older script still passes (``--reviewer``,
    ``--actor``)."""
    return old_spelling if old_spelling is not None else by


@review_app.command("decide")
def review_decide(
    flag_id: Annotated[
        str, typer.Argument(metavar="FLAG_ID", help="The flag's ID (flags.csv, first column).")
    ],
    decision: Annotated[
        str,
        typer.Option(
            help="One of the config's review decisions (default config: "
            f"{', '.join(Config().review.decisions)}).",
            autocompletion=_complete_decision,
        ),
    ],
    by: ByOption,
    note: Annotated[str, typer.Option(help="Free text.")] = "",
    on: Annotated[
        str | None, typer.Option(help="Decision date (YYYY-MM-DD); default today.")
    ] = None,
    expect_version: Annotated[
        int,
        typer.Option(
            min=0,
            help="The version of the flag's decision you are replacing (0: the flag is "
            "undecided); refused, naming the decision now there, if it has changed since.",
        ),
    ] = 0,
    config: ConfigOption = None,
    reviewer: Annotated[str | None, typer.Option("--reviewer", hidden=True)] = None,
) -> None:
    """Record (or change) the decision on one flag."""
    decided_on = _day("--on", on) or dt.date.today()
    cfg = _config(config)
    _check_decision(decision, cfg)
    by = _who(by, reviewer)
    from ewp.stores.review import ReviewError

    store = _review_store(cfg)
    try:
        version = store.record_decision(
            flag_id=flag_id,
            decision=decision,
            reviewer=by,
            note=note,
            decided_on=decided_on,
            allowed=cfg.review.decisions,
            expected_version=expect_version,
        )
    except ReviewError as exc:
        console.print(f"[red]Not recorded:[/red] {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from exc
    finally:
        store.close()
    console.print(f"Recorded {decision} on {flag_id} by {by} (version {version})")


@review_app.command("import")
def review_import(
    path: Annotated[
        Path, typer.Argument(metavar="FILE", help="Decisions CSV, or flags.csv filled in.")
    ],
    by: ByOption,
    config: ConfigOption = None,
    actor: Annotated[str | None, typer.Option("--actor", hidden=True)] = None,
) -> None:
    """Import decisions from a CSV (all rows or none).

    The same file twice is refused.
    """
    from ewp.stores.review import ReviewError

    cfg = _config(config)
    store = _review_store(cfg)
    try:
        applied = store.import_decisions(path, allowed=cfg.review.decisions, actor=_who(by, actor))
    except ReviewError as exc:
        console.print(f"[red]Nothing imported:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    console.print(f"Imported {applied} decisions from {path}")


@review_app.command("trail")
def review_trail(
    flag: Annotated[str | None, typer.Option(help="Only the entries of this flag ID.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only entries on or after this date (YYYY-MM-DD, UTC).")
    ] = None,
    csv: Annotated[
        Path | None,
        typer.Option("--csv", help="Write the entries to this CSV file instead of showing them."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Show the audit trail: who changed what, and when."""
    from ewp.core.atomic import write_csv

    start = _day("--since", since)
    store = _review_store(_config(config))
    try:
        trail = store.audit_frame()
    finally:
        store.close()
    if flag is not None:
        trail = trail.loc[trail["flag_id"] == flag]
    if start is not None:
        trail = trail.loc[trail["at"] >= pd.Timestamp(start, tz="UTC")]
    trail = trail.assign(
        at=trail["at"].dt.strftime("%Y-%m-%d %H:%M:%S UTC"),
        details=[json.dumps(d, sort_keys=True) for d in trail["details"]],
    ).reset_index(drop=True)
    if csv is not None:
        write_csv(trail, csv)
        console.print(f"Wrote {len(trail):,} trail entries to {csv}", highlight=False)
    elif trail.empty:
        console.print("No trail entries match.")
    else:
        _print_frame(trail, title="Review audit trail")


users_app = _Typer(
    help="Accounts of the review workspace (ewp web): roles and units.", no_args_is_help=True
)
app.add_typer(users_app, name="users")
PASSWORD_ENV = "EWP_PASSWORD"
# The workspace's roles (ewp.stores.access.ROLES, which is slow to import; a test ties the two).
RoleName = StrEnum("RoleName", {name: name for name in ("reviewer", "auditor", "analyst", "admin")})


def _workspace_store(config: Path | None) -> tuple[Config, Path, WorkspaceStore]:
    cfg = _config(config)
    home = _home(cfg)
    from ewp.flows.common import review_url
    from ewp.stores.access import WorkspaceStore

    return cfg, home, WorkspaceStore(review_url(cfg, home))


def _new_password(password_file: Path | None) -> str:
    """The password from a file (first line), else $EWP_PASSWORD, else a hidden prompt."""
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


def _known_units(config: Config, home: Path, store: ReviewStore) -> set[str]:
    """The units ewp knows of: in the published lists of the review store, and in the export
    (``data.dir``, or the synthetic force once generated). Empty when there is neither yet."""
    from ewp.data.io import read_raw_export
    from ewp.flows.common import synthetic_folder

    units = set(store.flags_frame()["unit"])
    export = config.data.dir
    if export is None and config.data.ingest is None:
        export = synthetic_folder(config, home) / "export"
    if export is not None and export.is_dir():
        officers = read_raw_export(export).tables["officers"]
        units |= {unit.strip() for unit in officers.get("unit", []) if unit.strip()}
    return units


PasswordFileOption = Annotated[
    Path | None,
    typer.Option(
        help=f"File whose first line is the password; default ${PASSWORD_ENV}, else a prompt."
    ),
]


@users_app.command("add")
def users_add(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="User name (letters, digits, . _ @ -).")
    ],
    role: Annotated[RoleName, typer.Option(help="What the account may do.")],
    by: ByOption,
    unit: Annotated[
        list[str] | None,
        typer.Option(help="A unit a reviewer may see (as in the export); repeat for several."),
    ] = None,
    password_file: PasswordFileOption = None,
    proxy_only: Annotated[
        bool,
        typer.Option("--proxy-only", help="No password: signs in only through the proxy header."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Create a workspace account.

    The password is hashed with argon2id, never stored. Role and units are checked before the
    password is asked for: a unit must be one of the export's or the published lists'.
    """
    from ewp.stores.access import AccessError, check_role

    cfg, home, store = _workspace_store(config)
    try:
        units = [u.strip() for u in unit or []]
        check_role(role.value, units)
        known = _known_units(cfg, home, store)
        unknown = [u for u in units if u not in known]
        if known and unknown:
            close = difflib.get_close_matches(unknown[0], sorted(known), n=3)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            _fail("Not added", f"unknown unit {unknown[0]!r}: not in the export or a list{hint}")
        if units and not known:
            console.print(
                "[yellow]Units not checked:[/yellow] no export or published list yet",
                highlight=False,
            )
        password = None if proxy_only else _new_password(password_file)
        user = store.add_user(
            username=name, role=role.value, units=units, password=password, actor=by
        )
    except AccessError as exc:
        console.print(f"[red]Not added:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    units_text = f" for {', '.join(sorted(user.units))}" if user.units else ""
    console.print(f"Added {user.role} {user.username}{units_text}")


@users_app.command("set-password")
def users_set_password(
    name: Annotated[str, typer.Argument(metavar="NAME", help="User name.")],
    by: ByOption,
    password_file: PasswordFileOption = None,
    config: ConfigOption = None,
) -> None:
    """Set a new password for an account (ends its open sessions)."""
    from ewp.stores.access import AccessError

    _, _, store = _workspace_store(config)
    try:
        if store.user(name) is None:
            raise AccessError(f"no user {name}")
        password = _new_password(password_file)
        store.update_user(username=name, password=password, actor=by)
    except AccessError as exc:
        console.print(f"[red]Not changed:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    console.print(f"New password set for {name}")


@users_app.command("list")
def users_list(config: ConfigOption = None) -> None:
    """List the workspace's accounts with their role and units."""
    _, _, store = _workspace_store(config)
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
    """Start the review workspace (a web app with sign-in).

    A web app over the review store.
    Reviewers review and decide flags of their units, auditors read fairness audits and model
    cards, admins manage accounts. Create accounts first with ewp users add.
    """
    import uvicorn

    from ewp.web import create_app, web_settings

    cfg = _config(config)
    home = _home(cfg)
    application = create_app(web_settings(cfg, home))
    console.print(f"Review workspace on http://{host}:{port}/ (data home {home}); Ctrl-C stops")
    uvicorn.run(application, host=host, port=port, log_level="info", proxy_headers=False)


models_app = _Typer(
    help="The MLflow model registry: list versions, promote a champion.", no_args_is_help=True
)
app.add_typer(models_app, name="models")


def _tracker(config: Path | None) -> Tracker:
    cfg = _config(config)
    home = _home(cfg)
    from ewp.stores.tracking import tracker_for

    return tracker_for(cfg, home)


def _print_frame(frame: pd.DataFrame, *, title: str) -> None:
    """A frame as a table if it fits the terminal, else as one block per row, so that no
    value (an ID above all) is ever cut short."""
    table = _frame_table(frame, title=title)
    unbounded = console.options.update_width(1_000_000)
    if Measurement.get(console, unbounded, table).maximum <= console.width:
        console.print(table)
        return
    console.print(f"[bold]{title}[/bold]")
    first, *rest = frame.columns
    for row in frame.itertuples(index=False):
        values = dict(zip(frame.columns, row, strict=True))
        console.print(f"{first} {values[first]}", soft_wrap=True, highlight=False)
        for column in rest:
            console.print(f"  {column}: {values[column]}", soft_wrap=True, highlight=False)


@models_app.command("list")
def models_list(config: ConfigOption = None) -> None:
    """List the registered versions and the champion.

    The versions of ewp-escalation in the config's MLflow registry.
    """
    versions = _tracker(config).list_versions()
    if versions.empty:
        console.print("No registered model yet: run ewp train.")
        return
    _print_frame(versions, title="ewp-escalation versions")
    cfg = _config(config)
    from ewp.stores.health import health_summary, read_health

    health = read_health(_home(cfg) / "runs" / cfg.name)
    line = health_summary(health, today=dt.date.today(), max_age_days=cfg.monitoring.max_age_days)
    warn = health is not None and bool(health.breaches)
    console.print(f"[bold yellow]Warning:[/bold yellow] {line}" if warn else line, soft_wrap=True)


@models_app.command("promote")
def models_promote(
    version: Annotated[
        str, typer.Argument(metavar="VERSION", help="Registered version to make champion.")
    ],
    reason: Annotated[str, typer.Option(help="Why (recorded on the version).")],
    by: ByOption,
    config: ConfigOption = None,
) -> None:
    """Make a registered version the champion by hand.

    A written reason is required; it is recorded on the version with who promoted it.
    """
    from mlflow.exceptions import MlflowException

    try:
        _tracker(config).set_champion(version=version, reason=reason, promoted_by=by)
    except (ValueError, MlflowException) as exc:
        console.print(f"[red]Cannot promote version {version}:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"Version {version} is now champion ({reason}), promoted by {by}")


if __name__ == "__main__":
    app()

"""Command line: parse arguments, call the pipeline, map the outcome to an exit code.

This is the one place where errors become exit codes and printed lines (0 success,
1 runtime failure, 2 usage or configuration error). No traceback unless ``-v``.
"""

from __future__ import annotations

import logging
import signal
import sys
import traceback
from datetime import date
from pathlib import Path

import click

from reportgen import __version__
from reportgen.errors import ExitCode, ReportgenError, UsageError
from reportgen.redact import redact


class _State:
    verbose = False


def _period(value: str | None) -> tuple[date, date] | None:
    if value is None:
        return None
    try:
        year, month = (int(p) for p in value.split("-"))
        start = date(year, month, 1)
    except ValueError:
        raise UsageError(f"--period {value!r}: expected YYYY-MM") from None
    end = date(year + (month == 12), month % 12 + 1, 1)
    from datetime import timedelta
    return start, end - timedelta(days=1)


def _as_of(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--as-of {value!r}: expected YYYY-MM-DD") from None


def _sample_options(command):
    """``--sample-size`` and ``--sample-seed``: the audit sample drawn at render time (over [audit_sample])."""
    command = click.option("--sample-seed", "sample_seed", type=int, default=None,
                           help="Seed of the audit sample's draw keys (default: [audit_sample] seed, else 1).")(command)
    return click.option("--sample-size", "sample_size", type=int, default=None,
                        help="Items in the audit sample, 0 for none (default: [audit_sample] size, else 25).")(command)


def _framework_option(default_help: str):
    """``--framework NAME[,NAME]``: the frameworks the pack maps its evidence to (over [crosswalk])."""
    return click.option("--framework", "framework", default=None, metavar="NAME[,NAME]",
                        help="Add a framework crosswalk (" + default_help + "); 'none' for no crosswalk. "
                             "Known: cis-v8, iso27001, nist-800-53, pci-dss, soc2.")


def _frameworks(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    from reportgen.frameworks import parse_selection
    return parse_selection(value)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show debug logging and tracebacks.")
@click.version_option(__version__, prog_name="reportgen")
def cli(verbose: bool) -> None:
    """Audit-ready evidence packs for Azure running container image vulnerabilities (MCSB DS-6, PV-6)."""
    _State.verbose = verbose
    # SIGTERM unwinds like Ctrl-C, so unfinished folders are removed and the exit code says so.
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The Azure SDKs log each failed credential attempt as warnings; our error line says what to do.
    logging.getLogger("azure").setLevel(logging.NOTSET if verbose else logging.ERROR)


@cli.command()
@click.option("--out", "out", type=click.Path(path_type=Path), default=Path("reportgen-demo"), show_default=True,
              help="Folder for the sample snapshots and the pack.")
@_sample_options
@_framework_option("default: iso27001,pci-dss,nist-800-53,soc2")
def demo(out: Path, sample_size: int | None, sample_seed: int | None, framework: str | None) -> None:
    """Build the sample tenant (six months of history) and render its full evidence pack."""
    from reportgen import pipeline
    from reportgen.config import RunConfig, with_audit_sample, with_frameworks
    frameworks = _frameworks(framework)
    result = pipeline.demo(out, config=with_frameworks(with_audit_sample(RunConfig(), sample_size, sample_seed),
                                                       pipeline.DEMO_FRAMEWORKS if frameworks is None else frameworks))
    click.echo(f"Evidence pack written to {result.pack_dir}")
    from reportgen.render.interface import MANIFEST, README, outputs
    for name in [o.main_file for o in outputs() if "*" not in o.main_file] + [README, MANIFEST]:
        if name in result.files:
            click.echo(f"  {result.pack_dir / name}")


@cli.command()
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Snapshot folder to write.")
@click.option("--scale", default="small", show_default=True, help="small | medium | large | N (number of AKS clusters).")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--as-of", "as_of", default=None, help="As-of date YYYY-MM-DD (default: a fixed date, for reproducibility).")
@click.option("--history-dir", type=click.Path(path_type=Path), default=None, help="Also write earlier monthly snapshots here.")
@click.option("--months", type=int, default=None, help="How many earlier monthly snapshots (with --history-dir).")
def sample(out: Path, scale: str, seed: int, as_of: str | None, history_dir: Path | None, months: int | None) -> None:
    """Write a snapshot of the built-in sample tenant (no Azure needed)."""
    from reportgen import pipeline
    if (history_dir is None) != (months is None):
        raise UsageError("--history-dir and --months go together")
    if months is not None and not 1 <= months <= 36:
        raise UsageError(f"--months {months}: expected 1 to 36")
    written = pipeline.make_sample(out, scale=scale, seed=seed, as_of=_as_of(as_of),
                                   history_dir=history_dir, months=months or 0)
    click.echo(f"Sample snapshot written to {out}" + (f" (+{len(written) - 1} earlier in {history_dir})" if history_dir else ""))


@cli.command()
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None)
@click.option("--period", default=None, help="Reporting month YYYY-MM (default: the current month to date).")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Snapshot folder to write.")
def collect(config_file: Path | None, period: str | None, out: Path) -> None:
    """Collect a snapshot from Azure Resource Graph and Azure Monitor Logs."""
    from reportgen import pipeline
    from reportgen.config import load_config
    snapshot = pipeline.collect(load_config(config_file), _period(period), out)
    click.echo(f"Snapshot written to {snapshot}")


@cli.command()
@click.argument("snapshot_dir", type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Pack folder to write.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None)
@click.option("--history-dir", type=click.Path(path_type=Path), default=None, help="Folder of earlier snapshots.")
@click.option("--sign-key", type=click.Path(path_type=Path), default=None,
              help="Ed25519 private key (PEM) to sign manifest.json with (writes manifest.json.sig).")
@click.option("--split-by", "split_by", type=click.Choice(["owner"]), default=None,
              help="Also write one pack per owner in by-owner/<owner>/ (each verifiable on its own).")
@_sample_options
@_framework_option("default: [crosswalk] frameworks, else none")
def render(snapshot_dir: Path, out: Path, config_file: Path | None, history_dir: Path | None,
           sign_key: Path | None, split_by: str | None, sample_size: int | None, sample_seed: int | None,
           framework: str | None) -> None:
    """Render an evidence pack from a snapshot."""
    from reportgen import pipeline
    from reportgen.config import load_config, with_audit_sample, with_frameworks
    config = with_frameworks(with_audit_sample(load_config(config_file), sample_size, sample_seed),
                             _frameworks(framework))
    result = pipeline.render(snapshot_dir, out, config, history_dir=history_dir, sign_key=sign_key,
                             split_by=split_by)
    click.echo(f"Evidence pack written to {result.pack_dir}" + (" (signed)" if sign_key else ""))


@cli.command()
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None)
@click.option("--period", default=None, help="Reporting month YYYY-MM.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Pack folder to write.")
@click.option("--history-dir", type=click.Path(path_type=Path), default=None, help="Folder of earlier snapshots.")
@click.option("--sign-key", type=click.Path(path_type=Path), default=None,
              help="Ed25519 private key (PEM) to sign manifest.json with.")
@click.option("--split-by", "split_by", type=click.Choice(["owner"]), default=None,
              help="Also write one pack per owner in by-owner/<owner>/ (each verifiable on its own).")
@_sample_options
@_framework_option("default: [crosswalk] frameworks, else none")
def run(config_file: Path | None, period: str | None, out: Path, history_dir: Path | None,
        sign_key: Path | None, split_by: str | None, sample_size: int | None, sample_seed: int | None,
        framework: str | None) -> None:
    """Collect from Azure and render the pack in one go."""
    from reportgen import pipeline
    from reportgen.config import load_config, with_audit_sample, with_frameworks
    config = with_frameworks(with_audit_sample(load_config(config_file), sample_size, sample_seed),
                             _frameworks(framework))
    result = pipeline.run(config, _period(period), out, history_dir=history_dir, sign_key=sign_key,
                          split_by=split_by)
    click.echo(f"Evidence pack written to {result.pack_dir}")


@cli.command()
@click.argument("pack_dir", type=click.Path(path_type=Path))
@click.option("--public-key", "public_key", type=click.Path(path_type=Path), default=None,
              help="Ed25519 public key (PEM) that must have signed manifest.json.")
@click.option("--deep", is_flag=True,
              help="Also re-render the pack from its snapshot in a temporary folder and compare every file and "
                   "every figure of summary.json.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="With --deep: the configuration the pack was rendered with (default: the defaults).")
@click.option("--history-dir", type=click.Path(path_type=Path), default=None,
              help="With --deep: the earlier snapshots the pack was rendered with.")
def verify(pack_dir: Path, public_key: Path | None, deep: bool, config_file: Path | None,
           history_dir: Path | None) -> None:
    """Check every file of a pack against its manifest, the snapshot's own hashes, with
    --public-key the signature and with --deep a re-render of the snapshot (exit 0 only if
    all hold; one line per problem otherwise). No symbolic link in the pack is followed."""
    from reportgen.pack import signing, verify as verification
    if not deep and (config_file is not None or history_dir is not None):
        raise UsageError("--config and --history-dir are for --deep", hint="add --deep to re-render the pack")
    key = signing.load_public_key(public_key) if public_key is not None else None
    config = None
    if config_file is not None:
        from reportgen.config import load_config
        config = load_config(config_file)
    problems = verification.verify_pack(pack_dir, public_key=key)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        if deep:
            click.echo("not checked: --deep (the pack must pass the checks above before it is re-rendered)", err=True)
        sys.exit(ExitCode.FAILURE)
    click.echo(f"OK: every file in {pack_dir} matches manifest.json")
    if key is not None:
        click.echo(f"OK: manifest.json is signed by public key {signing.fingerprint(key)}")
    elif (Path(pack_dir) / signing.SIGNATURE).is_file():
        click.echo(f"note: {signing.SIGNATURE} not checked; pass --public-key to check the signature")
    if not deep:
        return
    result = verification.deep_check(pack_dir, config, history_dir)
    for line in result.problems:
        click.echo(line, err=True)
    if result.not_run:
        click.echo(f"not checked: --deep: {result.not_run}", err=True)
    for note in result.notes:
        click.echo(f"note: {note}", err=bool(result.problems or result.not_run))
    if result.problems or result.not_run:
        sys.exit(ExitCode.FAILURE)
    click.echo("OK: a re-render of snapshot/ gives the same files and the same figures in summary.json")


@cli.command("audit-sample")
@click.argument("pack_dir", type=click.Path(path_type=Path))
@click.option("--size", type=int, default=25, show_default=True, help="Items to draw (at least 1).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the draw keys (an integer >= 0).")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Also write the evidence cards as CSV to this new file (never overwritten).")
def audit_sample(pack_dir: Path, size: int, seed: int, out: Path | None) -> None:
    """Draw the audit sample again from a pack's period population and print its evidence cards.

    The pack must verify first. The same pack, size and seed give the same items as the pack's
    own Audit sample sheet when it was rendered with that size and seed."""
    from reportgen.aggregate import audit_sample as sampling
    if size < 1:
        raise UsageError(f"--size {size}: expected an integer >= 1")
    if seed < 0:
        raise UsageError(f"--seed {seed}: expected an integer >= 0")
    if out is not None and (out.exists() or out.is_symlink()):
        raise UsageError(f"--out {out}: already exists; refusing to overwrite it", hint="name a new file")
    items, sample = sampling.redraw(pack_dir, size, seed)
    click.echo(sampling.sample_report(items, sample, str(pack_dir)), nl=False)
    if out is not None:
        click.echo(f"Evidence cards written to {sampling.write_cards_csv(items, out)}")


@cli.command()
@click.argument("pack_dir", type=click.Path(path_type=Path))
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path),
              help="Ed25519 private key (PEM, PKCS#8).")
def sign(pack_dir: Path, key_file: Path) -> None:
    """Sign a pack's manifest.json (writes manifest.json.sig); the pack must verify first."""
    from reportgen.errors import VerificationError
    from reportgen.pack import signing, verify as verification
    key = signing.load_private_key(key_file)
    problems = verification.verify_pack(pack_dir)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        raise VerificationError(f"{pack_dir}: does not verify; refusing to sign it",
                                hint="re-render the pack, then sign it")
    path = signing.sign_manifest(pack_dir, key)
    click.echo(f"Signed: {path} (public key {signing.fingerprint(key.public_key())})")


@cli.command()
@click.option("--out-private", "out_private", required=True, type=click.Path(path_type=Path),
              help="File for the private key (PEM, PKCS#8, mode 0600; encrypted when REPORTGEN_SIGNING_PASSPHRASE is set).")
@click.option("--out-public", "out_public", required=True, type=click.Path(path_type=Path),
              help="File for the public key (PEM, SubjectPublicKeyInfo) to hand to auditors.")
def keygen(out_private: Path, out_public: Path) -> None:
    """Make an Ed25519 key pair for signing packs (never overwrites a file)."""
    from reportgen.pack import signing
    pair = signing.generate_keypair(out_private, out_public)
    click.echo(f"Private key written to {pair.private_path} (keep it secret)")
    click.echo(f"Public key written to {pair.public_path} ({pair.fingerprint})")


@cli.group()
def queries() -> None:
    """List, show and check the KQL queries."""


@queries.command("list")
def queries_list() -> None:
    from reportgen.kql import catalog
    for q in catalog.load_queries():
        click.echo(f"{q.name:24} {q.service:15} {q.sha256[:12]}  {q.path}")


@queries.command("show")
@click.argument("name")
def queries_show(name: str) -> None:
    from reportgen.kql import catalog
    click.echo(catalog.get_query(name).text, nl=False)


@queries.command("check")
def queries_check() -> None:
    from reportgen.kql.check import check_queries
    problems = check_queries()
    if problems:
        for line in problems:
            click.echo(line, err=True)
        sys.exit(ExitCode.USAGE)
    click.echo("OK: every query parses and returns its dataset's contract columns")


def _error(line: str) -> None:
    """The error line (and with -v the traceback), with tokens a server may have echoed redacted."""
    if _State.verbose and sys.exc_info()[0] is not None:
        click.echo(redact(traceback.format_exc()).rstrip("\n"), err=True)
    click.echo(f"error: {redact(line)}", err=True)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="reportgen", standalone_mode=False)
    except ReportgenError as exc:
        _error(exc.one_line())
        sys.exit(int(exc.exit_code))
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        sys.exit(int(ExitCode.FAILURE))
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(int(ExitCode.USAGE))
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(int(ExitCode.FAILURE))
    except Exception as exc:  # a bug: still one line, traceback with -v
        _error(f"unexpected {type(exc).__name__}: {exc} (run with -v for the traceback)")
        sys.exit(int(ExitCode.FAILURE))
    sys.exit(0)

"""Refuse bad input before anything is compiled, launched or written.

Hydra creates a run or sweep directory (and, for a multirun, launches jobs) before the task
function sees its config, so checks inside the task come too late to leave nothing behind.
:func:`guard` therefore composes, from the command line alone, the config of every job the
command would launch (the experiment's ``hydra.sweeper.params`` and the command's own sweeps,
expanded as Hydra's basic sweeper does), builds each typed config (whose ``__post_init__``
checks run) and the app's own checks, and on the first problem prints one line

    error: <field>: <what is wrong and what is allowed>

to stderr and exits with status 2: no traceback, no directory, no job.
"""

from __future__ import annotations

import argparse
import os
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

__all__ = [
    "ArgumentParser",
    "InputError",
    "available_memory",
    "expand_sweeps",
    "check_flag_output",
    "check_output",
    "fail",
    "format_bytes",
    "guard",
    "job_configs",
    "schema_node",
    "study_output",
]

EXIT_CODE = 2


class InputError(ValueError):
    """Bad input, reported as one line naming the field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _writable(node):
    OmegaConf.set_readonly(node, None)
    if isinstance(node, DictConfig):
        for key in node.keys():
            child = node._get_node(key)
            if isinstance(child, DictConfig | ListConfig):
                _writable(child)
    return node


def typed_config(cfg: DictConfig):
    """An app's composed config, less Hydra's own node, as its frozen schema dataclass.

    The dataclass's ``__post_init__`` checks the values (tradeoff, crossover, generate).
    """
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return OmegaConf.to_object(cfg)


def schema_node(schema: type) -> DictConfig:
    """A frozen dataclass as a Hydra schema node that YAML and overrides can merge into.

    ``OmegaConf.structured`` marks frozen dataclasses read-only, which Hydra's merging refuses;
    the typing (unknown keys, wrong types) is kept, and ``OmegaConf.to_object`` still builds
    the frozen dataclasses, whose ``__post_init__`` checks the values.
    """
    return _writable(OmegaConf.structured(schema))


def available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux MemAvailable; else physical)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def format_bytes(b: float) -> str:
    """Human-readable bytes (GiB or MiB)."""
    return f"{b / 2**30:.1f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


def _groups(conf_dir: Path, names: Sequence[str] | None) -> dict[str, list[str]]:
    """Options of the app's config groups (every subfolder of its root when ``names`` is None)."""
    return {
        p.name: sorted(q.stem for q in p.glob("*.yaml"))
        for p in conf_dir.iterdir()
        if p.is_dir() and p.name != "hydra" and (names is None or p.name in names)
    }


def _check_groups(overrides, groups: dict[str, list[str]]) -> None:
    for ov in overrides:
        key = ov.key_or_group
        if key not in groups:
            continue
        values = ov.sweep_string_iterator() if ov.is_sweep_override() else [ov.value()]
        for value in values:
            if value not in groups[key]:
                raise InputError(
                    key, f"unknown option {value!r} (allowed: {', '.join(groups[key])})"
                )


def expand_sweeps(overrides: Sequence) -> list[list[str]]:
    """The jobs of parsed overrides, as Hydra's basic sweeper expands them (same order).

    The one use of Hydra's private ``BasicSweeper`` (hydra-core 1.3): nothing public expands a
    sweep without launching it, and :func:`guard` must see every job before Hydra writes
    anything. ``tests/experiments/test_refusals.py`` pins its output, so a Hydra that moves or
    changes it fails there, loudly, rather than here.

    Args:
        overrides: Hydra ``Override`` objects (``OverridesParser.parse_overrides``).

    Returns:
        One list of ``key=value`` strings per job.
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    (jobs,) = BasicSweeper.split_arguments(list(overrides), None)
    return [list(job) for job in jobs]


def job_configs(
    args: Sequence[str],
    conf_dir: str | Path,
    config_name: str,
    groups: Sequence[str] | None = None,
) -> list[tuple[list[str], DictConfig]]:
    """The (overrides, composed config) of every job the command line would run.

    ``groups`` names the config groups the app uses (None: every subdirectory of ``conf_dir``).
    """
    conf_dir = Path(conf_dir)
    options = _groups(conf_dir, groups)
    multirun = any(a in ("-m", "--multirun") for a in args)
    words = [a for a in args if not a.startswith("-")]
    parser = OverridesParser.create()
    parsed = parser.parse_overrides(words)
    _check_groups(parsed, options)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        plain = [o.input_line for o in parsed if not o.is_sweep_override()]
        base = compose(config_name, overrides=plain, return_hydra_config=True)
        multirun = multirun or str(base.hydra.mode) == "RunMode.MULTIRUN"
        if multirun:
            params = OmegaConf.to_container(base.hydra.sweeper.get("params") or {})
            lines = [f"{k}={v}" for k, v in params.items()] + words
            parsed_all = parser.parse_overrides(lines)
            _check_groups(parsed_all, options)
            jobs = expand_sweeps(parsed_all)
        else:
            jobs = [words]
        return [(job, compose(config_name, overrides=job)) for job in jobs]


def _one_line(err: BaseException) -> str:
    """The message of a config error as one line that names the field."""
    chain, e = [], err
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    for e in chain:
        if isinstance(e, InputError):
            return str(e)
    for e in chain:
        if isinstance(e, OmegaConfBaseException) and getattr(e, "full_key", None):
            msg = (getattr(e, "msg", None) or str(e)).strip().splitlines()[0]
            return f"{e.full_key}: {msg}"
    text = " ".join(str(err).split())
    return text or type(err).__name__


def check_output(path: str | Path, *, overwrite: bool, field: str = "out") -> Path:
    """Never lose a file: a user-named output's folder must exist.

    An existing file is replaced only with ``overwrite``.

    Raises:
        InputError: naming ``field``.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(
            field, f"folder {path.parent} does not exist (create it first, or name another)"
        )
    if path.exists() and not overwrite:
        raise InputError(
            field, f"{path} exists; give overwrite=true to replace it, or name another"
        )
    return path


def fail(message: str) -> typing.NoReturn:
    """Prints ``error: <message>`` as one line on stderr and exits with status 2."""
    print(f"error: {message}", file=sys.stderr)  # noqa: T201
    raise SystemExit(EXIT_CODE)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` whose refusals are one line (``error: ...``) and exit status 2.

    The stock parser prints its usage block before the error; ``--help`` is unchanged.
    """

    def error(self, message: str) -> typing.NoReturn:  # noqa: D102
        fail(f"{message} (see --help)")


def study_output(doc: str, default: str, argv: Sequence[str] | None = None, *,
                 file_name: str | None = None) -> Path:  # fmt: skip
    """The command line of a study: ``[OUT] [--overwrite]`` and ``--help``; the checked path.

    ``OUT`` is the output file (or, with ``file_name``, the folder that gets it), checked by
    :func:`check_output` before any work: a refusal is one line and exit status 2.
    """
    parser = ArgumentParser(
        description=doc.strip().splitlines()[0],
        epilog=f"Writes {'OUT/' + file_name if file_name else 'OUT'}; default OUT: {default}",
    )
    parser.add_argument("out", nargs="?", default=default, help="where the result goes")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing result")
    args = parser.parse_args(argv)
    path = Path(args.out) / file_name if file_name else Path(args.out)
    return check_flag_output(path, overwrite=args.overwrite)


def check_flag_output(path: str | Path, *, overwrite: bool) -> Path:
    """:func:`check_output` for an argparse command (``--overwrite``); refusals exit 2."""
    try:
        return check_output(path, overwrite=overwrite)
    except InputError as err:
        fail(str(err).replace("overwrite=true", "--overwrite"))


def refuse(load: Callable[[], object]) -> object:
    """``load()``, or, on an :class:`InputError`, its one line on stderr and exit status 2.

    For the checks that need the data, inside an entry point (nothing has been written yet).
    """
    try:
        return load()
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)  # noqa: T201
        raise SystemExit(EXIT_CODE) from None


def guard(
    args: Sequence[str],
    *,
    conf_dir: str | Path,
    config_name: str,
    to_config: Callable[[DictConfig], object],
    check: Callable[[object], None] | None = None,
    groups: Sequence[str] | None = None,
) -> None:
    """Validates every job of a command line; on error prints one line and exits with 2.

    Command lines that ask Hydra for something else (``--help``, ``--cfg``, ``--info``, shell
    completion) are left to Hydra.
    """
    if any(a.startswith("-") and a not in ("-m", "--multirun") for a in args):
        return
    try:
        for _, cfg in job_configs(args, conf_dir, config_name, groups):
            typed = to_config(cfg)
            if check is not None:
                check(typed)
    except (ValueError, TypeError, HydraException, OmegaConfBaseException) as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)  # noqa: T201
        raise SystemExit(EXIT_CODE) from None
    finally:
        GlobalHydra.instance().clear()

"""The workspace: where stages read their inputs and write their outputs.

Every write goes through a ``Stage``: it holds the workspace's lock for its
whole run, writes its outputs into a transaction folder, and switches them in
only when the whole stage has succeeded (``cli/transaction.py``), so a stage
that fails or is killed leaves the workspace as it was. Each Parquet file carries the contract's key-value metadata, and
``manifest.json`` lists every file with its row count and SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Sequence

from trialkit.schemas.errors import InputOutputError, SchemaViolationError, UsageError

from .transaction import Transaction, hold

if TYPE_CHECKING:
    import polars as pl

    from trialkit.schemas.outputs import OutputTable

__all__ = ["DEFAULT_WORKSPACE", "resolve_workspace", "Stage", "sha256_file", "read_manifest", "trialkit_version",
           "read_output", "read_ard"]

DEFAULT_WORKSPACE = "trialkit-work"
#: options that change how results are shown, never the results: not recorded, not in the command line
_NOT_RECORDED = {"workspace", "format", "plot"}
MANIFEST = "manifest.json"
META_PREFIX = "trialkit."


def resolve_workspace(option: str | None) -> Path:
    """--workspace, else $TRIALKIT_WORKSPACE, else ./trialkit-work."""
    value = option or os.environ.get("TRIALKIT_WORKSPACE") or DEFAULT_WORKSPACE
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise UsageError(f"workspace {path} is a file, not a folder", "pass --workspace DIR with a folder")
    return path


@functools.cache
def trialkit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trialkit")
    except PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


def _read_parquet(path: Path, columns: list[str] | None = None) -> "pl.DataFrame":
    import polars as pl

    try:
        return pl.read_parquet(path, columns=columns, glob=False)
    except Exception as exc:  # polars raises several kinds for a broken file
        raise InputOutputError(f"{path} cannot be read as Parquet ({exc})", "re-run trialkit ingest") from exc


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(workspace: Path) -> dict:
    path = workspace / MANIFEST
    if not path.exists():
        return {"files": {}}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputOutputError(f"{path} cannot be read ({exc})", "delete it and re-run trialkit ingest") from exc


#: rows per Parquet row group: pyarrow's default, so that a frame written in slices of it writes the same file
ROW_GROUP_ROWS = 1024 * 1024

#: datasets already read (and validated) in this process, for ``trialkit run``: a plan reads each once.
_READ_CACHE: dict[tuple, tuple] = {}
_CACHE_ENABLED = False


def enable_read_cache() -> None:
    """Keep each dataset read in this process, keyed by path, size and modification time."""
    global _CACHE_ENABLED
    _CACHE_ENABLED = True


def _cache_key(path: Path) -> tuple | None:
    if not _CACHE_ENABLED:
        return None
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)


def check_output(workspace: Path, spec: OutputTable, folder: str | None = None) -> Path:
    """The path of a stage's table (in ``folder``, default the stage's), refused unless its columns, types and
    schema stamp match its declaration (``schemas/outputs.py``); the file's footer is read, not its rows."""
    import polars as pl
    import pyarrow.parquet as pq

    path = workspace / (f"{folder}/{spec.file.rsplit('/', 1)[-1]}" if folder else spec.file)
    stage = spec.stage
    try:
        meta = pq.read_schema(path).metadata or {}
        schema = pl.scan_parquet(path, glob=False).collect_schema()
    except Exception as exc:  # pyarrow and polars raise several kinds for a broken file
        raise InputOutputError(f"{path} cannot be read as Parquet ({exc})", f"re-run trialkit {stage}") from exc
    name = meta.get(f"{META_PREFIX}schema".encode(), b"").decode("utf-8", "replace")
    version = meta.get(f"{META_PREFIX}schema_version".encode(), b"").decode("utf-8", "replace")
    problems = spec.problems({c: str(t) for c, t in schema.items()}, name, version)
    if problems:
        raise SchemaViolationError(f"{path} does not match its declared schema {spec.name} version {spec.version}: "
                                   f"{'; '.join(problems)}", f"re-run trialkit {stage} to rewrite it")
    return path


def read_checked(path: Path, stage: str) -> pl.DataFrame:
    """The rows of a table ``check_output`` accepted."""
    import polars as pl

    try:
        return pl.read_parquet(path, glob=False)
    except Exception as exc:  # pyarrow and polars raise several kinds for a broken file
        raise InputOutputError(f"{path} cannot be read as Parquet ({exc})", f"re-run trialkit {stage}") from exc


def read_output(workspace: Path, spec: OutputTable, folder: str | None = None) -> pl.DataFrame:
    """Read a stage's table (from ``folder``, default the stage's) and refuse it unless it matches its declaration
    (``schemas/outputs.py``)."""
    return read_checked(check_output(workspace, spec, folder), spec.stage)


class OutputTables(Mapping):
    """A stage's tables by name, each checked against its declaration at once and read when first used: a
    report uses a few of them, and one (biomarkers/adlb.parquet) holds every lab record."""

    def __init__(self, paths: dict[str, Path], stage: str, extra: Mapping[str, pl.DataFrame] | None = None) -> None:
        self._paths, self._stage, self._read = dict(paths), stage, dict(extra or {})

    def with_table(self, name: str, frame: pl.DataFrame) -> OutputTables:
        """These tables and one more (or another under ``name``)."""
        return OutputTables({k: v for k, v in self._paths.items() if k != name}, self._stage,
                            {**self._read, name: frame})

    def __getitem__(self, name: str) -> pl.DataFrame:
        if name not in self._read:
            if name not in self._paths:
                raise KeyError(name)
            self._read[name] = read_checked(self._paths[name], self._stage)
        return self._read[name]

    def __iter__(self):
        return iter(sorted(set(self._paths) | set(self._read)))

    def __len__(self) -> int:
        return len(set(self._paths) | set(self._read))


def read_ard(workspace: Path) -> pl.DataFrame | None:
    """The workspace's ard.parquet, checked against its declaration (``schemas/ard.py``); None when absent."""
    import polars as pl

    from trialkit.schemas.ard import ARD_FILE, check_ard

    path = workspace / ARD_FILE
    if not path.exists():
        return None
    try:
        ard = pl.read_parquet(path, glob=False)
    except Exception as exc:  # polars raises several kinds for a broken file
        raise InputOutputError(f"{path} cannot be read as Parquet ({exc})",
                               "delete it and re-run the analyses (trialkit run PLAN)") from exc
    check_ard(ard, str(path))
    return ard


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def dumps(obj: Any) -> str:
    """JSON as trialkit writes it: sorted keys, two-space indent, final newline."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def _unchanged(final: Path, entry: dict) -> bool:
    """Whether ``final`` already holds the bytes of a pending write (its manifest entry's size and SHA-256)."""
    try:
        if "sha256" not in entry or not final.is_file() or final.stat().st_size != entry.get("bytes"):
            return False
    except OSError:
        return False
    return sha256_file(final) == entry["sha256"]


class Stage:
    """One stage's view of the workspace: validated reads, staged atomic writes.

    Use as a context manager; outputs become visible only when the block ends
    without an exception.
    """

    def __init__(self, workspace: Path, command: str, options: dict[str, Any], *, creates_workspace: bool = False) -> None:
        self.workspace = workspace
        self.command = command
        self.options = {k: v for k, v in sorted(options.items()) if k not in _NOT_RECORDED}
        self.inputs: dict[str, str] = {}
        self._pending: list[tuple[Path, Path, dict]] = []  # (tmp, final, manifest entry)
        self._removals: list[Path] = []
        self._kept: set[Path] = set()
        self.analysis: dict[str, Any] | None = None  # the manifest's "analyses" entry this stage writes
        self.forget_analyses = False  # ingest: the data changed, so every analysis is gone
        self.creates_workspace = creates_workspace
        self._txn = Transaction(workspace)

    # ----------------------------------------------------------------- reading
    def path(self, relpath: str) -> Path:
        return self.workspace / relpath

    def has(self, dataset: str) -> bool:
        return self.path(f"{dataset}.parquet").exists()

    def record_input(self, name: str, sha256: str) -> None:
        self.inputs[name] = sha256

    def column_names(self, dataset: str) -> list[str]:
        """The columns ``<dataset>.parquet`` holds, from its footer ([] when it is absent or unreadable: ``read``
        then says why)."""
        import polars as pl

        try:
            return pl.scan_parquet(self.path(f"{dataset}.parquet"), glob=False).collect_schema().names()
        except Exception:  # noqa: BLE001 - read() reports the problem with its own message
            return []

    def read(self, dataset: str, *, validate: bool = True, columns: Sequence[str] | None = None,
             keep: bool = True) -> pl.DataFrame:
        """Read ``<dataset>.parquet`` and refuse it if it breaks its schema.

        ``columns``: the columns the caller uses. When ``trialkit validate`` recorded these very bytes as clean,
        only those are read (a million-row ADSL's text columns cost more to read than the analysis needs);
        otherwise the whole dataset is read and checked, and returned whole.
        ``keep``: False leaves (or takes) the frame out of the process's read cache, so that the caller holds
        the only reference and can free it (biomarkers replaces ADLB by its derived copy).
        """
        import polars as pl

        path = self.path(f"{dataset}.parquet")
        if not path.exists():
            raise InputOutputError(
                f"{path} does not exist: the workspace holds no {dataset.upper()}",
                "run trialkit ingest first (or pass --workspace to the folder you ingested into)",
            )
        key = _cache_key(path)
        cached = _READ_CACHE.get(key) if key is not None else None
        if cached is not None:
            df, sha, checked = cached
        else:
            sha, checked = sha256_file(path), False
            if columns is not None and validate and self._recorded_clean(dataset, sha):
                self.record_input(f"{dataset}.parquet", sha)
                wanted = set(columns)
                return _read_parquet(path, [c for c in self.column_names(dataset) if c in wanted])
            df = _read_parquet(path)
        self.record_input(f"{dataset}.parquet", sha)
        if validate and not checked:
            self._refuse_invalid(dataset, df, path)
            checked = True
        if key is not None and keep:
            _READ_CACHE[key] = (df, sha, checked)
        elif key is not None:
            _READ_CACHE.pop(key, None)
        return df

    def pending_sha256(self, relpath: str) -> str | None:
        """The SHA-256 of a file this stage has staged for ``relpath`` (None when it writes none)."""
        final = self.path(relpath)
        return next((entry.get("sha256") for _tmp, dest, entry in reversed(self._pending) if dest == final), None)

    def _validated_earlier(self, dataset: str, sha: str, schema) -> bool:
        """Whether ``trialkit validate`` found these very bytes clean under this schema version (validation.json).

        Its record names each dataset's SHA-256 and ADSL's (the cross-dataset rules read ADSL): any change to
        either, or to the schema version, and the stage checks the data again.
        """
        import json

        try:
            checked = json.loads(self.path("validation.json").read_text(encoding="utf-8")).get("checked") or {}
        except (OSError, ValueError, AttributeError):
            return False
        entry = checked.get(f"{dataset}.parquet")
        if not isinstance(entry, dict) or entry.get("sha256") != sha or entry.get("schema") != f"{schema.name} {schema.version}":
            return False
        if dataset == "adsl" or not self.has("adsl"):
            return True
        adsl = checked.get("adsl.parquet")
        return isinstance(adsl, dict) and adsl.get("sha256") == self.inputs.get("adsl.parquet", sha256_file(self.path("adsl.parquet")))

    def _recorded_clean(self, dataset: str, sha: str) -> bool:
        """Whether validation.json records these bytes as clean under the dataset's current schema."""
        from trialkit.schemas.adam import schema_for

        schema = schema_for(dataset)
        return schema is not None and self._validated_earlier(dataset, sha, schema)

    def _refuse_invalid(self, dataset: str, df: pl.DataFrame, path: Path) -> None:
        from trialkit.analyses.validation import check_dataset
        from trialkit.schemas.adam import schema_for

        schema = schema_for(dataset)
        if schema is None:
            return
        if self._validated_earlier(dataset, self.inputs.get(f"{dataset}.parquet", ""), schema):
            return
        adsl_ids = None
        if dataset != "adsl" and self.has("adsl"):
            import polars as pl

            adsl_ids = pl.read_parquet(self.path("adsl.parquet"), columns=["USUBJID"], glob=False)["USUBJID"]
        check = check_dataset(df, schema, adsl_ids)
        if not check.clean:
            first = check.violations[0]
            more = len(check.violations) - 1
            extra = f" (and {more} more rule(s) broken)" if more else ""
            raise SchemaViolationError(
                first.message(path.name) + extra,
                f"run `trialkit validate --workspace {self.workspace}` to list every violation and quarantine the rows",
            )

    # ----------------------------------------------------------------- writing
    def _write_tmp(self, final: Path, writer) -> Path:
        """Write through ``writer`` to a file in the stage's transaction folder; pending from then on."""
        tmp = self._txn.new_file(final)
        self._pending.append((tmp, final, {}))
        try:
            writer(tmp)
            os.chmod(tmp, 0o666 & ~_umask())
        except OSError as exc:
            raise InputOutputError(f"cannot write {final} ({exc.strerror})", "check free space and permissions") from exc
        return tmp

    def _stage(self, relpath: str, writer, entry: dict) -> Path:
        final = self.path(relpath)
        tmp = self._write_tmp(final, writer)
        self._pending[-1][2].update(entry, sha256=sha256_file(tmp), bytes=tmp.stat().st_size, command=self.command_line())
        return final

    def command_line(self) -> str:
        parts = ["trialkit", self.command]
        for key, value in self.options.items():
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                parts.append(flag if value else f"--no-{key.replace('_', '-')}")
            elif isinstance(value, (list, tuple)):
                parts.extend(f"{flag} {v}" for v in value)
            elif value is not None:
                parts.append(f"{flag} {value}")
        return " ".join(parts)

    def metadata(self, schema: str | None, schema_version: str | None) -> dict[str, str]:
        return {
            f"{META_PREFIX}schema": schema or "",
            f"{META_PREFIX}schema_version": schema_version or "",
            f"{META_PREFIX}version": trialkit_version(),
            f"{META_PREFIX}command": self.command_line(),
            f"{META_PREFIX}options": dumps(self.options).strip(),
            f"{META_PREFIX}inputs": dumps(dict(sorted(self.inputs.items()))).strip(),
        }

    def write_parquet(self, relpath: str, df: pl.DataFrame, schema: str | None = None, schema_version: str | None = None,
                      *, provenance: bool = True) -> Path:
        """Stage a Parquet file with the contract's key-value metadata.

        ``provenance=False`` stamps only the schema and trialkit's version, for a file that many commands share
        (the ARD): its bytes must not depend on which command wrote it last.
        """
        import pyarrow.parquet as pq

        meta = self.metadata(schema, schema_version)
        if not provenance:
            meta = {k: v for k, v in meta.items() if k.endswith(("schema", "schema_version", ".version"))}

        def write(tmp: Path) -> None:
            if df.height <= ROW_GROUP_ROWS:
                table = df.to_arrow()
                pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **meta}), tmp,
                               compression="zstd")
                return
            # one row group at a time: Arrow copies polars' strings, so converting ten million records at once
            # held a second copy of them (2 GB); slices of pyarrow's row-group size write the same file
            arrow = df.head(0).to_arrow().schema
            with pq.ParquetWriter(tmp, arrow.with_metadata({**(arrow.metadata or {}), **meta}),
                                  compression="zstd") as out:
                for part in df.iter_slices(ROW_GROUP_ROWS):
                    out.write_table(part.to_arrow())

        return self._stage(relpath, write, {"rows": df.height, "schema": schema})

    def write_output(self, stage: str, table: str, df: pl.DataFrame, folder: str | None = None) -> Path:
        """Stage ``<folder>/<table>.parquet`` (default folder: the stage's) under its declaration in ``schemas/outputs.py``.

        A frame that does not match its declaration is a trialkit bug, not the
        user's: it fails here rather than in the report that reads it.
        """
        from trialkit.schemas.outputs import output_table

        spec = output_table(stage, table)
        if spec is None:
            raise RuntimeError(f"{stage}/{table}.parquet is not declared in schemas/outputs.py")
        problems = spec.problems({c: str(t) for c, t in df.schema.items()})
        if problems:
            raise RuntimeError(f"{spec.file} does not match its declaration {spec.name}: {'; '.join(problems)}")
        return self.write_parquet(f"{folder}/{table}.parquet" if folder else spec.file, df, spec.name, spec.version)

    def write_text(self, relpath: str, text: str) -> Path:
        return self._stage(relpath, lambda tmp: tmp.write_text(text, encoding="utf-8"), {"rows": None, "schema": None})

    def write_json(self, relpath: str, obj: Any) -> Path:
        return self.write_text(relpath, dumps(obj))

    def write_bytes(self, relpath: str, data: bytes) -> Path:
        return self._stage(relpath, lambda tmp: tmp.write_bytes(data), {"rows": None, "schema": None})

    def write_ard(self, rows: pl.DataFrame, analysis: str | None = None) -> Path:
        """Put an analysis' ARD rows (default: this stage's analysis) into the workspace's ard.parquet, replacing
        that analysis' earlier rows only."""
        from trialkit.analyses.ard import replace_analysis
        from trialkit.schemas.ard import ARD, ARD_FILE

        analysis = analysis or (self.analysis or {}).get("name")
        if analysis is None:
            raise RuntimeError("write_ard needs set_analysis first, or an analysis name")
        existing = read_ard(self.workspace)
        merged = replace_analysis(existing, rows, analysis)
        return self.write_parquet(ARD_FILE, merged, schema=ARD.name, schema_version=ARD.version, provenance=False)

    def remove(self, relpath: str) -> None:
        """Remove a file when the stage commits (stale outputs of an earlier run)."""
        path = self.path(relpath)
        if path.exists():
            self._removals.append(path)

    def clear_folder(self, folder: str) -> None:
        """Every file under ``folder`` goes when the stage commits, unless this stage rewrites or keeps it."""
        root = self.path(folder)
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    self.remove(path.relative_to(self.workspace).as_posix())

    def keep(self, relpath: str) -> None:
        """Keep an existing output although ``clear_folder`` listed it (e.g. figures under --no-plot)."""
        self._kept.add(self.path(relpath))

    def set_analysis(self, target, options: dict[str, Any], selection: dict[str, Any] | None = None) -> None:
        """Name the analysis this stage writes (``cli.analysis.AnalysisTarget``) and its effective options."""
        self.options = {k: v for k, v in sorted(options.items()) if k not in _NOT_RECORDED}
        self.analysis = {"name": target.name, "stage": target.stage, "folder": target.folder, "primary": target.primary,
                         "population": (selection or {}).get("population"),
                         "subgroup": (selection or {}).get("subgroup"),
                         "selection": (selection or {}).get("description")}

    def same_as_recorded(self) -> bool:
        """True when this stage's analysis last ran with these options on these inputs (so its figures still hold)."""
        if self.analysis is None:
            return False
        entry = read_manifest(self.workspace).get("analyses", {}).get(self.analysis["name"])
        return bool(entry) and entry.get("options") == self.options and entry.get("inputs") == dict(sorted(self.inputs.items()))

    # ----------------------------------------------------------- transaction
    def __enter__(self) -> Stage:
        self._lock = hold(self.workspace, create=self.creates_workspace)
        self._lock.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is not None:
                self._rollback()
                return
            try:
                self._commit()
            except BaseException:
                self._rollback()
                raise
        finally:
            self._lock.__exit__(None, None, None)

    def _rollback(self) -> None:
        self._txn.abort()
        self._pending.clear()

    def _commit(self) -> None:
        manifest = read_manifest(self.workspace) if self.workspace.exists() else {"files": {}}
        files = manifest.setdefault("files", {})
        finals = {final for _tmp, final, _e in self._pending}
        removals = [p for p in self._removals if p not in finals and p not in self._kept]
        for path in removals:
            files.pop(path.relative_to(self.workspace).as_posix(), None)
        latest = {final: (tmp, entry) for tmp, final, entry in self._pending}  # a file written twice: the last
        for final, (_tmp, entry) in latest.items():
            files[final.relative_to(self.workspace).as_posix()] = entry
        manifest["trialkit_version"] = trialkit_version()
        if self.forget_analyses:
            manifest.pop("analyses", None)
        if self.analysis is not None:
            entry = dict(self.analysis, options=self.options, inputs=dict(sorted(self.inputs.items())),
                         command=self.command_line())
            manifest.setdefault("analyses", {})[entry.pop("name")] = entry
            manifest["analyses"] = dict(sorted(manifest["analyses"].items()))
        if not (self._pending or removals or self.analysis is not None):
            return
        staged_manifest = self._write_tmp(self.path(MANIFEST), lambda tmp: tmp.write_text(dumps(manifest), encoding="utf-8"))
        moves = [(tmp, final) for final, (tmp, entry) in latest.items() if not _unchanged(final, entry)]
        self._txn.commit(moves, removals, staged_manifest, self.command_line())
        self._pending.clear()

"""
Spark
-----

For fleets that outgrow one database server: the fleet exported to Parquet,
and the count tables of :mod:`kexec_lineage.fleet.count_table` computed from it by
a PySpark job (the count and title rows, the fact sets and each transition's
host spread), so that :func:`kexec_lineage.fleet.analysis.analyze` runs
unchanged on either. The job follows the SQL rule for rule; a test keeps the
two equal on a real SQLite store, and the analysis of either equal to the
store's own, weighed in SQL.

:func:`export_parquet` writes ``hosts.parquet``, ``boots.parquet``,
``fact_sets.parquet`` and ``crashes.parquet`` into one directory, streamed in batches, with explicit
Arrow types derived from :mod:`kexec_lineage.fleet.schema`. Left out:
``boots.evidence``, ``boots.disagreements`` and ``crashes.report`` (the
largest columns, free text and JSON that no count reads; the database keeps
them) and the ``tokens`` table (credentials). Needs the ``spark`` extra.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from contextlib import closing, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from kexec_lineage.errors import InputError
from kexec_lineage.fleet.count_table import (
    DEPTH_BUCKETS,
    EARLY_SECONDS,
    NO_DAY,
    CountRow,
    HostSpread,
    TitleRow,
)
from kexec_lineage.fleet.schema import boots, crashes, fact_sets, hosts
from kexec_lineage.model.transition import COLD, UNKNOWN

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from kexec_lineage.fleet.store import Store

__all__ = (
    "BATCH_ROWS",
    "EXPORTED",
    "LEFT_OUT",
    "arrow_schema",
    "export_parquet",
    "local_session",
    "spark_count_rows",
    "spark_fact_sets",
    "spark_host_spread",
    "spark_title_rows",
)

#: The tables :func:`export_parquet` writes, in the order it reads them.
EXPORTED: tuple[sa.Table, ...] = (crashes, boots, fact_sets, hosts)
#: Columns not exported: large free text and JSON that no count reads.
LEFT_OUT = frozenset({"boots.evidence", "boots.disagreements", "crashes.report"})

#: Rows per Arrow batch and Parquet row group: bounds the memory an export
#: needs, whatever the fleet's size.
BATCH_ROWS = 65_536

_ARROW_TYPES: dict[type[sa.types.TypeEngine[Any]], pa.DataType] = {
    sa.BigInteger: pa.int64(),
    sa.Integer: pa.int64(),
    sa.Float: pa.float64(),
    sa.Boolean: pa.bool_(),
    sa.Text: pa.string(),
    sa.String: pa.string(),
}


def _arrow_type(column: sa.Column[Any]) -> pa.DataType:
    for sql_type, arrow_type in _ARROW_TYPES.items():  # subclasses before their bases
        if isinstance(column.type, sql_type):
            return arrow_type
    raise TypeError(f"no Arrow type for {column.table.name}.{column.name}: {column.type!r}")


def _exported_columns(table: sa.Table) -> list[sa.Column[Any]]:
    return [c for c in table.columns if f"{table.name}.{c.name}" not in LEFT_OUT]


def arrow_schema(table: sa.Table) -> pa.Schema:
    """The Arrow schema ``table`` is exported with: every column but those left out,
    NOT NULL kept, so that Spark reads the same types from every export."""
    return pa.schema(
        [
            pa.field(c.name, _arrow_type(c), nullable=c.nullable is not False)
            for c in _exported_columns(table)
        ]
    )


def _batches(
    store: Store, table: sa.Table, schema: pa.Schema, batch_rows: int
) -> Generator[pa.RecordBatch, None, None]:
    columns = _exported_columns(table)
    query = sa.select(*columns).order_by(table.c.id)
    with store.transaction(f"exporting {table.name}") as connection:
        result = connection.execution_options(yield_per=batch_rows).execute(query)
        for rows in result.partitions():
            values = list(zip(*rows, strict=True))
            yield pa.RecordBatch.from_arrays(
                [pa.array(v, type=f.type) for v, f in zip(values, schema, strict=True)],
                schema=schema,
            )


def export_parquet(
    store: Store, directory: str | os.PathLike[str], *, batch_rows: int = BATCH_ROWS
) -> dict[str, int]:
    """Write the fleet in ``store`` to ``directory`` as ``<table>.parquet`` files;
    return the rows written per table.

    Tables are streamed ``batch_rows`` rows at a time (one Parquet row group
    each), never whole. Each file is written beside its final name and renamed
    into place only when all are complete, so a failed export leaves an
    earlier one intact. Crashes are read first and hosts last: rows are never
    deleted, so with ingest going on, the boot and host of an exported crash,
    and the fact set and host of an exported boot, are exported too.

    :raises InputError: ``directory`` cannot be created or written.
    :raises StoreError: the database cannot be read.
    """
    target = Path(directory)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {target}: {exc.strerror or exc}") from None
    written: dict[str, int] = {}
    partial: dict[Path, Path] = {}
    try:
        for table in EXPORTED:
            final = target / f"{table.name}.parquet"
            temporary = target / f".{table.name}.parquet.partial"
            partial[temporary] = final
            schema = arrow_schema(table)
            rows = 0
            with (
                pq.ParquetWriter(temporary, schema, compression="zstd") as writer,
                closing(_batches(store, table, schema, batch_rows)) as batches,
            ):
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
            written[table.name] = rows
        for temporary, final in partial.items():
            temporary.replace(final)
    except OSError as exc:
        raise InputError(f"cannot write {exc.filename or target}: {exc.strerror or exc}") from None
    finally:
        for temporary in partial:
            with suppress(FileNotFoundError):
                temporary.unlink()
    return {table.name: written[table.name] for table in reversed(EXPORTED)}


# Spark's own log4j2 defaults print INFO and WARN lines at start-up; this
# keeps errors only, on stderr. The Py4J gateway's logger set to the root's
# level stops Spark announcing, as for a shell, that it changed the level.
_LOG4J2 = """\
rootLogger.level = error
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
"""


def _log_config() -> Path:
    """The log4j2 file of :data:`_LOG4J2`, written once per user and temp dir."""
    import tempfile

    path = Path(tempfile.gettempdir()) / f"kexec-lineage-log4j2-{os.getuid()}.properties"
    with suppress(OSError):
        if path.read_text() == _LOG4J2:
            return path
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as file:
        file.write(_LOG4J2)
    os.replace(partial, path)  # atomic: a session starting meanwhile reads one whole file
    return path


def local_session(app_name: str = "kexec-lineage", cores: int = 2) -> SparkSession:
    """A Spark session in local mode for tests and small fleets, tuned for short jobs
    (a real fleet's job gets its cluster's session instead).

    Few shuffle partitions (the count tables are small), no web UI, driver and
    block manager on loopback (``SPARK_LOCAL_IP`` is set for the JVM unless
    already set: Spark otherwise picks the first non-loopback interface),
    errors only in the log, and no ``spark-warehouse`` in the working directory.
    Needs ``java`` (17 or later) on ``PATH`` or in ``JAVA_HOME``.
    """
    import tempfile

    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    warehouse = Path(tempfile.gettempdir()) / f"kexec-lineage-warehouse-{os.getuid()}"
    # C1 only: the JVM starts and runs short jobs sooner (~2 s of ~9 s here).
    java_options = f"-XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile={_log_config().as_uri()}"
    session = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.sql.shuffle.partitions", str(cores))
        .config("spark.default.parallelism", str(cores))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def _read(session: SparkSession, directory: str | os.PathLike[str], table: sa.Table) -> DataFrame:
    path = Path(directory) / f"{table.name}.parquet"
    if not path.is_file():
        raise InputError(
            f"{path} is missing: run `kexec-lineage export --db URL --parquet {directory}`"
        )
    return session.read.parquet(str(path))


# The rules below are those of kexec_lineage.fleet.count_sql, in the same words.


def _predecessor() -> Column:
    from pyspark.sql import functions as F

    return F.when(F.col("how") == COLD, F.lit(COLD)).otherwise(
        F.coalesce(F.col("previous_release"), F.lit(UNKNOWN))
    )


def _depth() -> Column:
    from pyspark.sql import functions as F

    buckets = sorted(DEPTH_BUCKETS, reverse=True)
    depth = F.when(F.col("kexec_count") >= buckets[0], F.lit(buckets[0]))
    for bucket in buckets[1:-1]:
        depth = depth.when(F.col("kexec_count") >= bucket, F.lit(bucket))
    return depth.otherwise(F.lit(buckets[-1]))


def spark_count_rows(
    session: SparkSession,
    directory: str | os.PathLike[str],
    early_seconds: float = EARLY_SECONDS,
) -> list[CountRow]:
    """The count table of :func:`kexec_lineage.fleet.count_queries.count_rows`, from an
    export in ``directory``, aggregated by Spark.

    :raises InputError: a table of the export is missing.
    """
    from pyspark.sql import functions as F

    per_boot = (
        _read(session, directory, crashes)
        .groupBy("host_id", "boot_id")
        .agg(F.count(F.lit(1)).alias("n"), F.min("uptime").alias("first"))
    )
    digests = _read(session, directory, fact_sets).select(
        F.col("id").alias("fact_set_id"), F.col("digest")
    )
    counted = (
        _read(session, directory, boots)
        .join(digests, "fact_set_id", "left")
        .join(per_boot, ["host_id", "boot_id"], "left")
        .groupBy(
            F.col("release"),
            _predecessor().alias("predecessor"),
            F.col("how"),
            _depth().alias("depth"),
            F.coalesce(F.col("digest"), F.lit("")).alias("facts"),
            F.coalesce(F.floor(F.col("started_at") / 86400), F.lit(NO_DAY)).alias("day"),
        )
        .agg(
            F.count(F.lit(1)).alias("boots"),
            # Whole seconds summed as integers, as in fleet.count_sql: float sums
            # depend on the order of addition, which Spark does not fix.
            F.coalesce(F.sum(F.floor(F.col("hours") * 3600).cast("long")), F.lit(0)).alias(
                "seconds"
            ),
            F.coalesce(F.sum(F.when(F.col("n") > 0, 1).otherwise(0)), F.lit(0)).alias(
                "crashed_boots"
            ),
            F.coalesce(F.sum("n"), F.lit(0)).alias("crashes"),
            F.sum(F.when(F.col("first") <= early_seconds, 1).otherwise(0)).alias("early"),
        )
    )
    return sorted(
        CountRow(
            str(r["release"]),
            str(r["predecessor"]),
            str(r["how"]),
            int(r["depth"]),
            str(r["facts"]),
            int(r["day"]),
            int(r["boots"]),
            int(r["seconds"]) / 3600,
            int(r["crashed_boots"]),
            int(r["crashes"]),
            int(r["early"]),
        )
        for r in counted.collect()
    )


def spark_host_spread(
    session: SparkSession, directory: str | os.PathLike[str]
) -> dict[tuple[str, str], HostSpread]:
    """:func:`kexec_lineage.fleet.count_queries.host_spread`, from an export in
    ``directory``: per transition, its hosts, and those of them with a crashed boot.

    :raises InputError: a table of the export is missing.
    """
    from pyspark.sql import functions as F

    crashed = (
        _read(session, directory, crashes)
        .select("host_id", "boot_id")
        .distinct()
        .withColumn("crashed", F.lit(1))
    )
    counted = (
        _read(session, directory, boots)
        .join(crashed, ["host_id", "boot_id"], "left")
        .groupBy(F.col("release"), _predecessor().alias("predecessor"), F.col("host_id"))
        .agg(F.max(F.coalesce(F.col("crashed"), F.lit(0))).alias("crashed"))
        .groupBy("release", "predecessor")
        .agg(F.count(F.lit(1)).alias("hosts"), F.sum("crashed").alias("crashed_hosts"))
    )
    return {
        (str(r["release"]), str(r["predecessor"])): HostSpread(
            int(r["hosts"]), int(r["crashed_hosts"])
        )
        for r in counted.collect()
    }


def spark_fact_sets(
    session: SparkSession, directory: str | os.PathLike[str]
) -> dict[str, dict[str, str]]:
    """:func:`kexec_lineage.fleet.count_queries.fact_set_table`, from an export.

    :raises InputError: a table of the export is missing.
    """
    rows = _read(session, directory, fact_sets).select("digest", "facts").collect()
    return {str(r["digest"]): json.loads(r["facts"]) for r in rows}


def spark_title_rows(session: SparkSession, directory: str | os.PathLike[str]) -> list[TitleRow]:
    """The title table of :func:`kexec_lineage.fleet.count_queries.title_rows`, from an
    export in ``directory``, aggregated by Spark.

    :raises InputError: a table of the export is missing.
    """
    from pyspark.sql import functions as F

    boot = _read(session, directory, boots).select(
        F.col("id").alias("boot_pk"),
        "host_id",
        "boot_id",
        "release",
        "how",
        "previous_release",
    )
    counted = (
        _read(session, directory, crashes)
        .select("host_id", "boot_id", "title")
        .join(boot, ["host_id", "boot_id"])
        .groupBy(
            F.col("title"), F.col("release"), _predecessor().alias("predecessor"), F.col("how")
        )
        .agg(F.countDistinct("boot_pk").alias("crashed_boots"))
    )
    return sorted(
        TitleRow(
            str(r["title"]),
            str(r["release"]),
            str(r["predecessor"]),
            str(r["how"]),
            int(r["crashed_boots"]),
        )
        for r in counted.collect()
    )

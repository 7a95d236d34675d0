"""What changed between two runs, computed by DuckDB where the runs are stored.

Two tidy frames, both with ``integration, target, key, change, before, after``:

- ``results``: per (integration, target), a changed status (``key="status"``; change
  ``changed``, or ``new``/``gone`` for a call only one run made), and a changed value in any
  section that has exactly one row per result in both runs, such as http_headers'
  ``observatory`` (``key="observatory.grade"``, change ``changed``): grades and scores.
- ``findings``: findings matched by their key (integration, target, ``check``; the n-th
  repeat of a check on one target is ``check#n``), compared only where the call was ``ok`` in
  both runs. ``new``: failing now, absent or passing before. ``resolved``: failing before,
  passing or absent now. ``changed``: in both, same pass/fail, but another ``result_id``,
  ``severity`` or ``observed`` value. ``before``/``after`` are the observed values, plus
  ``severity`` and ``result_before``/``result_after``.

The join runs in DuckDB over the stored tables, so neither run is loaded into pandas.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd

from ._db import _quote

if TYPE_CHECKING:
    import duckdb

__all__ = ["DIFF_COLUMNS", "FINDINGS_DIFF_COLUMNS", "diff_findings", "diff_results"]

DIFF_COLUMNS = ("integration", "target", "key", "change", "before", "after")
FINDINGS_DIFF_COLUMNS = (*DIFF_COLUMNS, "severity", "result_before", "result_after")
_FINDINGS = "findings"


def _physicals(con: duckdb.DuckDBPyConnection, run_id: str, frame: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT name, physical FROM frame_columns WHERE run_id = ? AND frame = ? AND ordinal >= 0 "
        "ORDER BY ordinal",
        [run_id, frame],
    ).fetchall()
    return dict(rows)


def _table(con: duckdb.DuckDBPyConnection, section: str) -> str | None:
    row = con.execute("SELECT table_name FROM section_tables WHERE section = ?", [section]).fetchall()
    return str(row[0][0]) if row else None


def _typed(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    text = pd.StringDtype()
    out = frame.astype({c: text for c in columns if c in frame.columns})
    return out.reset_index(drop=True)


_OK_PAIRS = """ok_pairs AS (
    SELECT integration, coalesce(target, '') AS t FROM results WHERE run_id = $a AND status = 'ok'
    INTERSECT
    SELECT integration, coalesce(target, '') AS t FROM results WHERE run_id = $b AND status = 'ok'
)"""


def diff_results(con: duckdb.DuckDBPyConnection, run_a: str, run_b: str) -> pd.DataFrame:
    """Status changes and changed values of one-row-per-result sections (see the module)."""
    parts = [
        """SELECT coalesce(ra.integration, rb.integration) AS integration,
                  nullif(coalesce(ra.t, rb.t), '') AS target, 'status' AS key,
                  CASE WHEN ra.status IS NULL THEN 'new' WHEN rb.status IS NULL THEN 'gone'
                       ELSE 'changed' END AS change,
                  ra.status AS before, rb.status AS after
           FROM (SELECT integration, coalesce(target, '') AS t, status FROM results WHERE run_id = $a) ra
           FULL OUTER JOIN
                (SELECT integration, coalesce(target, '') AS t, status FROM results WHERE run_id = $b) rb
           ON ra.integration = rb.integration AND ra.t = rb.t
           WHERE ra.status IS DISTINCT FROM rb.status"""
    ]
    sections = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT frame FROM frame_columns WHERE run_id = $a AND frame <> 'summary' "
            "INTERSECT SELECT DISTINCT frame FROM frame_columns WHERE run_id = $b",
            {"a": run_a, "b": run_b},
        ).fetchall()
        if r[0] != _FINDINGS
    ]
    ctes = [_OK_PAIRS]
    for n, section in enumerate(sorted(sections)):
        table = _table(con, section)
        cols_a, cols_b = _physicals(con, run_a, section), _physicals(con, run_b, section)
        if table is None or "integration" not in cols_a or "integration" not in cols_b:
            continue
        common = [c for c in cols_a if c in cols_b and c not in ("integration", "target")]
        if not common:
            continue
        for side, cols, run in (("a", cols_a, "$a"), ("b", cols_b, "$b")):
            target = f"coalesce(CAST({_quote(cols['target'])} AS VARCHAR), '')" if "target" in cols else "''"
            values = ", ".join(f"CAST({_quote(cols[c])} AS VARCHAR) AS v{i}" for i, c in enumerate(common))
            ctes.append(
                f"""s{n}{side} AS (
                    SELECT {_quote(cols["integration"])} AS integration, {target} AS t, {values}
                    FROM {_quote(table)} WHERE run_id = {run}
                    QUALIFY count(*) OVER (PARTITION BY {_quote(cols["integration"])}, {target}) = 1)"""
            )
        for i, c in enumerate(common):
            key = f"{section}.{c}".replace("'", "''")
            parts.append(
                f"""SELECT s{n}a.integration, nullif(s{n}a.t, '') AS target, '{key}' AS key,
                           'changed' AS change, s{n}a.v{i} AS before, s{n}b.v{i} AS after
                    FROM s{n}a JOIN s{n}b ON s{n}a.integration = s{n}b.integration AND s{n}a.t = s{n}b.t
                    SEMI JOIN ok_pairs ON ok_pairs.integration = s{n}a.integration AND ok_pairs.t = s{n}a.t
                    WHERE s{n}a.v{i} IS DISTINCT FROM s{n}b.v{i}"""
            )
    sql = (
        "WITH " + ",\n".join(ctes) + "\nSELECT * FROM (" + "\nUNION ALL\n".join(parts) + ")"
        " ORDER BY integration, target NULLS FIRST, key = 'status' DESC, key"
    )
    frame = con.execute(sql, {"a": run_a, "b": run_b}).df()
    return _typed(frame, DIFF_COLUMNS)


def _findings_side(table: str, cols: dict[str, str], run: str, numbered: bool) -> str:
    def col(name: str, sql_type: str = "VARCHAR") -> str:
        return f"CAST({_quote(cols[name])} AS {sql_type})" if name in cols else f"CAST(NULL AS {sql_type})"

    target = f"coalesce({col('target')}, '')"
    check = f"coalesce({col('check')}, {col('result_id')}, '')"
    # the n-th repeat of a check on one target: a window (a sort) only when a run has repeats
    n = (
        f"row_number() OVER (PARTITION BY {col('integration')}, {target}, {check} ORDER BY rowid)"
        if numbered
        else "1"
    )
    return f"""SELECT integration, t, chk || CASE WHEN n > 1 THEN '#' || n ELSE '' END AS key,
                      NOT coalesce(passed, false) AS failing, result_id, severity, observed
               FROM (SELECT {col("integration")} AS integration, {target} AS t, {check} AS chk,
                            {col("passed", "BOOLEAN")} AS passed, {col("result_id")} AS result_id,
                            {col("severity")} AS severity, {col("observed")} AS observed, {n} AS n
                     FROM {_quote(table)} WHERE run_id = {run})"""


def _has_repeats(con: duckdb.DuckDBPyConnection, table: str, cols: dict[str, str], run_id: str) -> bool:
    """True when a check appears twice for one (integration, target) in the run.

    Recorded with the run (a frame_columns row of ordinal -1); asked of the table otherwise.
    """
    noted = con.execute(
        "SELECT spec FROM frame_columns WHERE run_id = ? AND frame = ? AND ordinal = -1", [run_id, _FINDINGS]
    ).fetchall()
    if noted:
        return bool(json.loads(noted[0][0]).get("repeats", True))
    keys = ", ".join(_quote(cols[c]) for c in ("integration", "target", "check", "result_id") if c in cols)
    if "check" in cols:
        keys = ", ".join(_quote(cols[c]) for c in ("integration", "target", "check") if c in cols)
    rows = con.execute(
        f"SELECT 1 FROM {_quote(table)} WHERE run_id = ? GROUP BY {keys} HAVING count(*) > 1 LIMIT 1",
        [run_id],
    ).fetchall()
    return bool(rows)


def diff_findings(con: duckdb.DuckDBPyConnection, run_a: str, run_b: str) -> pd.DataFrame:
    """New, resolved and changed findings between two runs (see the module)."""
    table = _table(con, _FINDINGS)
    cols_a, cols_b = _physicals(con, run_a, _FINDINGS), _physicals(con, run_b, _FINDINGS)
    if table is None or not (cols_a or cols_b):
        return pd.DataFrame({c: pd.array([], dtype=pd.StringDtype()) for c in FINDINGS_DIFF_COLUMNS})
    empty = (
        "SELECT CAST(NULL AS VARCHAR) AS integration, '' AS t, '' AS key, false AS failing, "
        "CAST(NULL AS VARCHAR) AS result_id, CAST(NULL AS VARCHAR) AS severity, "
        "CAST(NULL AS VARCHAR) AS observed WHERE false"
    )
    numbered = any(
        "integration" in cols and _has_repeats(con, table, cols, run)
        for cols, run in ((cols_a, run_a), (cols_b, run_b))
    )
    side_a = _findings_side(table, cols_a, "$a", numbered) if "integration" in cols_a else empty
    side_b = _findings_side(table, cols_b, "$b", numbered) if "integration" in cols_b else empty
    sql = f"""
        WITH {_OK_PAIRS},
        fa AS ({side_a}), fb AS ({side_b}),
        joined AS (
            SELECT coalesce(fa.integration, fb.integration) AS integration, coalesce(fa.t, fb.t) AS t,
                   coalesce(fa.key, fb.key) AS key,
                   coalesce(fa.failing, false) AS fail_a, coalesce(fb.failing, false) AS fail_b,
                   fa.key IS NOT NULL AS in_a, fb.key IS NOT NULL AS in_b,
                   fa.result_id AS result_before, fb.result_id AS result_after,
                   fa.severity AS sev_a, fb.severity AS sev_b, fa.observed AS before, fb.observed AS after
            FROM fa FULL OUTER JOIN fb ON fa.integration = fb.integration AND fa.t = fb.t AND fa.key = fb.key
        )
        SELECT integration, nullif(t, '') AS target, key,
               CASE WHEN fail_b AND NOT fail_a THEN 'new'
                    WHEN fail_a AND NOT fail_b THEN 'resolved'
                    ELSE 'changed' END AS change,
               before, after,
               CASE WHEN fail_a AND NOT fail_b THEN coalesce(sev_a, sev_b) ELSE coalesce(sev_b, sev_a) END
                   AS severity,
               result_before, result_after
        FROM joined SEMI JOIN ok_pairs ON ok_pairs.integration = joined.integration AND ok_pairs.t = joined.t
        WHERE fail_a <> fail_b
           OR (in_a AND in_b AND (result_before IS DISTINCT FROM result_after
                                  OR sev_a IS DISTINCT FROM sev_b OR before IS DISTINCT FROM after))
        ORDER BY integration, target NULLS FIRST,
                 CASE change WHEN 'new' THEN 0 WHEN 'resolved' THEN 1 ELSE 2 END, key
    """
    frame = con.execute(sql, {"a": run_a, "b": run_b}).df()
    return _typed(frame, FINDINGS_DIFF_COLUMNS)

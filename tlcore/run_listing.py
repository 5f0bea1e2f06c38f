"""The SQL behind ``Store.list`` and ``Store.count``: pages cost what they show, not what
is stored (``bench/bench_history.py``: 100,000 runs).

A workspace's runs are two indexed sets: those it lists (``workspace_runs``, newest
first by the ``(ws, added)`` index) and the common ones (``runs.ws = ''``, by the
``(ws, created)`` index), minus common runs it also lists. A page of runs reads the
newest ``offset + limit`` of each set, each an index walk that stops early, and merges
them; a plain count adds two index counts. Only a count with a status or a search has to
visit each of the workspace's runs (one primary-key lookup apiece).
"""

from __future__ import annotations

Filter = tuple[str, list]


def conditions(status: str | tuple | None, search: str | None) -> Filter:
    """`` AND ...`` on table ``r`` for a status (or several) and a search: every word must
    appear in the run's id or its config (backbone, dataset, strategy, numbers), with
    LIKE's wildcards matched as text."""
    sql, params = "", []
    if status:
        statuses = (status,) if isinstance(status, str) else tuple(status)
        sql += f" AND r.status IN ({','.join('?' * len(statuses))})"
        params += statuses
    for word in (search or "").split():
        esc = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        sql += " AND (r.id LIKE ? ESCAPE '\\' OR r.config LIKE ? ESCAPE '\\')"
        params += [f"%{esc}%", f"%{esc}%"]
    return sql, params


def page_queries(cols: str, ws: str | None, cond: Filter, n: int | None, newest: bool) -> list[Filter]:
    """The queries whose rows (``cols`` then a sort time) make up the first ``n`` runs in
    order (``n`` None: all). One for the whole store; two for a workspace."""
    order = "DESC" if newest else "ASC"
    lim = "" if n is None else f" LIMIT {int(n)}"
    sql, params = cond
    if ws is None:
        return [(f"SELECT {cols}, r.created FROM runs r WHERE 1{sql} ORDER BY r.created {order}{lim}", params)]
    # CROSS JOIN keeps workspace_runs the outer loop, walked in its index's order
    listed = (f"SELECT {cols}, w.added FROM workspace_runs w CROSS JOIN runs r ON r.id=w.run_id "
              f"WHERE w.ws=?{sql} ORDER BY w.added {order}{lim}", [ws, *params])
    common = (f"SELECT {cols}, r.created FROM runs r WHERE r.ws=''{sql} AND NOT EXISTS "
              f"(SELECT 1 FROM workspace_runs x WHERE x.run_id=r.id AND x.ws=?) ORDER BY r.created {order}{lim}",
              [*params, ws])
    return [listed, common]


def count_query(ws: str | None, cond: Filter) -> Filter:
    sql, params = cond
    if ws is None:
        return f"SELECT COUNT(*) FROM runs r WHERE 1{sql}", params
    if not sql:  # two index counts
        return ("SELECT (SELECT COUNT(*) FROM workspace_runs WHERE ws=?) + (SELECT COUNT(*) FROM runs r "
                "WHERE r.ws='' AND NOT EXISTS (SELECT 1 FROM workspace_runs x WHERE x.run_id=r.id AND x.ws=?))",
                [ws, ws])
    return (f"SELECT COUNT(*) FROM runs r WHERE (r.ws='' OR EXISTS (SELECT 1 FROM workspace_runs x "
            f"WHERE x.run_id=r.id AND x.ws=?)){sql}", [ws, *params])


def scope_sql(ws: str | None) -> Filter:
    """A ``WHERE`` test on ``r`` for "in this workspace" (aggregates: sums, per-status counts)."""
    if ws is None:
        return "1", []
    return "(r.ws='' OR EXISTS (SELECT 1 FROM workspace_runs x WHERE x.run_id=r.id AND x.ws=?))", [ws]

"""List pages rendered as JSON text by PostgreSQL, for the API's list calls.

A page of 50 rows through the ORM and marshmallow costs a service several milliseconds of
Python (50 instances, ~1 300 field conversions), then the gateway decodes and encodes the
same dicts again. Here the list's own filtered query selects, per row, its id and
`json_build_object(...)::text` with the fields of the list's marshmallow schema, in its
order and format (an instant is written as `to_utc(value).isoformat()` writes it); the page
travels as one JSON text, `{"items_json": "[...]", "next_cursor": id or None}`, which the
gateway puts in its answer unparsed. On SQLite the same text is made by the schema.
"""
import json

from sqlalchemy import literal_column, select, table
from marshmallow import fields

from common.schemas import Instant, list_dumper
from common.database import keyset_page


def instant_sql(column):
    """`to_utc(value).isoformat()` in SQL: microseconds only when there are some."""
    utc = f"timezone('UTC', {column})"
    return (f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN mod(date_part('microseconds', {column})"
            f"::bigint, 1000000) <> 0 THEN to_char({utc}, '.US') ELSE '' END || '+00:00'")


def quoted(value):
    return "'" + value.replace("'", "''") + "'"


def _field_sql(field, column):
    if isinstance(field, Instant):
        return instant_sql(column)
    if isinstance(field, (fields.String, fields.Integer, fields.Boolean, fields.Date)) and not isinstance(
            field, fields.DateTime):
        return column
    raise TypeError(f"{type(field).__name__} needs an SQL expression")


_row_json = {}


def row_json_sql(schema_class, overrides=None, alias="t"):
    """`json_build_object(...)::text` (SQL text) of the schema's fields, read from the columns
    of the row aliased `t` (a field's column is its attribute or its name); `overrides`
    {key: SQL text} for the fields that are not plain columns. Built once per schema: a
    constant text is also the cheapest statement for SQLAlchemy to cache."""
    if (schema_class, alias) not in _row_json:
        pairs = []
        for name, field in schema_class().dump_fields.items():
            key = field.data_key or name
            if overrides and key in overrides:
                expression = overrides[key]
            else:
                expression = _field_sql(field, f"{alias}.{field.attribute or name}")
            pairs.append(f"{quoted(key)}, {expression}")
        _row_json[schema_class, alias] = "json_build_object(" + ", ".join(pairs) + ")::text"
    return _row_json[schema_class, alias]


_froms = {}


def _from_clause(from_sql):
    """`"table t"` or `("table t", "other s", "ON condition")` as a FROM clause, made once."""
    if from_sql not in _froms:
        first, *joined = (from_sql,) if isinstance(from_sql, str) else from_sql
        clause = table(first.split()[0]).alias(first.split()[1])
        if joined:
            other, condition = joined
            clause = clause.join(table(other.split()[0]).alias(other.split()[1]), literal_column(condition))
        _froms[from_sql] = clause
    return _froms[from_sql]


def json_page(session, query, id_column, filters, schema_class, from_sql, overrides=None):
    """The keyset page of `query` (as common.database.keyset_page pages it) as JSON text:
    the page's ids from `query`, then each row's JSON from `from_sql`: `"table t"`, or
    `("table t", "other s", "join condition")`."""
    if session.get_bind().dialect.name != "postgresql":
        page = keyset_page(session, query, id_column, filters)
        return {"items_json": json.dumps(list_dumper(schema_class)(page.items)), "next_cursor": page.next_cursor}
    limit = filters["limit"]
    ids = query.with_only_columns(id_column)
    if filters.get("cursor"):
        ids = ids.where(id_column < filters["cursor"])
    ids = ids.order_by(id_column.desc()).limit(limit + 1).subquery("page")
    # one statement, read-only: in autocommit when it opens the session's work, psycopg2 sends
    # no BEGIN before it and no ROLLBACK after it (two round trips fewer per page)
    execute = session.execute if session.in_transaction() else session.connection(
        execution_options={"isolation_level": "AUTOCOMMIT"}).execute
    rows = execute(
        select(literal_column("t.id"), literal_column(row_json_sql(schema_class, overrides)))
        .select_from(_from_clause(from_sql)).where(literal_column("t.id").in_(select(ids.c[0])))
        .order_by(literal_column("t.id").desc())).all()
    return {"items_json": "[" + ",".join(row[1] for row in rows[:limit]) + "]",
            "next_cursor": rows[limit - 1][0] if len(rows) > limit else None}


def page_body(page):
    """The API's answer `{"items": [...], "next_cursor": ...}` around a json_page, unparsed."""
    return '{"items": ' + page["items_json"] + ', "next_cursor": ' + json.dumps(page["next_cursor"]) + "}"

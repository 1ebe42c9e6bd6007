"""List pages rendered as JSON text by PostgreSQL, for the API's list calls.

A page of 50 rows through the ORM and marshmallow costs a service several milliseconds of
Python (50 instances, ~1 300 field conversions), then the gateway decodes and encodes the
same dicts again. Here the list's own filtered query selects, per row, its id and
`json_build_object(...)::text` with the fields of the list's marshmallow schema, in its
order and format (an instant is written as `to_utc(value).isoformat()` writes it); the page
travels as one JSON text, `{"items_json": "[...]", "next_cursor": id or None}`, which the
gateway puts in its answer unparsed (gateway.api.json_object); compressing the answer is the
gateway's business (Flask-Compress).
"""
import json

from sqlalchemy import Integer, bindparam, literal_column, select, table
from marshmallow import fields

from common.schemas import Instant
from common.database import transaction_rows


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
    """The keyset page of `query` (a common.database.ListQuery, paged as keyset_page pages it)
    as JSON text: the page's ids from the query, then each row's JSON from `from_sql`:
    `"table t"`, or `("table t", "other s", "join condition")`.

    The page's SQL is built and compiled by SQLAlchemy once per shape (the
    query's key, whether a cursor is given, the schema, the FROM) and then run as text on
    the pooled connection: building, caching and compiling the statement anew cost a list
    call some 1.5 ms of CPU, about three times PostgreSQL's own work on the page."""
    limit, cursor = filters["limit"], filters.get("cursor")
    key = (query.key, bool(cursor), schema_class, from_sql, overrides and tuple(overrides.items()))
    compiled = _page_sql.get(key)
    if compiled is None:
        compiled = _page_sql[key] = _compile_page(session, query, id_column, bool(cursor), schema_class, from_sql,
                                                  overrides)
    sql, constants = compiled
    rows = read_only(session, sql, {**constants, **query.params, "page_cursor": cursor, "page_size": limit + 1})
    return {"items_json": "[" + ",".join(row[1] for row in rows[:limit]) + "]",
            "next_cursor": rows[limit - 1][0] if len(rows) > limit else None}


_page_sql = {}


def _compile_page(session, query, id_column, cursor, schema_class, from_sql, overrides):
    """(SQL text, {constant parameter: value}) of a page of `query`'s shape; the filters'
    values, `page_cursor` and `page_size` are its named parameters."""
    ids = query.make().with_only_columns(id_column)
    if cursor:
        ids = ids.where(id_column < bindparam("page_cursor"))
    ids = ids.order_by(id_column.desc()).limit(bindparam("page_size", type_=Integer)).subquery("page")
    statement = (select(literal_column("t.id"), literal_column(row_json_sql(schema_class, overrides)))
                 .select_from(_from_clause(from_sql)).where(literal_column("t.id").in_(select(ids.c[0])))
                 .order_by(literal_column("t.id").desc()))
    engine = session.get_bind()
    if engine.dialect.server_version_info is None:  # its first connection tells it how to write literals
        engine.connect().close()
    compiled = statement.compile(dialect=engine.dialect)
    named = set(query.params) | {"page_cursor", "page_size"}
    return str(compiled), {name: value for name, value in compiled.params.items() if name not in named}


def read_only(session, sql, params):
    """The rows of one read-only statement (SQL text with %(name)s parameters, psycopg2's
    style) on PostgreSQL. In the session's transaction when it has one; otherwise on a
    pooled connection in autocommit: psycopg2 sends no BEGIN before it nor ROLLBACK after
    it, two round trips fewer. A connection found dropped is not given back to the pool."""
    if session.in_transaction():
        return transaction_rows(session, sql, params)
    pooled = session.get_bind().raw_connection()
    connection = pooled.driver_connection
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        if connection.closed:
            pooled.invalidate()
        else:
            connection.autocommit = False
        pooled.close()


def page_data(page):
    """A json_page as data, `{"items": [...], "next_cursor": ...}`, for a caller that reads the rows
    (the dashboard, the exports) rather than handing the text on as the API does."""
    return {"items": json.loads(page["items_json"]), "next_cursor": page["next_cursor"]}

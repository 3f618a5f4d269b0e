//! ClickHouse schema, migrations and row writer (in progress).

# Sourced by scripts/test.sh: start a throw-away PostgreSQL server on a private port and export
# KB_TEST_DATABASE_URL. The server stops when the calling shell exits.
initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$initdb" ]; then
  pgbin=$(dirname "$initdb")
  pgdir=$(mktemp -d /tmp/kb-pg.XXXXXX)
  pgport=${KB_TEST_PG_PORT:-54329}
  runas=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$pgdir"
    runas=(runuser -u postgres --)
  fi
  "${runas[@]}" "$pgbin/initdb" -D "$pgdir/data" -A trust -U kb >/dev/null
  "${runas[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -o "-p $pgport -k $pgdir -c listen_addresses=127.0.0.1" -l "$pgdir/log" -w start >/dev/null
  "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U kb kb_test
  export KB_TEST_DATABASE_URL="postgresql+psycopg://kb@127.0.0.1:$pgport/kb_test"
  trap '"${runas[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1; rm -rf "$pgdir"' EXIT
  echo "test: PostgreSQL on port $pgport ($KB_TEST_DATABASE_URL)"
else
  echo "test: PostgreSQL not installed; the PostgreSQL store tests will fail" >&2
fi

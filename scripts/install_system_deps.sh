#!/usr/bin/env bash
# Installs the Debian packages the PostgreSQL-backed tests, the browser smoke test and the Spark
# usage tests need: a PostgreSQL server (initdb/pg_ctl), Chromium (driven by Playwright, no
# browser download) and a Java 17 runtime (Spark in local mode).
# Installs only what is missing, so running it twice is a no-op. Needs root (or sudo) and apt.
set -euo pipefail

have_postgres() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null
}

have_chromium() {
    command -v chromium >/dev/null 2>&1
}

have_java() {
    command -v java >/dev/null 2>&1
}

missing=()
have_postgres || missing+=(postgresql)
have_chromium || missing+=(chromium)
have_java || missing+=(openjdk-17-jre-headless)

if [ ${#missing[@]} -eq 0 ]; then
    echo "system dependencies present: postgresql, chromium, java"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing ${missing[*]} and apt-get is not available: install them with your package manager" >&2
    exit 1
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "installing ${missing[*]} needs root (or sudo)" >&2; exit 1; }
    as_root=(sudo)
fi

echo "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
# the server package creates the `postgres` OS user the tests run initdb/pg_ctl as; no cluster is
# needed (the tests create their own in a temp dir), so the default one is left to the package
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed ${missing[*]}"

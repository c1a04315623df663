# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
#
# What the two commands of the README share: they set up, from nothing but
# Python 3.11, pip, Node.js and (for PostgreSQL) Debian's packages, what the
# module needs to run and to be tested.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR="$ROOT/var"
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "this step needs root: $*"
    fi
}

# The virtual environment with GNU Health, trytond and the module (editable)
ensure_venv() {
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "Python 3.11 or newer is needed (PYTHON=$PYTHON)"
    if [ ! -x "$VENV/bin/python" ]; then
        say "Creating the Python environment in $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp="$VENV/.installed" wanted
    wanted=$(cat "$ROOT/setup.py" "$ROOT/health_shared_record/tryton.cfg" \
        | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        say "Installing GNU Health, trytond and the module"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]"
        echo "$wanted" > "$stamp"
    fi
    export PATH="$VENV/bin:$PATH"
}

# Tryton's web client, sao, with the libraries its index.html loads from
# bower_components (bower itself would fetch them from git hosts)
ensure_web_client() {
    local web="$ROOT/web" root="$VAR/web"
    command -v npm >/dev/null || die "Node.js and npm are needed for the web client"
    if [ ! -f "$web/node_modules/.package-lock.json" ] \
            || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
        say "Installing Tryton's web client (sao) from npm"
        (cd "$web" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    fi
    rm -rf "$root" && mkdir -p "$root/bower_components"
    local sao="$web/node_modules/tryton-sao" name
    for name in index.html dist images locale sounds; do
        ln -s "$sao/$name" "$root/$name"
    done
    for name in bootstrap bootstrap-rtl-ondemand c3 fullcalendar gettext.js \
            jquery moment mousetrap papaparse; do
        ln -s "$web/node_modules/$name" "$root/bower_components/$name"
    done
    ln -s "$web/node_modules/sortablejs" "$root/bower_components/Sortable"
    mkdir -p "$root/bower_components/d3"
    ln -s "$web/node_modules/d3/dist/d3.min.js" "$root/bower_components/d3/d3.min.js"
    ln -s "$web/custom.js" "$root/custom.js"
    ln -s "$web/custom.css" "$root/custom.css"
    WEB_ROOT="$root"
}

# The FHIR server the exchange tests talk to (Medplum's, from npm)
ensure_fhir_server() {
    local dir="$ROOT/tests/fhir_server"
    command -v npm >/dev/null || die "Node.js and npm are needed for the FHIR test server"
    if [ ! -f "$dir/node_modules/.package-lock.json" ] \
            || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        say "Installing the FHIR test server (Medplum) from npm"
        (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    fi
}

# Debian's Chromium, which the browser tests drive (Playwright downloads no
# browser here)
ensure_chromium() {
    CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
    if [ ! -x "$CHROMIUM" ]; then
        say "Installing Chromium from Debian's packages"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq \
            chromium fonts-dejavu-core >/dev/null
    fi
    [ -x "$CHROMIUM" ] || die "Chromium is not at $CHROMIUM"
    export CHROMIUM
}

# Debian's Dovecot, the IMAP server the secure messaging tests read
# mailboxes from (tests/helpers.py starts one per run with its own
# configuration); the system's own service is stopped, so that it holds
# neither port 143 nor 993 nor the mailboxes of the machine
ensure_dovecot() {
    if [ ! -x /usr/sbin/dovecot ]; then
        say "Installing Dovecot (IMAP) from Debian's packages"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq \
            --no-install-recommends dovecot-imapd >/dev/null \
            || die "Dovecot could not be installed (Debian's dovecot-imapd)"
        as_root systemctl disable --now dovecot.service dovecot.socket \
            >/dev/null 2>&1 || true
        as_root service dovecot stop >/dev/null 2>&1 || true
    fi
    [ -x /usr/sbin/dovecot ] || die "Dovecot is not at /usr/sbin/dovecot"
}

pg_answers() {
    "$VENV/bin/python" - "$1" <<'PY'
import sys
import psycopg2
try:
    psycopg2.connect(sys.argv[1], connect_timeout=3).close()
except psycopg2.Error:
    sys.exit(1)
PY
}

# A PostgreSQL server: TEST_POSTGRESQL_URI's when given (another version, a
# server on another clock), else the machine's own on 127.0.0.1:5432 when it
# answers, else one installed from Debian's packages and started in var/ on
# port 5433
ensure_postgresql() {
    if [ -n "${TEST_POSTGRESQL_URI:-}" ]; then
        PG_URI="${TEST_POSTGRESQL_URI%/}/"
        pg_answers "${PG_URI}postgres" \
            || die "no PostgreSQL server answers at $TEST_POSTGRESQL_URI"
        return
    fi
    PG_URI="postgresql://postgres@127.0.0.1:5432/postgres"
    if pg_answers "$PG_URI"; then
        PG_URI="postgresql://postgres@127.0.0.1:5432/"
        return
    fi
    local bin port=5433 data="$VAR/postgresql"
    PG_URI="postgresql://postgres@127.0.0.1:$port/postgres"
    if pg_answers "$PG_URI"; then
        PG_URI="postgresql://postgres@127.0.0.1:$port/"
        return
    fi
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bin" ]; then
        say "Installing PostgreSQL from Debian's packages"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq \
            postgresql postgresql-client >/dev/null
        bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    say "Starting a PostgreSQL server for the tests in $data (port $port)"
    local run=()
    if [ "$(id -u)" = 0 ]; then
        # PostgreSQL refuses to run as root
        run=(runuser -u postgres --)
        mkdir -p "$data" && chown postgres "$data" "$VAR"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        "${run[@]}" "$bin/initdb" -D "$data" -U postgres -A trust >/dev/null
    fi
    "${run[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
        -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
    PG_URI="postgresql://postgres@127.0.0.1:$port/"
}

# LibreOffice, with which trytond converts GNU Health's own reports
# (prescriptions, certificates, the patient's card) to PDF to print them;
# Writer without its desktop interface, from Debian's packages.  Without it
# everything else works, so it is only said when it cannot be installed.
ensure_libreoffice() {
    command -v soffice >/dev/null && return
    if command -v apt-get >/dev/null \
            && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null; }; then
        say "Installing LibreOffice Writer from Debian's packages (for GNU Health's reports)"
        as_root apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq \
            --no-install-recommends libreoffice-writer-nogui \
            fonts-dejavu-core >/dev/null || true
    fi
    command -v soffice >/dev/null || say "No LibreOffice (soffice): GNU" \
        "Health's own reports will not print; install Debian's" \
        "libreoffice-writer-nogui (or any LibreOffice with soffice)"
}

# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""A clinic's trytond site as the tests and benchmarks that need real
processes run it: a database of its own, trytond servers, queue workers and
cron processes on loopback, and a JSON-RPC client such as Tryton's.

The database is on the backend of TRYTOND_DATABASE_URI (SQLite in a file
when unset) and is dropped by stop().
"""
import base64
import os
import pathlib
import signal
import subprocess
import sys
import time

import requests

from helpers import PASSWORD, free_port

BIN = pathlib.Path(sys.executable).parent


class RPCError(Exception):
    "An error the server answered, as Tryton's client receives it"

    def __init__(self, error):
        super().__init__(error)
        self.error = error

    @property
    def kind(self):
        "UserError, AccessError, ConcurrencyException, ..."
        return self.error[0] if isinstance(self.error, list) else None

    @property
    def message(self):
        if isinstance(self.error, list) and len(self.error) > 1:
            return self.error[1][0] if isinstance(
                self.error[1], list) else str(self.error[1])
        return str(self.error)


class Client:
    "A user's session on a server, over JSON-RPC like Tryton's client"

    def __init__(self, url, database, login, password=PASSWORD,
            language='en'):
        self.url = f'{url}{database}/'
        self.login = login
        self.http = requests.Session()
        self.context = {}
        user_id, session = self._post(None, 'common.db.login',
            [login, {'password': password}, language])[:2]
        token = base64.b64encode(
            f'{login}:{user_id}:{session}'.encode()).decode()
        self.http.headers['Authorization'] = f'Session {token}'
        self.user_id = user_id
        self.context = self.call('model.res.user.get_preferences', True)

    def _post(self, id_, method, params, timeout=120):
        response = self.http.post(self.url, json={
                'id': id_, 'method': method, 'params': params},
            timeout=timeout)
        if response.status_code != 200:
            # trytond answers 403 for a method a model does not offer
            raise RPCError(['HTTPError', [
                        f'{response.status_code} for {method}']])
        answer = response.json()
        if 'error' in answer:
            raise RPCError(answer['error'])
        return answer['result']

    def call(self, method, *params, context=None, timeout=120):
        "Call method with params and the session's context"
        return self._post(1, method,
            list(params) + [{**self.context, **(context or {})}],
            timeout=timeout)

    def model(self, name, method, *params, **kwargs):
        return self.call(f'model.{name}.{method}', *params, **kwargs)

    def close(self):
        self.http.close()


class Process:
    "A trytond process the site started"

    def __init__(self, name, args, env, log):
        self.name = name
        self.args = args
        self.env = env
        self.log = log
        self.popen = None
        self.url = None

    def start(self):
        with open(self.log, 'ab') as log:
            # A group of its own: trytond-worker runs tasks in children,
            # which a crash takes down with it
            self.popen = subprocess.Popen(
                self.args, env=self.env, stdout=log, stderr=log,
                start_new_session=True)
        return self

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig=signal.SIGKILL):
        "Stop it at once (SIGKILL: no clean-up, as a crash)"
        if self.alive():
            os.killpg(self.popen.pid, sig)
            self.popen.wait(30)

    def stop(self):
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_http(self, seconds=90):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(
                    f'{self.name} exited; see {self.log}')
            try:
                if requests.get(self.url, timeout=2).status_code < 500:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f'{self.name} did not answer; see {self.log}')


class Site:
    """A database of its own and the trytond processes serving it

    queue: when True, the servers push tasks to the queue (ir.queue) for
    trytond-worker processes instead of running them after the commit"""

    def __init__(self, directory, name, queue=False, web_root=None,
            options=None):
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.uri = os.environ.get('TRYTOND_DATABASE_URI', 'sqlite://')
        self.sqlite = self.uri.startswith('sqlite')
        # On PostgreSQL, named after the run's DB_NAME (bin/test's) that
        # the run drops when it ends
        run = os.environ.get('DB_NAME', f'test_{os.getpid()}')
        self.database = name if self.sqlite else f'{run}_{name}'
        self.config = self.directory / 'trytond.conf'
        self.processes = []
        sections = {
            'database': {'uri': self.uri, 'language': 'en',
                # A server does not list the other databases (the tests')
                'list': 'False'},
            'session': {'timeout': '3600'},
            'queue': {'worker': str(bool(queue))},
            }
        if self.sqlite:
            sections['database']['path'] = str(self.directory)
        else:
            # The client's pop-ups (alerts): trytond's bus needs
            # PostgreSQL's LISTEN/NOTIFY; on SQLite the client is told 501
            # and does not ask again
            sections['bus'] = {'allow_subscribe': 'True'}
        if web_root:
            sections['web'] = {'root': str(web_root)}
        for section, values in (options or {}).items():
            sections.setdefault(section, {}).update(values)
        self.config.write_text(''.join(
                f'[{section}]\n' + ''.join(
                    f'{key} = {value}\n' for key, value in values.items())
                for section, values in sections.items()))

    def environment(self, pythonpath=None, **extra):
        env = {k: v for k, v in os.environ.items()
            if not k.startswith(('TRYTOND_DATABASE', 'DB_'))}
        password = self.directory / 'password'
        password.write_text(PASSWORD)
        env['TRYTONPASSFILE'] = str(password)
        if pythonpath:
            # An older version of the module, found before the installed one
            env['PYTHONPATH'] = os.pathsep.join(
                [str(pythonpath)] + [
                    p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                    if p])
        env.update(extra)
        return env

    # The database

    def create(self, languages=(), pythonpath=None):
        "Create the database with the module and what it depends on"
        self.drop()
        if self.sqlite:
            (self.directory / f'{self.database}.sqlite').touch()
        else:
            self.postgresql(
                f'CREATE DATABASE "{self.database}" ENCODING \'UTF8\'')
        # With GNU Health's laboratory, as the demo has it
        self.admin('--email', 'admin@example.org',
            '-u', 'health_shared_record', 'health_lab',
            '--activate-dependencies',
            *(['-l', *languages] if languages else []),
            pythonpath=pythonpath)

    def admin(self, *args, pythonpath=None):
        "Run trytond-admin on the database"
        self._run([BIN / 'trytond-admin', '-c', self.config,
                '-d', self.database, *args], pythonpath)

    def script(self, path, *args, pythonpath=None):
        "Run a proteus script such as demo/populate.py on the database"
        self._run([sys.executable, path, '-c', self.config,
                '-d', self.database, *args], pythonpath)

    def _run(self, args, pythonpath):
        log = self.directory / 'admin.log'
        with open(log, 'ab') as output:
            status = subprocess.run(list(map(str, args)),
                env=self.environment(pythonpath), stdout=output,
                stderr=subprocess.STDOUT).returncode
        if status:
            raise RuntimeError(
                f'{args[0]} failed ({status}): '
                + log.read_text()[-3000:])

    def drop(self):
        if self.sqlite:
            (self.directory / f'{self.database}.sqlite').unlink(
                missing_ok=True)
        else:
            self.postgresql(
                f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def postgresql(self, statement):
        "Run a statement on the server's maintenance database"
        import psycopg2
        connection = psycopg2.connect(self.uri + 'postgres')
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def query(self, statement, parameters=()):
        "The rows of a query on the site's database, behind the ORM's back"
        if self.sqlite:
            import sqlite3
            connection = sqlite3.connect(
                self.directory / f'{self.database}.sqlite')
            statement = statement.replace('%s', '?')
        else:
            import psycopg2
            connection = psycopg2.connect(self.uri + self.database)
        try:
            cursor = connection.cursor()
            cursor.execute(statement, parameters)
            rows = cursor.fetchall() if cursor.description else None
            connection.commit()
            return rows
        finally:
            connection.close()

    # The processes

    def _process(self, name, args, **env):
        process = Process(name, list(map(str, args)),
            self.environment(**env), self.directory / f'{name}.log')
        self.processes.append(process)
        return process

    def server(self, name='server', pythonpath=None):
        "A trytond server on a free loopback port, started"
        port = free_port()
        process = self._process(name, [BIN / 'trytond', '-c', self.config],
            pythonpath=pythonpath, TRYTOND_WEB__LISTEN=f'127.0.0.1:{port}')
        process.url = f'http://127.0.0.1:{port}/'
        return process.start().wait_http()

    def worker(self, name='worker'):
        "A trytond-worker queue worker (one process), started"
        return self._process(name, [BIN / 'trytond-worker',
                '-c', self.config, '-d', self.database, '-n', '1',
                '-t', '1']).start()

    def cron(self, name='cron'):
        "trytond-cron running the due tasks once, started"
        return self._process(name, [BIN / 'trytond-cron',
                '-c', self.config, '-d', self.database, '--once']).start()

    def client(self, server, login, **kwargs):
        return Client(server.url, self.database, login, **kwargs)

    def stop(self, drop=True):
        for process in self.processes:
            process.stop()
        self.processes = []
        if drop:
            self.drop()

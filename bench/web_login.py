#!/usr/bin/env python3
# This file is part of health_shared_record.  Licensed under the GNU General
# Public License v3 or later; see the COPYING file at the top of the project.
"""Where the time of logging in to the web client goes.

The demo clinic on PostgreSQL, served with sao by one trytond server; each
demo user logs in with Chromium as a person does (database, login,
password) until the menu is drawn and sao's calls have ended, several
times.  It prints the time from the password to the menu and, for each
JSON-RPC method sao called, how many calls and the time the server took
to answer them (from the request sent to the answer received), the
slowest first.

    .venv/bin/python bench/web_login.py [--logins claire,hugo] [--times 5]
"""
import argparse
import collections
import json
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
os.environ.setdefault(
    'TRYTOND_DATABASE_URI', 'postgresql://postgres@127.0.0.1:5432/')
os.environ['TRYTOND_DATABASE__URI'] = os.environ['TRYTOND_DATABASE_URI']
sys.path.insert(0, str(ROOT / 'tests'))

from playwright.sync_api import sync_playwright  # noqa: E402

from helpers import PASSWORD  # noqa: E402
from test_browser import CHROMIUM, Server  # noqa: E402


def log_in(browser, server, login, calls):
    "Log in as login; return the seconds from the password to the menu"
    context = browser.new_context(viewport={'width': 1440, 'height': 900})
    page = context.new_page()
    pending = set()
    started = {}

    def sent(request):
        if request.url.startswith(server.url):
            pending.add(request)
            started[request] = time.perf_counter()

    def answered(request):
        if request in pending:
            pending.discard(request)
            try:
                method = json.loads(request.post_data or '{}').get(
                    'method', request.url)
            except ValueError:
                method = request.url.split('?')[0]
            calls[method].append(time.perf_counter() - started[request])

    page.on('request', sent)
    page.on('requestfinished', answered)
    page.on('requestfailed', answered)
    try:
        page.goto(server.url)
        database = page.locator('input#database:visible')
        database.wait_for()
        if database.input_value() != server.database:
            database.fill(server.database)
        page.locator('input#login').fill(login)
        page.locator('input#login').press('Enter')
        password = page.locator('input[type=password]')
        password.fill(PASSWORD)
        calls.clear()
        start = time.perf_counter()
        password.press('Enter')
        page.wait_for_selector(
            '#menu tbody tr', state='attached', timeout=60000)
        quiet = 0
        while quiet < 5:
            page.wait_for_timeout(100)
            quiet = 0 if pending else quiet + 1
        return time.perf_counter() - start - 0.5
    finally:
        context.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--logins', default='claire,paul,lucie')
    parser.add_argument('--times', type=int, default=5)
    arguments = parser.parse_args()
    directory = pathlib.Path(tempfile.mkdtemp(prefix='hsr-login-'))
    server = Server(directory)
    try:
        server.start()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=['--no-sandbox'])
            for login in arguments.logins.split(','):
                log_in(browser, server, login, collections.defaultdict(list))
                seconds, calls = [], collections.defaultdict(list)
                for _ in range(arguments.times):
                    these = collections.defaultdict(list)
                    seconds.append(log_in(browser, server, login, these))
                    for method, times in these.items():
                        calls[method].extend(times)
                print(f'{login}: logged in in '
                    f'{statistics.median(seconds):.2f} s (median of '
                    f'{arguments.times}; min {min(seconds):.2f} s)')
                for method, times in sorted(
                        calls.items(), key=lambda i: -sum(i[1]))[:15]:
                    print(f'  {method[:60]:<60} '
                        f'{len(times) / arguments.times:5.1f} calls '
                        f'{sum(times) / arguments.times * 1000:8.1f} ms')
            browser.close()
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())

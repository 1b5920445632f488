"""ClickHouse's HTTP interface over chDB, the current ClickHouse engine that PyPI ships in-process.

The test harness starts one of these beside Debian's clickhouse-server 18.16, so every ClickHouse
test also runs on the engine users deploy (26.x). It speaks the parts of the HTTP interface that
clients use: the SQL in the `query` URL parameter and/or the POST body (the body is the data of an
INSERT when `query` is given), `database`, `default_format`, every other URL parameter applied as a
setting for that one query, gzip/deflate request bodies, and errors as ClickHouse gives them: the
status code chosen from the exception code, `X-ClickHouse-Exception-Code`, and the
`Code: N. DB::Exception: ...` text. ClickHouse's own block compression (`compress=1`,
`decompress=1`) is refused with NOT_IMPLEMENTED: clients talk to this endpoint uncompressed.

chDB runs one query at a time per process, so queries are serialized.

Usage: python chdb_http.py --data DIR [--port 0]; prints `listening PORT` once ready and exits when
its parent process does.
"""

import argparse
import http.server
import os
import re
import shutil
import sys
import threading
import time
import urllib.parse
import zlib

import chdb
from chdb import session as chdb_session

# URL parameters of the HTTP interface itself; any other parameter is a setting.
INTERFACE_PARAMETERS = {
    "query", "database", "default_format", "user", "password", "quota_key", "query_id",
    "session_id", "session_timeout", "session_check", "buffer_size", "wait_end_of_query",
    "role", "stacktrace", "compress", "decompress", "enable_http_compression",
    # Settings of ClickHouse's HTTP handler that chDB's build does not have. The endpoint takes
    # them; it cannot cancel a chDB query when its client leaves.
    "cancel_http_readonly_queries_on_client_close", "readonly",
}
# What `readonly=1|2` lets through, as ClickHouse decides by the kind of query.
READ_ONLY_PATTERN = re.compile(rb"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN)\b", re.IGNORECASE)
READONLY = 164

# HTTP status by exception name, as ClickHouse's exceptionCodeToHTTPStatus chooses it.
STATUS_BY_EXCEPTION = {
    "REQUIRED_PASSWORD": 401,
    **dict.fromkeys(
        ["UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "SET_NON_GRANTED_ROLE",
         "ACCESS_DENIED"], 403),
    **dict.fromkeys(
        ["BAD_ARGUMENTS", "CANNOT_COMPILE_REGEXP", "CANNOT_PARSE_TEXT",
         "CANNOT_PARSE_ESCAPE_SEQUENCE", "CANNOT_PARSE_QUOTED_STRING", "CANNOT_PARSE_DATE",
         "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER", "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
         "CANNOT_PARSE_IPV4", "CANNOT_PARSE_IPV6", "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
         "CANNOT_PARSE_UUID", "DUPLICATE_COLUMN", "ILLEGAL_COLUMN", "UNKNOWN_ELEMENT_IN_AST",
         "UNKNOWN_TYPE_OF_AST_NODE", "THERE_IS_NO_COLUMN", "TOO_DEEP_AST", "TOO_BIG_AST",
         "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR", "INCORRECT_DATA", "TYPE_MISMATCH",
         "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"], 400),
    **dict.fromkeys(
        ["UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE",
         "UNKNOWN_STORAGE", "UNKNOWN_DATABASE", "UNKNOWN_SETTING",
         "UNKNOWN_DIRECTION_OF_SORTING", "UNKNOWN_AGGREGATE_FUNCTION", "UNKNOWN_FORMAT",
         "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY", "UNKNOWN_ROLE"], 404),
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "CANNOT_SCHEDULE_TASK": 503,
    "HTTP_LENGTH_REQUIRED": 411,
    "TIMEOUT_EXCEEDED": 408,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}

NOT_IMPLEMENTED = 48
STD_EXCEPTION = 1001
CODE_PATTERN = re.compile(r"^Code: (\d+)\. ")
# `INSERT INTO t [(columns)] FORMAT name`, whose rows are the request body.
INSERT_PATTERN = re.compile(r"^\s*(INSERT\s+INTO\s+.*?)\s+FORMAT\s+(\w+)\s*$", re.IGNORECASE | re.DOTALL)


class QueryError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class Engine:
    """One chDB session; every call holds the lock."""

    def __init__(self, path, config=None):
        # A clickhouse-local configuration file (clusters, ZooKeeper, macros) goes in the
        # session's connection string.
        self.session = chdb_session.Session(f"{path}?config-file={config}" if config else path)
        self.inserts = os.path.join(path, "inserts")
        os.makedirs(self.inserts, exist_ok=True)
        self.lock = threading.Lock()
        self.version = self._run("SELECT version()", "TabSeparated").decode().strip()
        names = self._run(
            "SELECT number, errorCodeToName(number) FROM numbers(2000)", "TabSeparated"
        ).decode()
        self.status_by_code = {}
        for line in names.splitlines():
            code, _, name = line.partition("\t")
            if name in STATUS_BY_EXCEPTION:
                self.status_by_code[int(code)] = STATUS_BY_EXCEPTION[name]

    def _run(self, sql, output_format):
        try:
            return self.session.query(sql, output_format).bytes()
        except Exception as error:  # chDB raises one error type for every server exception
            text = str(error)
            match = CODE_PATTERN.match(text)
            code = int(match.group(1)) if match else STD_EXCEPTION
            if not match:
                text = f"Code: {code}. DB::Exception: {text}"
            raise QueryError(code, text) from None

    def execute(self, sql, database, output_format, settings):
        """Runs one statement with its settings, then puts every setting back to its default."""
        with self.lock:
            return self._execute_locked(sql, database, output_format, settings)

    def insert(self, head, input_format, rows, database, settings):
        """An INSERT whose rows came as the request body. chDB parses a query's inline data
        with the query (and silently cuts long RowBinary bodies), so the rows go through a
        file instead: `INSERT INTO t (...) FROM INFILE '...' FORMAT name`."""
        with self.lock:
            path = os.path.join(self.inserts, "rows.bin")
            with open(path, "wb") as file:
                file.write(rows)
            try:
                sql = f"{head} FROM INFILE {quote_string(path)} FORMAT {input_format}"
                return self._execute_locked(sql, database, "TabSeparated", settings)
            finally:
                os.remove(path)

    def _execute_locked(self, sql, database, output_format, settings):
            self._run(f"USE {quote_identifier(database)}", "TabSeparated")
            applied = []
            try:
                for name, value in settings:
                    self._run(f"SET {quote_identifier(name)} = {quote_string(value)}", "TabSeparated")
                    applied.append(name)
                return self._run(sql, output_format)
            finally:
                for name in applied:
                    self._run(f"SET {quote_identifier(name)} = DEFAULT", "TabSeparated")

    def status_of(self, code):
        return self.status_by_code.get(code, 500)


def quote_identifier(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(value):
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def read_only_error():
    return QueryError(READONLY, f"Code: {READONLY}. DB::Exception: Cannot execute query in "
                      "readonly mode. (READONLY)")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    engine = None

    def log_message(self, format, *args):  # noqa: A002 - the base class names it so
        pass

    def do_GET(self):
        self.handle_query(b"")

    def do_POST(self):
        try:
            body = self.read_body()
        except QueryError as error:
            return self.fail(error)
        self.handle_query(body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(parts)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "").lower()
        if encoding == "gzip":
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding not in ("", "identity"):
            raise QueryError(NOT_IMPLEMENTED,
                             f"Code: {NOT_IMPLEMENTED}. DB::Exception: Content-Encoding "
                             f"{encoding} is not supported by this endpoint. (NOT_IMPLEMENTED)")
        return body

    def handle_query(self, body):
        url = urllib.parse.urlsplit(self.path)
        if url.path in ("/ping", "/") and not url.query and not body:
            return self.answer(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
        if url.path != "/":
            return self.fail(QueryError(
                NOT_IMPLEMENTED,
                f"Code: {NOT_IMPLEMENTED}. DB::Exception: no handler for {url.path}. (NOT_IMPLEMENTED)"))
        params = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        named = dict(params)
        try:
            for flag in ("compress", "decompress"):
                if named.get(flag) == "1":
                    raise QueryError(NOT_IMPLEMENTED,
                                     f"Code: {NOT_IMPLEMENTED}. DB::Exception: {flag}=1 (ClickHouse "
                                     "block compression) is not supported by this endpoint; "
                                     "connect without compression. (NOT_IMPLEMENTED)")
            if any(name.startswith("param_") for name, _ in params):
                raise QueryError(NOT_IMPLEMENTED,
                                 f"Code: {NOT_IMPLEMENTED}. DB::Exception: query parameters are "
                                 "not supported by this endpoint. (NOT_IMPLEMENTED)")
            settings = [(k, v) for k, v in params if k not in INTERFACE_PARAMETERS]
            readonly = named.get("readonly", "0")
            output_format = named.get("default_format") or "TabSeparated"
            database = named.get("database") or "default"
            insert = INSERT_PATTERN.match(named.get("query", "")) if body else None
            if readonly == "1" and settings:
                raise QueryError(READONLY, f"Code: {READONLY}. DB::Exception: Cannot modify "
                                 f"'{settings[0][0]}' setting in readonly mode. (READONLY)")
            if insert and readonly != "0":
                raise read_only_error()
            if insert:
                result = self.engine.insert(insert.group(1), insert.group(2), body, database,
                                            settings)
            else:
                # As ClickHouse does: the body follows the `query` parameter on a new line.
                if "query" in named:
                    sql = named["query"].encode() + (b"\n" + body if body else b"")
                else:
                    sql = body
                if not sql.strip():
                    raise QueryError(62, "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)")
                if readonly != "0" and not READ_ONLY_PATTERN.match(sql):
                    raise read_only_error()
                result = self.engine.execute(sql, database, output_format, settings)
        except QueryError as error:
            return self.fail(error)
        self.answer(200, result, {
            "Content-Type": "application/octet-stream",
            "X-ClickHouse-Format": output_format,
        })

    def fail(self, error):
        text = f"{error.message} (version {self.engine.version})\n".encode()
        self.answer(self.engine.status_of(error.code), text, {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Exception-Code": str(error.code),
        })

    def answer(self, status, body, headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (its own deadline) closes the connection; that is no error here.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def exit_with_parent(parent, data_dir):
    while os.getppid() == parent:
        time.sleep(0.3)
    shutil.rmtree(data_dir, ignore_errors=True)
    os._exit(0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--config", help="a clickhouse-local configuration file")
    args = parser.parse_args()
    Handler.engine = Engine(args.data, args.config)
    server = Server(("127.0.0.1", args.port), Handler)
    threading.Thread(target=exit_with_parent, args=(os.getppid(), args.data), daemon=True).start()
    print(f"listening {server.server_address[1]} chdb {chdb.__version__} engine "
          f"{Handler.engine.version}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

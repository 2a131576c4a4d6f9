"""Integration-test harness: a real `tresor` instance plus DCMTK clients on loopback.

Contract:
  - every wait is bounded; every process started here is stopped (SIGTERM,
    then SIGKILL) and every temp dir removed, also when a test fails;
  - ports come from 20000-32000 (below Linux's ephemeral range, so no client
    connection can take one between the check and the bind) and are checked free by binding;
  - only 127.0.0.1 / 127.0.0.2 are used.

Environment:
  TRESOR_BIN   path of the tresor executable (default <repo>/build/app/tresor)
  TRESOR_KEEP  if set, temp dirs are kept (for debugging)
  TRESOR_ITEST_TIMEOUT_SCALE  multiplies the start-up and command timeouts
               (default 1; `make test-sanitize` and `make test-hardening` set 3: slower sanitized build)
"""
from __future__ import annotations

import atexit
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TRESOR_BIN = Path(os.environ.get("TRESOR_BIN", REPO / "build" / "app" / "tresor"))
SYSTEM_PYTHON = "/usr/bin/python3"  # has python3-pydicom (Debian package)
PYDICOM_TEST_FILES = Path("/usr/lib/python3/dist-packages/pydicom/data/test_files")
AE = "TRESOR_TEST"
TIMEOUT_SCALE = max(1.0, float(os.environ.get("TRESOR_ITEST_TIMEOUT_SCALE", "1")))
# Debian's DCMTK tools leave Nagle's algorithm on unless TCP_NODELAY=1 is in their
# environment: each DIMSE message then waits for the server's delayed ACK (~40 ms),
# which made storescu here send ~20 instances/s. Every tool the tests start inherits this.
os.environ.setdefault("TCP_NODELAY", "1")


def shared_dir() -> Path:
    """<repo>/../shared in CI; /work/shared as a fallback."""
    for cand in (REPO.parent / "shared", Path("/work/shared")):
        if (cand / "tools" / "gen-dataset").exists():
            return cand
    raise unittest.SkipTest("shared/tools/gen-dataset not found beside the repository")


def require_binary() -> None:
    if not TRESOR_BIN.is_file() or not os.access(TRESOR_BIN, os.X_OK):
        raise unittest.SkipTest(f"tresor binary not found at {TRESOR_BIN} (set TRESOR_BIN)")


# --------------------------------------------------------------------------
# processes and ports

_live_procs: list[subprocess.Popen] = []
_live_lock = threading.Lock()


def _register(p: subprocess.Popen) -> subprocess.Popen:
    with _live_lock:
        _live_procs.append(p)
    return p


def stop_process(p: subprocess.Popen | None, term_wait: float = 10.0) -> None:
    """SIGTERM, bounded wait, then SIGKILL. Safe to call twice."""
    if p is None:
        return
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=term_wait)
        except subprocess.TimeoutExpired:
            p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        except ProcessLookupError:
            pass
    with _live_lock:
        if p in _live_procs:
            _live_procs.remove(p)


@atexit.register
def _kill_leftovers() -> None:
    with _live_lock:
        procs = list(_live_procs)
    for p in procs:
        if p.poll() is None:
            p.kill()


_used_ports: set[int] = set()
_port_lock = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port in 20000-32000 that is free right now (checked by binding).

    Below Linux's ephemeral range (32768-60999): the outgoing connections of the
    tests running in parallel can never take it before the server binds it."""
    with _port_lock:
        for _ in range(500):
            port = random.randint(20000, 32000)
            if port in _used_ports:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind((host, port))
                except OSError:
                    continue
            _used_ports.add(port)
            return port
    raise RuntimeError("no free port in 20000-32000")


@dataclass
class Run:
    cmd: list[str]
    rc: int
    out: str          # stdout + stderr, interleaved as the tool wrote them
    stdout: str
    stderr: str
    elapsed: float
    timed_out: bool = False

    def __str__(self) -> str:
        tail = self.out[-4000:]
        return f"$ {' '.join(self.cmd)}\nrc={self.rc} elapsed={self.elapsed:.2f}s timed_out={self.timed_out}\n{tail}"


def run(cmd: list[str], timeout: float = 60, input: str | None = None, cwd: str | None = None,
        env: dict | None = None) -> Run:
    """Runs a command with a hard timeout (times TIMEOUT_SCALE); never raises on failure."""
    timeout *= TIMEOUT_SCALE
    start = time.monotonic()
    p = _register(subprocess.Popen([str(c) for c in cmd], stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                                   cwd=cwd, env=env, start_new_session=True))
    timed_out = False
    try:
        out, err = p.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate(timeout=10)
    finally:
        with _live_lock:
            if p in _live_procs:
                _live_procs.remove(p)
    return Run([str(c) for c in cmd], p.returncode if not timed_out else -9, (out or "") + (err or ""), out or "",
               err or "", time.monotonic() - start, timed_out)


# --------------------------------------------------------------------------
# tresor.toml editing (the file is written by `tresor init`: `key = value`
# lines under `[table]` headers, top-level keys first)

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def set_toml(path: Path, table: str, key: str, value) -> None:
    lines = path.read_text().splitlines()
    current = ""
    header_idx = None
    for i, line in enumerate(lines):
        s = line.strip()
        m = re.match(r"^\[([A-Za-z0-9_.-]+)\]$", s)
        if m:
            current = m.group(1)
            if current == table:
                header_idx = i
            continue
        if current == table and re.match(rf"^{re.escape(key)}\s*=", s):
            lines[i] = f"{key} = {_toml_value(value)}"
            path.write_text("\n".join(lines) + "\n")
            return
    if table == "":
        lines.insert(0, f"{key} = {_toml_value(value)}")
    elif header_idx is None:
        lines += ["", f"[{table}]", f"{key} = {_toml_value(value)}"]
    else:
        lines.insert(header_idx + 1, f"{key} = {_toml_value(value)}")
    path.write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------
# the Tresor instance

@dataclass
class ClientCert:
    key: Path
    crt: Path
    sha256: str = ""


class Tresor:
    """One tresor instance in its own temp var dir.

    Usage: t = Tresor(); t.init(); t.peer_add(...); t.start(); ...; t.close()
    """

    def __init__(self, ae_title: str = AE, name: str = "tresor"):
        require_binary()
        self.ae = ae_title
        self.root = Path(tempfile.mkdtemp(prefix=f"itest-{name}-"))
        self.var = self.root / "var"
        self.certs = self.root / "certs"
        self.certs.mkdir()
        self.tls_port = 0
        self.plaintext_port = 0
        self.https_port = 0
        self.admin_password = ""
        self.init_run: Run | None = None
        self.proc: subprocess.Popen | None = None
        self.output: list[str] = []
        self._reader: threading.Thread | None = None
        self._ready = threading.Event()
        self._closed = False

    # --- paths
    @property
    def toml(self) -> Path:
        return self.var / "tresor.toml"

    @property
    def ca(self) -> Path:
        return self.var / "pki" / "ca.crt"

    @property
    def audit_file(self) -> Path:
        return self.var / "audit" / "audit.jsonl"

    @property
    def index_db(self) -> Path:
        return self.var / "index.db"

    def index_query(self, sql: str) -> list[tuple]:
        """Rows of one read-only SQL statement (`tresor index sql`: the index is
        encrypted at rest, Python's sqlite3 cannot read it). Raises RuntimeError
        if the command fails."""
        r = self.cli("index", "sql", sql)
        if r.rc != 0:
            raise RuntimeError(f"tresor index sql failed:\n{r}")
        # Rows are JSON arrays; log lines ("2026-12-07T23:43:45.772 error ...", e.g. the audit
        # trail's free-space alert on a full disk) may come between them.
        rows = []
        for line in r.stdout.splitlines():
            if not line.strip() or re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line):  # a log line: "time level ..."
                continue
            try:
                rows.append(tuple(json.loads(line)))
            except json.JSONDecodeError as e:
                raise RuntimeError(f"tresor index sql printed a line that is no row: {line!r}\n{r}") from e
        return rows

    def stored_objects(self, keys: list[str], out_dir: Path) -> set[str]:
        """Writes the plaintext of the stored objects `keys` to out_dir/KEY in one
        `tresor store cat` (objects are encrypted at rest); returns the keys written
        (a missing object or one that does not decrypt is left out)."""
        keys = sorted(set(keys))
        if not keys:
            return set()
        if len(keys) == 1:  # with one key, --out names the file
            out_dir.mkdir(parents=True, exist_ok=True)
            ok = self.cli("store", "cat", keys[0], "--out", str(out_dir / keys[0])).rc == 0
            return set(keys) if ok else set()
        self.cli("store", "cat", *keys, "--out", str(out_dir), timeout=600)
        return {k for k in keys if (out_dir / k).is_file()}

    @property
    def store_dir(self) -> Path:
        return self.var / "store"

    # --- CLI
    def cli(self, *args, timeout: float = 60, input: str | None = None) -> Run:
        return run([TRESOR_BIN, "--var", self.var, *args], timeout=timeout, input=input)

    def cli_ok(self, *args, timeout: float = 60, input: str | None = None) -> Run:
        r = self.cli(*args, timeout=timeout, input=input)
        if r.rc != 0:
            raise AssertionError(f"tresor CLI failed:\n{r}")
        return r

    def init(self, plaintext: bool = False, init_args: tuple[str, ...] = (), **overrides) -> "Tresor":
        """`tresor init [init_args]`, then loopback-only ports. overrides: {(table, key): value}."""
        r = self.cli("init", "--ae-title", self.ae, *init_args, timeout=120)
        self.init_run = r
        if r.rc != 0:
            raise AssertionError(f"tresor init failed:\n{r}")
        m = re.search(r"^admin password: (\S+)\s*$", r.stdout, re.M)
        if not m:
            raise AssertionError(f"init printed no 'admin password:' line:\n{r}")
        self.admin_password = m.group(1)
        self.tls_port = free_port()
        self.configure("dimse", "tls_bind", "127.0.0.1")
        self.configure("dimse", "tls_port", self.tls_port)
        self.https_port = free_port()
        self.configure("http", "bind", "127.0.0.1")
        self.configure("http", "port", self.https_port)
        if plaintext:
            self.enable_plaintext()
        for (table, key), value in overrides.items():
            self.configure(table, key, value)
        return self

    def configure(self, table: str, key: str, value) -> None:
        set_toml(self.toml, table, key, value)

    def enable_plaintext(self, bind: str = "127.0.0.1") -> None:
        self.plaintext_port = free_port()
        self.configure("dimse", "plaintext_enabled", True)
        self.configure("dimse", "plaintext_bind", bind)
        self.configure("dimse", "plaintext_port", self.plaintext_port)

    def cert_issue(self, cn: str, peer: str | None = None, out: Path | None = None) -> ClientCert:
        out = out or (self.certs / cn)
        out.mkdir(parents=True, exist_ok=True)
        args = ["cert", "issue", "--cn", cn, "--out", out]
        if peer:
            args += ["--peer", peer]
        r = self.cli_ok(*args)
        m = re.search(r"sha256:\s*([0-9a-fA-F]{64})", r.stdout)
        return ClientCert(out / f"{cn}.key", out / f"{cn}.crt", m.group(1).lower() if m else "")

    def peer_add(self, ae: str, ops: str, hosts=("127.0.0.1",), port: int | None = None, plaintext: bool = False,
                 require_user: bool = False, unlimited_find: bool = False, cert: bool = True) -> ClientCert | None:
        """Registers a peer and (cert=True) issues a client certificate pinned to it."""
        args = ["peer", "add", ae]
        for h in hosts:
            args += ["--host", h]
        if port:
            args += ["--port", str(port)]
        args += ["--ops", ops]
        if plaintext:
            args.append("--plaintext")
        if require_user:
            args.append("--require-user")
        if unlimited_find:
            args.append("--unlimited-find")
        self.cli_ok(*args)
        return self.cert_issue(ae, peer=ae) if cert else None

    def user_add(self, name: str, roles: str, password: str) -> Run:
        return self.cli_ok("user", "add", name, "--role", roles, "--password-stdin", input=password + "\n")

    # --- serve
    def start(self, timeout: float = 60.0) -> "Tresor":
        if self.proc and self.proc.poll() is None:
            raise RuntimeError("already running")
        self._ready.clear()
        self.output = []
        self.proc = _register(subprocess.Popen([str(TRESOR_BIN), "--var", str(self.var), "serve"],
                                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                               stderr=subprocess.STDOUT, text=True, errors="replace",
                                               start_new_session=True))
        proc = self.proc

        def reader():
            for line in proc.stdout:
                self.output.append(line.rstrip("\n"))
                if "listening dimse-tls" in line:
                    self._ready.set()
            self._ready.set()

        self._reader = threading.Thread(target=reader, daemon=True)
        self._reader.start()
        timeout *= TIMEOUT_SCALE
        self._ready.wait(timeout)
        if proc.poll() is not None or not any("listening dimse-tls" in l for l in self.output):
            out = "\n".join(self.output[-50:])
            stop_process(proc)
            raise AssertionError(f"tresor serve did not become ready within {timeout}s (rc={proc.poll()}):\n{out}")
        for port, marker in ((self.plaintext_port, "listening dimse-plaintext"), (self.https_port, "listening https")):
            if not port:
                continue
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None and not any(marker in l for l in self.output):
                time.sleep(0.05)
            if not any(marker in l for l in self.output):
                out = "\n".join(self.output[-50:])
                stop_process(proc)
                raise AssertionError(f"tresor serve did not report '{marker}' (rc={proc.poll()}):\n{out}")
        return self

    def stop(self) -> int | None:
        p, self.proc = self.proc, None
        stop_process(p)
        if self._reader:
            self._reader.join(timeout=5)
        if p and p.stdout:
            p.stdout.close()
        return p.returncode if p else None

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.stop()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop()
        if not os.environ.get("TRESOR_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        return "\n".join(self.output[-80:])

    # --- inspection
    def audit_events(self) -> list[dict]:
        """The audit trail's records, decrypted, oldest first (`tresor audit show --json`;
        the files under var/audit/ are encrypted and chained: never read them directly).
        Each call is itself audited (an audit_log_used record, shown by the next call)."""
        if not self.toml.exists():
            return []
        r = self.cli("audit", "show", "--json")
        if r.rc != 0:
            raise AssertionError(f"tresor audit show failed:\n{r}")
        events = []
        for line in r.stdout.splitlines():
            line = line.strip()
            if line:
                events.append(json.loads(line))
        return events

    def audit_text(self) -> str:
        """The whole decrypted trail as text (for "this secret never reaches the audit trail" checks)."""
        return "\n".join(json.dumps(e, ensure_ascii=False) for e in self.audit_events())

    def audit_verify(self) -> Run:
        return self.cli("audit", "verify")

    # --- clients
    def client(self, ae: str, cert: ClientCert | None = None, **kw) -> "Dcmtk":
        return Dcmtk(self, ae, cert, **kw)


# --------------------------------------------------------------------------
# DCMTK command-line clients

STATUS_RE = re.compile(r"DIMSE Status\s*:\s*0x([0-9a-fA-F]{4})")


class SharedTresorCase(unittest.TestCase):
    """One Tresor instance for a whole test class. Subclasses set `instance_name`
    and implement `prepare(cls, t)`; the instance is closed even when
    `prepare` fails, and again after the last test."""
    instance_name = "tresor"
    t: Tresor

    @classmethod
    def setUpClass(cls):
        require_binary()
        cls.t = Tresor(name=cls.instance_name)
        try:
            cls.prepare(cls.t)
        except BaseException:
            cls.t.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.t.close()

    @classmethod
    def prepare(cls, t: Tresor) -> None:
        t.init()
        t.start()

    def tmpdir(self, name: str) -> Path:
        """An empty directory of this test's own under the instance's root."""
        d = self.t.root / f"{self.id().rsplit('.', 1)[-1]}-{name}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d


@dataclass
class DimseResult:
    run: Run
    statuses: list[int] = field(default_factory=list)   # every DIMSE response status, in order

    @property
    def final(self) -> int | None:
        return self.statuses[-1] if self.statuses else None

    @property
    def associated(self) -> bool:
        return "Association Accepted" in self.run.out

    @property
    def rejected(self) -> bool:
        return "Association Rejected" in self.run.out

    def __str__(self) -> str:
        return f"statuses={[hex(s) for s in self.statuses]}\n{self.run}"


def is_failure(status: int | None) -> bool:
    """PS3.7 C: 0x0000 success, 0xFF00/0xFF01 pending, 0x0001/0xBxxx warning; the rest are failures."""
    if status is None:
        return True
    return not (status == 0 or status in (0xFF00, 0xFF01, 0x0001) or (status & 0xF000) == 0xB000)


class Dcmtk:
    """Runs DCMTK tools as one calling AE against one Tresor instance.

    tls: 'cert' (mutual TLS with `cert`), 'anon' (+tla: server-authenticated
    TLS, no client certificate), 'none' (plain TCP). The server certificate is
    always verified against the instance's CA (+cf), never ignored.
    """

    def __init__(self, tresor: Tresor, ae: str, cert: ClientCert | None = None, tls: str | None = None,
                 called: str | None = None, port: int | None = None, host: str = "127.0.0.1",
                 user: str | None = None, password: str | None = None, timeout: float = 60):
        self.t = tresor
        self.ae = ae
        self.cert = cert
        self.tls = tls or ("cert" if cert else "anon")
        self.called = called or tresor.ae
        self.port = port or tresor.tls_port
        self.host = host
        self.user = user
        self.password = password
        self.timeout = timeout

    def _tls_args(self) -> list[str]:
        if self.tls == "cert":
            assert self.cert is not None
            return ["+tls", str(self.cert.key), str(self.cert.crt), "+cf", str(self.t.ca)]
        if self.tls == "anon":
            return ["+tla", "+cf", str(self.t.ca)]
        return []

    def _common(self) -> list[str]:
        return ["-aet", self.ae, "-aec", self.called, "-to", "10", "-ta", "15", "-td", "30"]

    def _ident(self) -> list[str]:
        if self.user is None:
            return []
        return ["--user", self.user, "--password", self.password or ""]

    def _target(self, proxy: "TlsProxy | None") -> tuple[list[str], list[str]]:
        """(TLS args, [host, port]): direct to the server, or plain TCP to a TlsProxy."""
        if proxy is not None:
            return [], ["127.0.0.1", str(proxy.port)]
        return self._tls_args(), [self.host, str(self.port)]

    def echo(self, proxy: "TlsProxy | None" = None) -> DimseResult:
        tls, target = self._target(proxy)
        r = run(["echoscu", "-d", *self._common(), *tls, *target], timeout=self.timeout)
        # echoscu logs no DIMSE status dump, only "Received Echo Response (<text>)".
        statuses = [0 if m == "Success" else 0xFFFF for m in re.findall(r"Received Echo Response \(([^)]*)\)", r.out)]
        return DimseResult(r, statuses)

    def store(self, files, extra: list[str] | None = None, debug: bool = True, timeout: float | None = None,
              proxy: "TlsProxy | None" = None) -> DimseResult:
        tls, target = self._target(proxy)
        ident = [] if proxy is not None else self._ident()
        args = ["storescu", "-d" if debug else "-v", "-nh", *self._common(), *tls, *ident,
                *(extra or []), *target, *[str(f) for f in files]]
        r = run(args, timeout=timeout or self.timeout)
        return DimseResult(r, [int(x, 16) for x in STATUS_RE.findall(r.out)])

    def find(self, keys: list[str], level: str = "STUDY", extra: list[str] | None = None,
             proxy: "TlsProxy | None" = None) -> DimseResult:
        tls, target = self._target(proxy)
        args = ["findscu", "-d", "-S", *self._common(), *tls, "-k", f"QueryRetrieveLevel={level}"]
        for k in keys:
            args += ["-k", k]
        r = run([*args, *(extra or []), *target], timeout=self.timeout)
        return DimseResult(r, [int(x, 16) for x in STATUS_RE.findall(r.out)])

    # getscu / movescu in DCMTK 3.6.7 have no TLS options: they go through a TlsProxy.
    def get(self, keys: list[str], outdir: Path, level: str = "STUDY", extra: list[str] | None = None,
            proxy: "TlsProxy | None" = None) -> DimseResult:
        outdir.mkdir(parents=True, exist_ok=True)
        port = proxy.port if proxy else self.port
        args = ["getscu", "-d", "-S", "-aet", self.ae, "-aec", self.called, "-to", "10", "-ta", "15", "-td", "30",
                "-od", str(outdir), "-k", f"QueryRetrieveLevel={level}"]
        for k in keys:
            args += ["-k", k]
        r = run([*args, *(extra or []), "127.0.0.1", str(port)], timeout=self.timeout)
        return DimseResult(r, [int(x, 16) for x in STATUS_RE.findall(r.out)])

    def move(self, keys: list[str], dest: str, level: str = "STUDY", proxy: "TlsProxy | None" = None) -> DimseResult:
        port = proxy.port if proxy else self.port
        args = ["movescu", "-d", "-S", "-aet", self.ae, "-aec", self.called, "-aem", dest, "-to", "10", "-ta", "15",
                "-td", "30", "-k", f"QueryRetrieveLevel={level}"]
        for k in keys:
            args += ["-k", k]
        r = run([*args, "127.0.0.1", str(port)], timeout=self.timeout)
        return DimseResult(r, [int(x, 16) for x in STATUS_RE.findall(r.out)])

    def proxy(self, **kw) -> "TlsProxy":
        """A TLS proxy presenting this client's certificate (if any) and identity (if any)."""
        identity = (self.user, self.password or "") if self.user is not None else None
        p = TlsProxy(self.t.ca, self.port, cert=self.cert if self.tls == "cert" else None, identity=identity, **kw)
        return p.start()


def find_matches(res: DimseResult) -> int:
    return sum(1 for s in res.statuses if s in (0xFF00, 0xFF01))


from tlsproxy import TlsProxy  # noqa: E402


# --------------------------------------------------------------------------
# storescp as a C-MOVE destination

class StoreScp:
    """dcmtk storescp on loopback; records incoming connections in its log."""

    def __init__(self, ae: str, outdir: Path, tls: tuple[Path, Path, Path] | None = None, port: int | None = None,
                 extra: list[str] | None = None, verify_client: bool = True):
        self.extra = extra or []
        self.verify_client = verify_client
        self.ae = ae
        self.outdir = outdir
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.tls = tls
        self.log_path = outdir.parent / f"storescp-{ae}-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "StoreScp":
        args = ["storescp", "-v", "-aet", self.ae, "-od", str(self.outdir), "+xa", "-ta", "10", "-ts", "10"]
        if self.tls:
            key, crt, ca = self.tls
            # -rc: mutual TLS (the client must present a certificate from `ca`); -ic: server-authenticated only.
            args += ["+tls", str(key), str(crt), "+cf", str(ca), "-rc" if self.verify_client else "-ic"]
        args += self.extra
        args.append(str(self.port))
        self._log = open(self.log_path, "w")
        self.proc = _register(subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                               stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                s.settimeout(0.2)
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            if self.proc.poll() is not None:
                raise AssertionError(f"storescp exited: {self.log()}")
            time.sleep(0.05)
        time.sleep(0.3)  # let storescp log the readiness probe, which is not a test connection
        self.baseline = len(self.log())
        return self

    def new_log(self) -> str:
        """What storescp logged after start() (i.e. without the readiness probe)."""
        return self.log()[getattr(self, "baseline", 0):]

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def files(self) -> list[Path]:
        return sorted(p for p in self.outdir.rglob("*") if p.is_file())

    def close(self) -> None:
        stop_process(self.proc, term_wait=5)
        if getattr(self, "_log", None):
            self._log.close()


# --------------------------------------------------------------------------
# DICOM helpers

def dcmdump_normalized(path: Path) -> list[str]:
    """dcmdump of the data set only (no group 0002), independent of the encoding:
    lengths, item/sequence delimiters, group lengths and padding are dropped."""
    r = run(["dcmdump", "-q", "+L", "-dc", str(path)], timeout=60)
    lines = []
    for line in r.stdout.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.match(r"^\(([0-9a-fA-F]{4}),([0-9a-fA-F]{4})\)", s)
        if not m:
            continue
        group, elem = m.group(1).lower(), m.group(2).lower()
        if group == "0002" or elem == "0000" or (group, elem) == ("fffc", "fffc"):
            continue
        if group == "fffe" and elem in ("e00d", "e0dd"):
            continue
        s = re.sub(r"\s+#\s*(\d+|u/l),\s*", " # ", s)          # drop the length column
        s = re.sub(r"\((Item|Sequence) with (explicit|undefined) length", r"(\1", s)
        s = re.sub(r"\s+", " ", s)
        # Trailing value padding is insignificant in DICOM, and storescu's
        # re-encoding pads odd-length values (it never sends bytes verbatim).
        s = re.sub(r" +(?=[\\\]])", "", s)
        indent = len(line) - len(line.lstrip(" "))
        lines.append(f"{indent:02d} {s}")
    return lines


def make_ca(dirpath: Path, cn: str = "Rogue CA") -> tuple[Path, Path]:
    """A separate CA made with the openssl CLI."""
    dirpath.mkdir(parents=True, exist_ok=True)
    key, crt = dirpath / "ca.key", dirpath / "ca.crt"
    r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", crt, "-days", "2", "-subj", f"/CN={cn}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    assert r.rc == 0, str(r)
    return key, crt


def make_client_cert(dirpath: Path, ca_key: Path, ca_crt: Path, cn: str) -> ClientCert:
    key, csr, crt, ext = dirpath / f"{cn}.key", dirpath / f"{cn}.csr", dirpath / f"{cn}.crt", dirpath / f"{cn}.ext"
    ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n")
    r = run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", f"/CN={cn}"])
    assert r.rc == 0, str(r)
    r = run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
             "-out", crt, "-days", "2", "-extfile", ext])
    assert r.rc == 0, str(r)
    return ClientCert(key, crt)


def make_server_cert(dirpath: Path, ca_key: Path, ca_crt: Path, cn: str) -> ClientCert:
    """A TLS server certificate (EKU serverAuth, SAN 127.0.0.1) signed by the given CA, e.g. for a
    C-MOVE destination: `tresor cert issue` only issues client certificates."""
    dirpath.mkdir(parents=True, exist_ok=True)
    key, csr, crt, ext = dirpath / f"{cn}.key", dirpath / f"{cn}.csr", dirpath / f"{cn}.crt", dirpath / f"{cn}.ext"
    ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    r = run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", f"/CN={cn}"])
    assert r.rc == 0, str(r)
    r = run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
             "-CAserial", dirpath / "ca.srl", "-out", crt, "-days", "2", "-extfile", ext])
    assert r.rc == 0, str(r)
    return ClientCert(key, crt)


def idle_connections(port: int, n: int, host: str = "127.0.0.1") -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=5)
        socks.append(s)
    return socks


def wait_until(pred, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def uid(prefix: str = "2.25.") -> str:
    return prefix + str(random.getrandbits(120))

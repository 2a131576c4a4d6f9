#!/usr/bin/env python3
"""DICOMweb benchmark: Tresor vs Orthanc's DICOMweb plugin, back to back, same datasets.

Prints one line per measurement and the ratios issue 3 targets:
  * QIDO-RS  GET /dicom-web/studies?PatientID=<id>: per-request latency (p50, p95) over one
    keep-alive connection, at --instances instances for both servers, then (Tresor only) after
    growing the index to --grow instances with bench_populate_index (Tresor stopped meanwhile).
  * WADO-RS  GET /dicom-web/studies/<uid> of one study of --wado-images 512x512 images as
    multipart/related; type="application/dicom"; transfer-syntax=*: MB/s, and the server's
    RSS while it streams (VmRSS sampled every 5 ms, VmHWM before/after).
  * STOW-RS  POST /dicom-web/studies of small CT instances, 1 per request and --stow-batch per
    request: instances/s and server CPU per instance.

Tresor speaks HTTPS only (TLS 1.3 here); Orthanc is reached over plain HTTP, which favours
Orthanc. Both check HTTP Basic credentials on every request (Tresor caches a verified
password for 5 minutes; Orthanc compares strings). The client is Python's http.client with
one persistent connection per server; its own CPU time is printed next to each figure (on a
2-core machine it shares the cores with the server).

Usage: bench/dicomweb_bench.py --build build [--tresor PATH] [--instances 20000] [--grow 200000]
       bench/dicomweb_bench.py --build build --only stow [--skip-orthanc]   (STOW-RS part only)
Needs: dcmtk (storescu), curl, orthanc, orthanc-dicomweb, python3-pydicom (for gen-dataset).
Loopback only. The tresor and bench_populate_index binaries are copied into the work directory
first, so a rebuild during the run changes nothing. About 10 minutes on 2 shared cores.
"""
import argparse, base64, csv, http.client, json, os, random, re, secrets, shutil, ssl, statistics
import subprocess, sys, tempfile, threading, time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dimse_bench import ENV, GEN, REPO, cpu_seconds, free_port, stop, storescu, wait_port  # noqa: E402

ORTHANC_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
WADO_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def gen_dataset(out, patients, series, per_series, seed, size="small"):
    subprocess.run(["/usr/bin/python3", str(GEN), "--patients", str(patients), "--studies-per-patient", "1",
                    "--series-per-study", str(series), "--instances-per-series", str(per_series), "--out", str(out),
                    "--seed", str(seed), "--size", size, "--quiet"], check=True)
    (out / "studies.csv").rename(out.with_suffix(".csv"))  # keep the directory DICOM only (import, storescu)
    return sorted(out.rglob("*.dcm"))


def rss_mb(pid, key="VmRSS:"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return 0.0


def client_cpu():
    t = os.times()
    return t.user + t.system


class Client:
    """One keep-alive HTTP/1.1 connection; every request sends Basic credentials."""

    def __init__(self, name, port, user, password, ca=None):
        self.name = name
        if ca:
            ctx = ssl.create_default_context(cafile=str(ca))
            self.conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=600)
        else:
            self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.reconnects = 0    # responses after which the server closed the connection
        self.idle_drops = 0    # idle connections the server had closed when we sent the next request

    def request(self, method, path, headers=None, body=None):
        h = {"Authorization": self.auth, **(headers or {})}
        try:
            self.conn.request(method, path, body=body, headers=h)
            resp = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The server dropped the idle keep-alive connection before reading this request
            # (Orthanc does after a few idle seconds): reconnect once and resend.
            self.idle_drops += 1
            self.conn.close()
            self.conn.request(method, path, body=body, headers=h)
            resp = self.conn.getresponse()
        if resp.will_close:
            self.reconnects += 1
        return resp

    def get(self, path, accept):
        resp = self.request("GET", path, {"Accept": accept})
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: {resp.status} {body[:300]!r}")
        return body

    def close(self):
        self.conn.close()


class Tresor:
    def __init__(self, binary, work):
        self.bin = str(binary); self.var = work / "tresor-var"
        self.http_port = free_port(); self.tls_port = free_port()
        subprocess.run([self.bin, "--var", str(self.var), "init", "--ae-title", "BENCH"], check=True,
                       capture_output=True)
        toml = (self.var / "tresor.toml").read_text()

        def setkey(section, key, value):
            nonlocal toml
            m = re.search(rf"(?m)^\[{section}\]$", toml)
            head, tail = toml[:m.end()], toml[m.end():]
            tail, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", tail, count=1)
            assert n == 1, (section, key)
            toml = head + tail

        setkey("dimse", "tls_bind", '"127.0.0.1"'); setkey("dimse", "tls_port", self.tls_port)
        setkey("http", "bind", '"127.0.0.1"'); setkey("http", "port", self.http_port)
        setkey("login", "source_max_failures", 1000000)
        (self.var / "tresor.toml").write_text(toml)
        self.user, self.password = "bench", "Bench-" + secrets.token_urlsafe(18)
        subprocess.run([self.bin, "--var", str(self.var), "user", "add", self.user, "--role",
                        "clinician,technologist", "--password-stdin"], input=self.password + "\n", text=True,
                       check=True, capture_output=True)
        self.ca = self.var / "pki" / "ca.crt"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.bin, "--var", str(self.var), "serve"], env=ENV,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.http_port, 60)
        return self.proc

    def import_dir(self, d):
        r = subprocess.run([self.bin, "--var", str(self.var), "import", str(d)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("tresor import failed: " + r.stderr[-2000:])
        return r.stdout.strip()

    def client(self):
        return Client("tresor", self.http_port, self.user, self.password, self.ca)


class Orthanc:
    def __init__(self, work):
        self.dir = work / "orthanc"; self.dir.mkdir()
        self.dicom_port = free_port(); self.http_port = free_port()
        self.user, self.password = "bench", "Bench-" + secrets.token_urlsafe(18)
        cfg = {"Name": "bench", "StorageDirectory": str(self.dir / "db"), "IndexDirectory": str(self.dir / "db"),
               "DicomAet": "ORTHANC", "DicomPort": self.dicom_port, "DicomServerEnabled": True,
               "HttpPort": self.http_port, "HttpServerEnabled": True, "RemoteAccessAllowed": False,
               "AuthenticationEnabled": True, "RegisteredUsers": {self.user: self.password},
               "KeepAlive": True, "TcpNoDelay": True, "HttpCompressionEnabled": False,
               "StorageCompression": False, "Plugins": [ORTHANC_PLUGIN],
               "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False}}
        (self.dir / "orthanc.json").write_text(json.dumps(cfg))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["Orthanc", str(self.dir / "orthanc.json")], env=ENV,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.http_port, 60); wait_port(self.dicom_port, 60)
        return self.proc

    def client(self):
        return Client("orthanc", self.http_port, self.user, self.password)


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def qido(name, client, ids, n, pid):
    """n timed exact-PatientID study queries (after 20 untimed), cycling through ids."""
    order = list(ids); random.Random(1).shuffle(order)
    lat, studies, attrs = [], 0, 0
    for i in range(20):
        client.get(f"/dicom-web/studies?PatientID={quote(order[i % len(order)])}", "application/dicom+json")
    c0, s0, w0 = client_cpu(), cpu_seconds(pid), time.perf_counter()
    for i in range(n):
        path = f"/dicom-web/studies?PatientID={quote(order[i % len(order)])}"
        t0 = time.perf_counter()
        body = client.get(path, "application/dicom+json")
        lat.append(time.perf_counter() - t0)
        doc = json.loads(body) if body else []
        studies += len(doc)
        attrs = max(attrs, max((len(x) for x in doc), default=0))
    wall, ccpu, scpu = time.perf_counter() - w0, client_cpu() - c0, cpu_seconds(pid) - s0
    res = dict(p50=1000 * percentile(lat, 0.5), p95=1000 * percentile(lat, 0.95), per=studies / n,
               client=100 * ccpu / wall, server_ms=1000 * scpu / n)
    print(f"qido   {name:34s} p50 {res['p50']:7.3f} ms  p95 {res['p95']:7.3f} ms  studies/query {res['per']:.2f} "
          f"({attrs} attributes)  "
          f"server CPU {res['server_ms']:.3f} ms/query  client CPU {res['client']:.0f}% of wall", flush=True)
    return res


def fetch_python(client, study, expect_parts):
    """Retrieves the study over the client's keep-alive connection; returns the body size in bytes
    after checking the number of parts (delimiters are counted in place, no copy of the body)."""
    buf = bytearray(1 << 20)

    def retrieve():
        resp = client.request("GET", f"/dicom-web/studies/{study}", {"Accept": WADO_ACCEPT})
        if resp.status != 200:
            raise RuntimeError(f"WADO-RS {client.name}: {resp.status} {resp.read()[:300]!r}")
        ctype = resp.getheader("Content-Type", "")
        m = re.search(r'boundary="?([^";]+)"?', ctype)
        if not m or not ctype.startswith("multipart/related"):
            raise RuntimeError(f"WADO-RS {client.name}: not multipart: {ctype}")
        delim = b"\r\n--" + m.group(1).encode()
        keep = len(delim) - 1
        total = parts = 0; tail = b"\r\n"  # the first delimiter may open the body without CRLF
        while True:
            k = resp.readinto(buf)
            if not k:
                break
            total += k
            parts += buf.count(delim, 0, k)
            head = bytes(buf[:min(k, keep)])
            parts += (tail + head).count(delim)  # only delimiters straddling two reads fit here
            tail = (tail + head)[-keep:] if k < keep else bytes(buf[k - keep:k])
        parts -= 1  # the closing delimiter
        if parts != expect_parts:
            raise RuntimeError(f"WADO-RS {client.name}: {parts} parts, expected {expect_parts}")
        return total

    return retrieve


def fetch_curl(port, study, user, password, ca=None):
    """Retrieves the study with curl (a new connection each time; credentials on stdin, not argv)."""
    scheme = "https" if ca else "http"
    cfg = [f'url = "{scheme}://127.0.0.1:{port}/dicom-web/studies/{study}"', f'user = "{user}:{password}"',
           'header = "Accept: ' + WADO_ACCEPT.replace('"', '\\"') + '"', 'output = "/dev/null"', "fail",
           'write-out = "%{http_code} %{size_download}"', "silent", "show-error"]
    if ca:
        cfg.append(f'cacert = "{ca}"')

    def retrieve():
        r = subprocess.run(["curl", "-K", "-"], input="\n".join(cfg) + "\n", capture_output=True, text=True)
        code, size = (r.stdout.split() + ["?", "0"])[:2]
        if r.returncode != 0 or code != "200":
            raise RuntimeError(f"curl WADO-RS: {code} {r.stderr[-300:]}")
        return int(size)

    return retrieve


def children_cpu():
    t = os.times()
    return t.children_user + t.children_system


def wado(name, retrieve, pid, cpu=client_cpu, runs=5):
    """One untimed retrieval, then `runs` timed ones; the server's RSS is sampled every 5 ms."""
    base_rss = rss_mb(pid); hwm0 = rss_mb(pid, "VmHWM:")
    retrieve()
    samples, done = [], threading.Event()

    def sampler():
        while not done.is_set():
            try: samples.append(rss_mb(pid))
            except OSError: break
            time.sleep(0.005)

    th = threading.Thread(target=sampler); th.start()
    rates, ccpu, wall_all, scpu = [], 0.0, 0.0, 0.0
    try:
        for _ in range(runs):
            c0, s0, t0 = cpu(), cpu_seconds(pid), time.perf_counter()
            total = retrieve()
            dt = time.perf_counter() - t0
            ccpu += cpu() - c0; scpu += cpu_seconds(pid) - s0; wall_all += dt
            rates.append(total / dt / 1e6)
    finally:
        done.set(); th.join()
    res = dict(mbs=statistics.median(rates), rates=rates, bytes=total, base=base_rss, peak=max(samples + [base_rss]),
               hwm0=hwm0, hwm1=rss_mb(pid, "VmHWM:"), client=100 * ccpu / wall_all, server=100 * scpu / wall_all)
    print(f"wado   {name:34s} {res['mbs']:7.1f} MB/s (runs {', '.join(f'{r:.0f}' for r in rates)})  "
          f"{total / 1e6:.1f} MB/study  RSS {base_rss:.1f} -> peak {res['peak']:.1f} MB  VmHWM {hwm0:.1f} -> "
          f"{res['hwm1']:.1f} MB  server CPU {res['server']:.0f}%, client CPU {res['client']:.0f}% of wall",
          flush=True)
    return res


def multipart(files, boundary):
    out = []
    for f in files:
        out += [b"--", boundary, b"\r\nContent-Type: application/dicom\r\n\r\n", f.read_bytes(), b"\r\n"]
    out += [b"--", boundary, b"--\r\n"]
    return b"".join(out)


def stow(name, client, files, per_request, pid):
    boundary = secrets.token_hex(16).encode()
    bodies = [multipart(files[i:i + per_request], boundary) for i in range(0, len(files), per_request)]
    ctype = f'multipart/related; type="application/dicom"; boundary={boundary.decode()}'
    stored = 0
    c0, s0, t0 = client_cpu(), cpu_seconds(pid), time.perf_counter()
    for body in bodies:
        resp = client.request("POST", "/dicom-web/studies", {"Content-Type": ctype, "Accept": "application/dicom+json",
                                                             "Content-Length": str(len(body))}, body)
        answer = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"STOW-RS {name}: {resp.status} {answer[:500]!r}")
        doc = json.loads(answer)
        if doc.get("00081198", {}).get("Value"):
            raise RuntimeError(f"STOW-RS {name}: failures {answer[:500]!r}")
        stored += len(doc.get("00081199", {}).get("Value", []))
    dt = time.perf_counter() - t0
    ccpu, scpu = client_cpu() - c0, cpu_seconds(pid) - s0
    if stored != len(files):
        raise RuntimeError(f"STOW-RS {name}: {stored} referenced, sent {len(files)}")
    res = dict(ips=len(files) / dt, server_ms=1000 * scpu / len(files), client=100 * ccpu / dt, secs=dt)
    print(f"stow   {name:34s} {res['ips']:7.1f} inst/s  server CPU {res['server_ms']:.2f} ms/inst  "
          f"client CPU {res['client']:.0f}% of wall  ({len(files)} in {len(bodies)} requests, {dt:.1f} s)", flush=True)
    return res


def stow_only(a):
    """--only stow: both servers start empty; the STOW-RS part of main() only."""
    build = Path(a.build).resolve()
    work = Path(a.work or tempfile.mkdtemp(prefix="tresor-webbench-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="tresor-webbench-", dir="/dev/shm"))
    procs, t_start = [], time.time()
    try:
        (work / "bin").mkdir(exist_ok=True)
        tbin = work / "bin" / "tresor"; shutil.copy2(a.tresor or build / "app" / "tresor", tbin)
        s_files = gen_dataset(data / "ds-stow", (a.stow_single + a.stow_batched + 9) // 10, 1, 10, 3)
        single, batched = s_files[:a.stow_single], s_files[a.stow_single:a.stow_single + a.stow_batched]
        t = Tresor(tbin, work)
        tp = t.start(); procs.append(tp)
        tc = t.client()
        tc.get("/dicom-web/studies?limit=1", "application/dicom+json")
        ts1 = stow("tresor 1/request", tc, single, 1, tp.pid)
        tsb = stow(f"tresor {a.stow_batch}/request", tc, batched, a.stow_batch, tp.pid)
        tc.close(); stop(tp)
        if not a.skip_orthanc:
            o = Orthanc(work)
            op = o.start(); procs.append(op)
            oc = o.client()
            oc.get("/dicom-web/studies?limit=1", "application/dicom+json")
            os1 = stow("orthanc 1/request", oc, single, 1, op.pid)
            osb = stow(f"orthanc {a.stow_batch}/request", oc, batched, a.stow_batch, op.pid)
            oc.close(); stop(op)
            print(f"\nratios ({time.time() - t_start:.0f} s): STOW-RS inst/s tresor/orthanc: 1/request "
                  f"{ts1['ips'] / os1['ips']:.2f}, {a.stow_batch}/request {tsb['ips'] / osb['ips']:.2f} (target >= 5)")
    finally:
        for p in procs: stop(p)
        shutil.rmtree(data, ignore_errors=True)
        if not a.work: shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(REPO / "build"), help="build dir (bench_populate_index, default tresor)")
    ap.add_argument("--tresor", default=None, help="tresor binary (default BUILD/app/tresor); copied first")
    ap.add_argument("--instances", type=int, default=20000, help="instances in both archives for QIDO")
    ap.add_argument("--grow", type=int, default=200000, help="grow Tresor's index to this many instances (0 = skip)")
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--wado-images", type=int, default=300)
    ap.add_argument("--stow-single", type=int, default=200, help="instances sent one per request")
    ap.add_argument("--stow-batched", type=int, default=1000, help="instances sent --stow-batch per request")
    ap.add_argument("--stow-batch", type=int, default=50)
    ap.add_argument("--work", default=None, help="work directory on disk (default: a temp dir under /var/tmp)")
    ap.add_argument("--only", choices=["all", "stow"], default="all",
                    help="stow: only the STOW-RS part (empty archives, no QIDO/WADO datasets, no --grow)")
    ap.add_argument("--skip-orthanc", action="store_true", help="with --only stow: measure Tresor only")
    a = ap.parse_args()
    if a.skip_orthanc and a.only != "stow":
        ap.error("--skip-orthanc needs --only stow")
    if a.only == "stow":
        return stow_only(a)
    build = Path(a.build).resolve()
    work = Path(a.work or tempfile.mkdtemp(prefix="tresor-webbench-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    # The client's input files live on tmpfs: reading them costs the servers' disk nothing.
    data = Path(tempfile.mkdtemp(prefix="tresor-webbench-", dir="/dev/shm"))
    procs, t_start = [], time.time()
    try:
        # Private copies, so a rebuild during the run changes nothing under us.
        (work / "bin").mkdir(exist_ok=True)
        tbin = work / "bin" / "tresor"; shutil.copy2(a.tresor or build / "app" / "tresor", tbin)
        pop_bin = None
        if a.grow:
            pop_bin = work / "bin" / "bench_populate_index"
            shutil.copy2(build / "bench" / "bench_populate_index", pop_bin)

        # Datasets: QIDO set (10 small CT per patient), one 512x512 study, a fresh STOW set.
        wado_series = 3
        q_pat = max(1, (a.instances - a.wado_images) // 10)
        q_files = gen_dataset(data / "ds-qido", q_pat, 2, 5, 1)
        w_files = gen_dataset(data / "ds-wado", 1, wado_series, a.wado_images // wado_series, 2, "512")
        s_files = gen_dataset(data / "ds-stow", (a.stow_single + a.stow_batched + 9) // 10, 1, 10, 3)
        ids = sorted({r["PatientID"] for r in csv.DictReader(open(data / "ds-qido.csv"))})
        wado_study = next(csv.DictReader(open(data / "ds-wado.csv")))["StudyInstanceUID"]
        n0 = len(q_files) + len(w_files)
        print(f"datasets: qido {len(q_files)} small CT, {len(ids)} patients; wado 1 study of {len(w_files)} "
              f"512x512 ({sum(f.stat().st_size for f in w_files) / 1e6:.1f} MB of files); stow {len(s_files)} small CT "
              f"({time.time() - t_start:.0f} s)", flush=True)

        # Populate both archives (Tresor: import, no network; Orthanc: storescu), concurrently.
        t, o = Tresor(tbin, work), Orthanc(work)
        op = o.start(); procs.append(op)
        t0 = time.time()
        th = threading.Thread(target=lambda: [storescu(o.dicom_port, "ORTHANC", data / d) for d in ("ds-qido", "ds-wado")])
        th.start()
        out = [t.import_dir(data / d) for d in ("ds-qido", "ds-wado")]
        t_import = time.time() - t0
        th.join()
        print(f"load   tresor import {' / '.join(out)} ({t_import:.0f} s); orthanc storescu done "
              f"({time.time() - t0:.0f} s)", flush=True)
        tp = t.start(); procs.append(tp)
        tc, oc = t.client(), o.client()
        # Orthanc answers /dicom-web only when the plugin is loaded: fail early otherwise.
        oc.get("/dicom-web/studies?limit=1", "application/dicom+json")
        tc.get("/dicom-web/studies?limit=1", "application/dicom+json")
        cipher = tc.conn.sock.version() + " " + tc.conn.sock.cipher()[0]
        print(f"tresor https {cipher}; orthanc plain http", flush=True)
        for nm, pr in (("tresor", tp), ("orthanc", op)):
            print(f"memory {nm:34s} RSS {rss_mb(pr.pid):.1f} MB, VmHWM {rss_mb(pr.pid, 'VmHWM:'):.1f} MB after start",
                  flush=True)

        # 1. QIDO-RS at n0 instances, both
        tq = qido(f"tresor @{n0}", tc, ids, a.queries, tp.pid)
        oq = qido(f"orthanc @{n0}", oc, ids, a.queries, op.pid)

        # 2. WADO-RS of the 512x512 study, both
        tw = wado("tresor (python client)", fetch_python(tc, wado_study, len(w_files)), tp.pid)
        ow = wado("orthanc (python client)", fetch_python(oc, wado_study, len(w_files)), op.pid)
        twc = wado("tresor (curl)", fetch_curl(t.http_port, wado_study, t.user, t.password, t.ca), tp.pid,
                   children_cpu)
        owc = wado("orthanc (curl)", fetch_curl(o.http_port, wado_study, o.user, o.password), op.pid, children_cpu)

        # 3. STOW-RS, both: 1 instance per request, then a.stow_batch per request
        single, batched = s_files[:a.stow_single], s_files[a.stow_single:a.stow_single + a.stow_batched]
        ts1 = stow("tresor 1/request", tc, single, 1, tp.pid)
        tsb = stow(f"tresor {a.stow_batch}/request", tc, batched, a.stow_batch, tp.pid)
        os1 = stow("orthanc 1/request", oc, single, 1, op.pid)
        osb = stow(f"orthanc {a.stow_batch}/request", oc, batched, a.stow_batch, op.pid)
        closes = {c.name: [c.reconnects, c.idle_drops] for c in (tc, oc)}
        tc.close(); oc.close(); stop(op)

        # 4. Tresor only: grow the index (Tresor stopped), restart, QIDO again
        grown = grown_new = None
        n1 = n0 + len(single) + len(batched)
        if a.grow > n1:
            stop(tp)
            pop = subprocess.run([str(pop_bin), "--var", str(t.var), str(a.grow - n1)], capture_output=True,
                                 text=True, check=True)
            print("grow   " + pop.stderr.strip(), flush=True)
            tp = t.start(); procs.append(tp)
            tc = t.client()
            grown = qido(f"tresor @{a.grow} (same ids)", tc, ids, a.queries, tp.pid)
            grown_new = qido(f"tresor @{a.grow} (grown ids)", tc, pop.stdout.split(), a.queries, tp.pid)
            closes["tresor"][0] += tc.reconnects; closes["tresor"][1] += tc.idle_drops
            tc.close()
        stop(tp)

        print(f"\nratios (same run; {time.time() - t_start:.0f} s; connections closed by a server after a response / "
              f"while idle: {closes}):")
        print(f"  QIDO p50 @{n0}: tresor {tq['p50']:.3f} ms (target <= 5), orthanc {oq['p50']:.3f} ms, "
              f"orthanc/tresor {oq['p50'] / tq['p50']:.1f}")
        if grown:
            print(f"  QIDO p50 @{a.grow}: tresor {grown['p50']:.3f} ms (same ids), {grown_new['p50']:.3f} ms "
                  f"(grown ids); @{a.grow} / @{n0}: {grown['p50'] / tq['p50']:.2f} (target: flat)")
        print(f"  WADO-RS MB/s tresor/orthanc: {tw['mbs'] / ow['mbs']:.2f} python client, {twc['mbs'] / owc['mbs']:.2f} "
              f"curl (target >= 2.5); tresor RSS peak - baseline during retrieval: "
              f"{max(tw['peak'], twc['peak']) - tw['base']:.1f} MB for a {tw['bytes'] / 1e6:.0f} MB study (target: flat)")
        print(f"  STOW-RS inst/s tresor/orthanc: 1/request {ts1['ips'] / os1['ips']:.2f}, {a.stow_batch}/request "
              f"{tsb['ips'] / osb['ips']:.2f} (target >= 5)")
    finally:
        for p in procs: stop(p)
        t0 = time.time()
        shutil.rmtree(data, ignore_errors=True)
        if not a.work: shutil.rmtree(work, ignore_errors=True)
        print(f"cleanup {time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()

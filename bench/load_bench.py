#!/usr/bin/env python3
"""Load benchmark (issue 5): Tresor, then the Debian Orthanc (+ DICOMweb plugin), under the same load.

For each product, on an archive seeded with the same gen-dataset instances, at the same time for
--duration seconds:
  * --assocs DIMSE associations (bench_load_dimse, one thread each, DcmSCU), each held open and looping
    over a random mix of C-FIND (study level, exact PatientID), C-STORE (fresh UIDs, new studies) and
    C-GET (a whole seeded study; the sub-operations are checked);
  * --clients HTTPS clients (bench_load_http, one keep-alive connection each, Boost.Beast) looping over
    QIDO-RS (GET /dicom-web/studies?PatientID=) and WADO-RS (GET /dicom-web/studies/<uid>, parts checked).
The server's RSS and CPU time are sampled every second. Prints per operation: count, errors, p50, p99,
throughput; RSS start / max / end and whether it stays bounded (max over the last third of the run
<= 1.1 x max over the first third); CPU; then a table with Tresor/Orthanc ratios.
Exit status: 1 if Tresor had any error (or died), else 0.

Transport: DICOM over mutual TLS for both products (BCP 195 non-downgrading profile; the client
certificate and both server certificates from Tresor's local CA; Orthanc's DicomTls* options with
DicomTlsRemoteCertificateRequired); --dimse-plaintext uses plaintext DICOM for both instead. HTTP:
Tresor speaks HTTPS only; Orthanc is reached over plain HTTP (which favours Orthanc), because the
Debian Orthanc 1.10.1 crashes (SIGSEGV in a civetweb worker, jump to address 0) on its first HTTPS
request with SslEnabled here (--orthanc-https to try again). Both check HTTP Basic credentials of a
registered user on every request.
Concurrency limits raised on both to at least the load: Tresor dimse.workers/negotiators/max_pending and
http.handler_threads (= --clients, like Orthanc's thread per connection; http.io_threads keeps its default of 4
unless --tresor-io-threads is given: on 2 cores more io threads shift CPU from DIMSE to HTTPS), Orthanc
DicomThreadsCount/HttpThreadsCount. One authenticated request precedes each load, so that both servers
start with the Basic password verified and cached.

Usage: bench/load_bench.py --build build [--duration 180] [--quick] [--skip-orthanc] [--patients 300]
Needs: dcmtk (storescu), orthanc, orthanc-dicomweb, python3-pydicom; the build's app/tresor,
bench/bench_load_dimse and bench/bench_load_http (copied into the work directory first).
"""
import argparse, csv, json, os, re, secrets, shutil, subprocess, sys, tempfile, threading, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dimse_bench import ENV, GEN, REPO, cpu_seconds, free_port, stop, wait_port  # noqa: E402
from dicomweb_bench import ORTHANC_PLUGIN, Client, gen_dataset, rss_mb  # noqa: E402

DIMSE_OPS = ("find", "store", "get")
HTTP_OPS = ("qido", "wado")


class Tresor:
    """A fresh instance configured for the load: TLS DIMSE listener (plaintext too with
    --dimse-plaintext), HTTPS, one peer BENCH with a client certificate, one Basic user."""

    def __init__(self, binary, work, plaintext, assocs, clients, handler_threads, io_threads):
        self.name = "tresor"
        self.bin = str(binary); self.var = work / "tresor-var"
        self.tls_port, self.plain_port, self.http_port = free_port(), free_port(), free_port()
        self.aec = "TRESOR"
        subprocess.run([self.bin, "--var", str(self.var), "init", "--ae-title", self.aec], check=True,
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
        setkey("dimse", "plaintext_enabled", "true" if plaintext else "false")
        setkey("dimse", "plaintext_port", self.plain_port)
        # Every association served at once (a queued one would wait for a worker), with room to spare.
        setkey("dimse", "workers", max(128, 2 * assocs))
        setkey("dimse", "negotiators", max(256, 4 * assocs))   # one source may hold half of them
        setkey("dimse", "max_pending", max(64, assocs))
        setkey("http", "bind", '"127.0.0.1"'); setkey("http", "port", self.http_port)
        setkey("http", "max_connections", max(512, 4 * clients))
        # Every client connects from 127.0.0.1: lift the per-address caps (issue 11) for the benchmark.
        setkey("http", "max_connections_per_source", max(512, 4 * clients))
        setkey("http", "handshakes_per_source_per_s", 100000)
        setkey("http", "handler_threads", handler_threads)
        if io_threads:
            setkey("http", "io_threads", io_threads)
        setkey("login", "source_max_failures", 1000000)
        (self.var / "tresor.toml").write_text(toml)
        self.dimse_port = self.plain_port if plaintext else self.tls_port
        self.cli("peer", "add", "BENCH", "--host", "127.0.0.1", "--ops", "echo,store,find,get", "--unlimited-find",
                 *(["--plaintext"] if plaintext else []))
        self.certs = work / "certs"
        self.cli("cert", "issue", "--cn", "BENCH", "--out", str(self.certs))   # the client's certificate
        self.ca = self.var / "pki" / "ca.crt"
        self.client_tls = [str(self.certs / "BENCH.key"), str(self.certs / "BENCH.crt"), str(self.ca)]
        self.user, self.password = "bench", "Bench-" + secrets.token_urlsafe(18)
        subprocess.run([self.bin, "--var", str(self.var), "user", "add", self.user, "--role",
                        "clinician,technologist", "--password-stdin"], input=self.password + "\n", text=True,
                       check=True, capture_output=True)
        self.proc = None

    def cli(self, *args):
        subprocess.run([self.bin, "--var", str(self.var), *args], check=True, capture_output=True)

    def seed(self, d):
        r = subprocess.run([self.bin, "--var", str(self.var), "import", str(d)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("tresor import failed: " + r.stderr[-2000:])
        return r.stdout.strip()

    def start(self, log):
        self.proc = subprocess.Popen([self.bin, "--var", str(self.var), "serve"], env=ENV,
                                     stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.http_port, 60); wait_port(self.dimse_port, 60)
        return self.proc


class Orthanc:
    """The Debian orthanc with the DICOMweb plugin, DICOM TLS (client certificate required, Tresor's CA),
    plain HTTP (HTTPS if asked), thread pools raised to the load, defaults otherwise."""

    def __init__(self, work, tresor, plaintext, assocs, clients, https):
        self.name = "orthanc"
        self.https = https
        self.dir = work / "orthanc"; self.dir.mkdir()
        self.dimse_port, self.http_port = free_port(), free_port()
        self.aec = "ORTHANC"
        self.user, self.password = tresor.user, tresor.password
        self.ca, self.client_tls = tresor.ca, tresor.client_tls
        # `tresor cert issue` makes client certificates (clientAuth only): Orthanc's server certificate
        # is signed here by the same local CA with openssl, for serverAuth and clientAuth.
        crt, key = self.dir / "orthanc.crt", self.dir / "orthanc.key"
        ext = self.dir / "ext.cnf"
        ext.write_text("keyUsage=critical,digitalSignature,keyEncipherment\n"
                       "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", str(key), "-subj", "/CN=ORTHANC", "-out", str(self.dir / "orthanc.csr")],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", str(self.dir / "orthanc.csr"), "-CA", str(tresor.ca),
                        "-CAkey", str(tresor.var / "pki" / "ca.key"), "-CAcreateserial",
                        "-CAserial", str(self.dir / "ca.srl"), "-days", "2", "-extfile", str(ext), "-out", str(crt)], check=True, capture_output=True)
        key.chmod(0o600)
        pem = self.dir / "https.pem"
        pem.write_text(crt.read_text() + key.read_text()); pem.chmod(0o600)
        cfg = {"Name": "bench", "StorageDirectory": str(self.dir / "db"), "IndexDirectory": str(self.dir / "db"),
               "DicomAet": self.aec, "DicomPort": self.dimse_port, "DicomServerEnabled": True,
               "DicomModalities": {"bench": ["BENCH", "127.0.0.1", 1]},
               "DicomAlwaysAllowFind": True, "DicomAlwaysAllowGet": True, "DicomAlwaysAllowStore": True,
               "DicomThreadsCount": max(128, 2 * assocs),
               "HttpPort": self.http_port, "HttpServerEnabled": True, "RemoteAccessAllowed": False,
               "HttpThreadsCount": max(128, 2 * clients),
               "SslEnabled": https, "SslCertificate": str(pem),
               "AuthenticationEnabled": True, "RegisteredUsers": {self.user: self.password},
               "KeepAlive": True, "TcpNoDelay": True, "HttpCompressionEnabled": False,
               "StorageCompression": False, "Plugins": [ORTHANC_PLUGIN],
               "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False}}
        if not plaintext:
            cfg.update({"DicomTlsEnabled": True, "DicomTlsCertificate": str(crt), "DicomTlsPrivateKey": str(key),
                        "DicomTlsTrustedCertificates": str(self.ca), "DicomTlsRemoteCertificateRequired": True})
        self.plaintext = plaintext
        (self.dir / "orthanc.json").write_text(json.dumps(cfg, indent=1))
        self.proc = None

    def start(self, log):
        self.proc = subprocess.Popen(["Orthanc", str(self.dir / "orthanc.json")], env=ENV,
                                     stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.http_port, 60); wait_port(self.dimse_port, 60)
        return self.proc

    def seed(self, d):
        tls = [] if self.plaintext else ["+tls", self.client_tls[0], self.client_tls[1], "+cf", str(self.ca)]
        r = subprocess.run(["storescu", "-aet", "BENCH", "-aec", self.aec, *tls, "+sd", "+r", "-nh",
                            "127.0.0.1", str(self.dimse_port), str(d)], env=ENV, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError("storescu to Orthanc failed: " + r.stderr[-2000:])
        return "stored"


def parse_tool(out):
    ops, extra = {}, {}
    for line in out.splitlines():
        kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
        if "op" in kv:
            name = kv.pop("op")
            ops[name] = {k: float(v) for k, v in kv.items()}
        else:
            extra.update({k: float(v) for k, v in kv.items()})
    return ops, extra


def run_load(server, tools, a, studies_file, templates_file, work, run_id):
    """Starts both load generators against the running server; samples its RSS and CPU every second."""
    pid = server.proc.pid
    dimse_cmd = [str(tools / "bench_load_dimse"), "--port", str(server.dimse_port), "--aec", server.aec,
                 "--assocs", str(a.assocs), "--duration", str(a.duration), "--studies", str(studies_file),
                 "--templates", str(templates_file), "--mix", a.dimse_mix, "--run-id", str(run_id)]
    if not a.dimse_plaintext:
        dimse_cmd += ["--tls", *server.client_tls]
    http_cmd = [str(tools / "bench_load_http"), "--port", str(server.http_port), "--ca", str(server.ca),
                "--user", server.user, "--clients", str(a.clients), "--duration", str(a.duration),
                "--studies", str(studies_file), "--mix", a.http_mix]
    if not getattr(server, "https", True):
        http_cmd.append("--plain")
    # One authenticated request first, so that the load starts with the verified Basic password
    # cached by both servers (Tresor verifies Argon2id once per 5 minutes; see docs/benchmarks.md).
    warm = Client(server.name, server.http_port, server.user, server.password,
                  server.ca if getattr(server, "https", True) else None)
    warm.get("/dicom-web/studies?limit=1", "application/dicom+json"); warm.close()
    samples = []   # (t, rss MB, cpu s)
    t0 = time.time(); c0 = cpu_seconds(pid); k0 = os.times()
    samples.append((0.0, rss_mb(pid), 0.0))
    errs = {k: open(work / f"{server.name}-{k}.stderr", "w+") for k in ("dimse", "http")}
    procs = {}
    if a.assocs:
        procs["dimse"] = subprocess.Popen(dimse_cmd, stdout=subprocess.PIPE, stderr=errs["dimse"], text=True)
    if a.clients:
        procs["http"] = subprocess.Popen(http_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=errs["http"], text=True)
    outs = {}

    def collect(k, p):
        outs[k] = p.communicate(input=server.password + "\n" if k == "http" else None)[0]

    threads = [threading.Thread(target=collect, args=kv) for kv in procs.items()]
    for th in threads: th.start()
    died = None
    while any(th.is_alive() for th in threads):
        time.sleep(1.0)
        if server.proc.poll() is not None:
            died = died or f"exited with status {server.proc.returncode} after {time.time() - t0:.0f} s"
            continue
        try:
            samples.append((time.time() - t0, rss_mb(pid), cpu_seconds(pid) - c0))
        except OSError:
            pass
    for th in threads: th.join()
    k1 = os.times()
    client_cpu = (k1.children_user + k1.children_system) - (k0.children_user + k0.children_system)
    res = {"ops": {}, "extra": {}, "died": died, "samples": samples}
    for k, p in procs.items():
        ops, extra = parse_tool(outs.get(k, ""))
        res["ops"].update(ops)
        res["extra"][k] = extra
        errs[k].seek(0)
        res["extra"][k]["stderr"] = errs[k].read()[-3000:]
        if p.returncode != 0:
            res["extra"][k]["tool_status"] = p.returncode
    load_t = [s for s in samples if s[0] > 0]
    wall = max(e.get("elapsed_s", 0) for e in res["extra"].values()) or a.duration
    n = len(load_t)
    third = max(1, n // 3)
    first = max((s[1] for s in load_t[:third]), default=0); last = max((s[1] for s in load_t[-third:]), default=0)
    res["rss"] = dict(start=samples[0][1], max=max(s[1] for s in samples), end=samples[-1][1],
                      first_third_max=first, last_third_max=last, bounded=bool(load_t) and last <= 1.1 * first)
    res["cpu"] = dict(seconds=samples[-1][2], percent=100 * samples[-1][2] / max(1e-9, samples[-1][0]))
    res["wall"] = wall
    res["client_cpu"] = dict(seconds=client_cpu, percent=100 * client_cpu / max(1e-9, time.time() - t0))
    return res


def print_product(name, r):
    print(f"\n== {name}" + (f"  SERVER DIED: {r['died']}" if r["died"] else ""), flush=True)
    for op in (*DIMSE_OPS, *HTTP_OPS, "associate", "connect"):
        o = r["ops"].get(op)
        if not o: continue
        print(f"  {op:9s} {int(o['count']):7d} ops  {int(o['errors']):4d} errors  p50 {o['p50_ms']:8.2f} ms  "
              f"p99 {o['p99_ms']:8.2f} ms  max {o['max_ms']:8.1f} ms  {o['count'] / r['wall']:7.1f}/s", flush=True)
    rs, cpu = r["rss"], r["cpu"]
    print(f"  RSS MB start {rs['start']:.1f}  max {rs['max']:.1f}  end {rs['end']:.1f}  (max first third "
          f"{rs['first_third_max']:.1f}, last third {rs['last_third_max']:.1f}: "
          f"{'bounded' if rs['bounded'] else 'GROWING'})  CPU {cpu['seconds']:.0f} s = {cpu['percent']:.0f}% of one core; "
          f"load generators' CPU {r['client_cpu']['percent']:.0f}% of one core", flush=True)
    for k, e in r["extra"].items():
        if e.get("reconnects"): print(f"  {k}: {int(e['reconnects'])} reconnects", flush=True)
        if e.get("tool_status"): print(f"  {k} load tool exited {e['tool_status']}", flush=True)
        if e.get("stderr", "").strip():
            print(f"  {k} first errors:\n    " + "\n    ".join(e["stderr"].strip().splitlines()[:8]), flush=True)


def errors_of(r):
    return int(sum(o["errors"] for o in r["ops"].values())) + (1 if r["died"] else 0) + \
        sum(1 for e in r["extra"].values() if e.get("tool_status"))


def print_table(t, o):
    print("\n| operation | Tresor count / errors | Tresor ops/s | Tresor p50 / p99 ms | Orthanc count / errors | "
          "Orthanc ops/s | Orthanc p50 / p99 ms | throughput T/O | p50 O/T | p99 O/T |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for op in (*DIMSE_OPS, *HTTP_OPS):
        a, b = t["ops"].get(op), (o or {"ops": {}})["ops"].get(op)
        if not a: continue
        cells = [op, f"{int(a['count'])} / {int(a['errors'])}", f"{a['count'] / t['wall']:.1f}",
                 f"{a['p50_ms']:.2f} / {a['p99_ms']:.2f}"]
        if b and b["count"] and b["p50_ms"] and b["p99_ms"]:
            cells += [f"{int(b['count'])} / {int(b['errors'])}", f"{b['count'] / o['wall']:.1f}",
                      f"{b['p50_ms']:.2f} / {b['p99_ms']:.2f}",
                      f"{(a['count'] / t['wall']) / max(1e-9, b['count'] / o['wall']):.2f}",
                      f"{b['p50_ms'] / max(1e-9, a['p50_ms']):.2f}", f"{b['p99_ms'] / max(1e-9, a['p99_ms']):.2f}"]
        else:
            cells += ["—"] * 6
        print("| " + " | ".join(cells) + " |")
    for key, label in (("start", "RSS start MB"), ("max", "RSS max MB"), ("end", "RSS end MB")):
        tv, ov = t["rss"][key], (o["rss"][key] if o else None)
        print(f"| {label} | {tv:.1f} | | | {ov:.1f} | | | {'' if ov is None else f'T/O {tv / ov:.2f}'} | | |"
              if o else f"| {label} | {tv:.1f} | | | — | | | | | |")
    bt = "yes" if t["rss"]["bounded"] else "no"
    bo = ("yes" if o["rss"]["bounded"] else "no") if o else "—"
    print(f"| RSS bounded (last-third max ≤ 1.1 × first-third max) | {bt} | | | {bo} | | | | | |")
    oc = f"{o['cpu']['percent']:.0f} %" if o else "—"
    ratio = f"T/O {t['cpu']['percent'] / o['cpu']['percent']:.2f}" if o and o['cpu']['percent'] else ""
    print(f"| server CPU (% of one core) | {t['cpu']['percent']:.0f} % | | | {oc} | | | {ratio} | | |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(REPO / "build"), help="build dir with app/tresor and bench/bench_load_*")
    ap.add_argument("--tresor", default=None, help="tresor binary (default BUILD/app/tresor); copied first")
    ap.add_argument("--duration", type=float, default=180, help="seconds of load per product (default 180)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 30 s per product, 100 patients")
    ap.add_argument("--patients", type=int, default=300, help="seeded patients (1 study, 2 series x 5 instances each)")
    ap.add_argument("--assocs", type=int, default=64, help="concurrent DIMSE associations")
    ap.add_argument("--clients", type=int, default=64, help="concurrent HTTPS clients")
    ap.add_argument("--dimse-mix", default="find=2,store=1,get=1")
    ap.add_argument("--http-mix", default="qido=1,wado=1")
    ap.add_argument("--dimse-plaintext", action="store_true", help="plaintext DICOM for both (default: mutual TLS)")
    ap.add_argument("--tresor-handler-threads", type=int, default=None,
                    help="Tresor's http.handler_threads (default: --clients, like Orthanc's thread per connection; "
                         "Tresor's own default is 16)")
    ap.add_argument("--tresor-io-threads", type=int, default=0, help="Tresor's http.io_threads (default: its own, 4)")
    ap.add_argument("--skip-orthanc", action="store_true")
    ap.add_argument("--orthanc-https", action="store_true",
                    help="Orthanc over HTTPS too (Debian's 1.10.1 crashes on its first HTTPS request here)")
    ap.add_argument("--json", default=None, help="also write the results as JSON to this file")
    ap.add_argument("--work", default=None, help="work directory on disk (default: a temp dir under /var/tmp)")
    a = ap.parse_args()
    if a.tresor_handler_threads is None:
        a.tresor_handler_threads = max(1, min(1024, a.clients))
    if a.quick:
        a.duration = min(a.duration, 30); a.patients = min(a.patients, 100)
    build = Path(a.build).resolve()
    work = Path(a.work or tempfile.mkdtemp(prefix="tresor-loadbench-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="tresor-loadbench-", dir="/dev/shm"))
    results, servers, t_start, keep = {}, [], time.time(), False
    try:
        tools = work / "bin"; tools.mkdir(exist_ok=True)
        tbin = tools / "tresor"; shutil.copy2(a.tresor or build / "app" / "tresor", tbin)
        for tool in ("bench_load_dimse", "bench_load_http"):
            shutil.copy2(build / "bench" / tool, tools / tool)

        files = gen_dataset(data / "ds", a.patients, 2, 5, 11)
        studies = [(r["StudyInstanceUID"], r["PatientID"], int(r["Instances"]))
                   for r in csv.DictReader(open(data / "ds.csv"))]
        studies_file = work / "studies.tsv"
        studies_file.write_text("".join(f"{u}\t{p}\t{n}\n" for u, p, n in studies))
        tmpl = gen_dataset(data / "tmpl", 8, 1, 1, 12)
        templates_file = work / "templates.txt"
        templates_file.write_text("".join(f"{f}\n" for f in tmpl))
        print(f"dataset: {len(files)} small CT instances, {len(studies)} studies of {studies[0][2]}; load "
              f"{a.assocs} DIMSE associations ({a.dimse_mix}) + {a.clients} HTTPS clients ({a.http_mix}) for "
              f"{a.duration:.0f} s per product; DICOM {'plaintext' if a.dimse_plaintext else 'mutual TLS'}; HTTP: "
              f"Tresor HTTPS, Orthanc {'HTTPS' if a.orthanc_https else 'plain HTTP'}",
              flush=True)

        run_id = int(time.time()) % 100000
        t = Tresor(tbin, work, a.dimse_plaintext, a.assocs, a.clients, a.tresor_handler_threads, a.tresor_io_threads)
        products = [t] if a.skip_orthanc else [t, Orthanc(work, t, a.dimse_plaintext, a.assocs, a.clients,
                                                                   a.orthanc_https)]
        for srv in products:
            log = open(work / f"{srv.name}.log", "wb")
            t0 = time.time()
            if srv is t:
                out = srv.seed(data / "ds"); servers.append(srv.start(log))
            else:
                servers.append(srv.start(log)); out = srv.seed(data / "ds")
            print(f"{srv.name}: seeded ({out}, {time.time() - t0:.0f} s); RSS {rss_mb(srv.proc.pid):.1f} MB; load ...",
                  flush=True)
            results[srv.name] = run_load(srv, tools, a, studies_file, templates_file, work, run_id)
            print_product(srv.name, results[srv.name])
            if srv.proc.poll() is None:
                stop(srv.proc)
            log.close()
            if srv is t:
                text = (work / "tresor.log").read_text(errors="replace")
                # Lines look like "2026-11-28T19:21:35.795 info message".
                lvl = {k: len(re.findall(rf"(?m)^\S+ {k}\b", text)) for k in ("warning", "error", "critical")}
                results[srv.name]["log_levels"] = lvl
                print(f"  tresor log lines by level: {lvl}" + (f" ({work / 'tresor.log'})" if a.work else ""), flush=True)
                for line in [l for l in text.splitlines() if re.match(r"\S+ (error|critical)\b", l)][:5]:
                    print("    " + line[:300], flush=True)

        tr, orr = results["tresor"], results.get("orthanc")
        print(f"\nTresor vs Orthanc, same load ({time.time() - t_start:.0f} s in all):")
        print_table(tr, orr)
        if a.json:
            Path(a.json).write_text(json.dumps(results, indent=1))
        nerr = errors_of(tr)
        print(f"\ntresor errors: {nerr}; RSS {'bounded' if tr['rss']['bounded'] else 'NOT bounded'}", flush=True)
        if nerr:
            keep = True
            print(f"work directory kept for inspection: {work}", flush=True)
        return 1 if nerr else 0
    finally:
        for p in servers: stop(p)
        shutil.rmtree(data, ignore_errors=True)
        if not a.work and not keep: shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

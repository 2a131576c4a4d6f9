#!/usr/bin/env python3
"""DIMSE benchmark: Tresor vs dcmtk storescp vs Orthanc, back to back, same dataset.

Prints one line per measurement and the ratios the core issue targets:
  * C-STORE of small CT images over one association (inst/s) and server CPU ms/instance
    (Tresor with per-instance durability on disk; storescp +B writing to tmpfs; Orthanc default)
  * peak RSS of the server while ingesting
  * exact-PatientID study-level C-FIND p50 over one open association, at the ingested size
    and (Tresor only) after growing the index to --grow instances with bench_populate_index.

Usage: bench/dimse_bench.py --build build [--instances 2000] [--grow 200000] [--skip-orthanc]
Needs: dcmtk, orthanc, python3-pydicom (for ../shared/tools/gen-dataset). Loopback only.
"""
import argparse, csv, os, re, shutil, signal, socket, subprocess, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GEN = REPO.parent / "shared" / "tools" / "gen-dataset"
ENV = dict(os.environ, TCP_NODELAY="1")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close(); return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} never opened")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try: proc.wait(15)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()


def storescu(port, aec, files_dir, extra=()):
    t0 = time.time()
    r = subprocess.run(["storescu", "-aet", "BENCH", "-aec", aec, *extra, "+sd", "+r", "-nh",
                        "127.0.0.1", str(port), str(files_dir)], env=ENV, capture_output=True, text=True)
    dt = time.time() - t0
    if r.returncode != 0:
        print(r.stderr[-2000:], file=sys.stderr)
        raise RuntimeError("storescu failed")
    return dt


def measure_store(name, pid, port, aec, files_dir, n, extra=()):
    c0 = cpu_seconds(pid)
    dt = storescu(port, aec, files_dir, extra)
    cpu = cpu_seconds(pid) - c0
    res = dict(name=name, ips=n / dt, cpu_ms=1000 * cpu / n, rss=peak_rss_mb(pid), secs=dt)
    print(f"store  {name:28s} {res['ips']:8.0f} inst/s  {res['cpu_ms']:6.3f} ms CPU/inst  "
          f"peak RSS {res['rss']:6.1f} MB  ({dt:.1f} s)", flush=True)
    return res


def find_latency(build, port, aec, ids_file, tls=None, n=400):
    cmd = [str(build / "bench" / "bench_find_latency"), "--port", str(port), "--aec", aec,
           "--ids", str(ids_file), "--n", str(n)]
    if tls: cmd += ["--tls", *tls]
    out = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("find bench failed: " + out.stderr)
    return dict(kv.split("=") for kv in out.stdout.split())


class Tresor:
    def __init__(self, build, work):
        self.bin = str(build / "app" / "tresor"); self.var = work / "tresor-var"
        self.port = free_port(); self.tls_port = free_port(); self.http_port = free_port()
        subprocess.run([self.bin, "--var", str(self.var), "init", "--ae-title", "TRESOR"], check=True,
                       capture_output=True)
        toml = (self.var / "tresor.toml").read_text()
        http = toml.index("\n[http]\n")
        toml = toml[:http] + re.sub(r"(?m)^port = .*$", f"port = {self.http_port}", toml[http:], count=1)
        toml = toml[:http] + re.sub(r'(?m)^bind = .*$', 'bind = "127.0.0.1"', toml[http:], count=1)
        toml = re.sub(r"(?m)^plaintext_enabled = .*$", "plaintext_enabled = true", toml)
        toml = re.sub(r"(?m)^plaintext_port = .*$", f"plaintext_port = {self.port}", toml)
        toml = re.sub(r"(?m)^tls_port = .*$", f"tls_port = {self.tls_port}", toml)
        (self.var / "tresor.toml").write_text(toml)
        self.cli("peer", "add", "BENCH", "--host", "127.0.0.1", "--ops", "echo,store,find,get",
                 "--plaintext", "--unlimited-find")
        certs = work / "certs"
        self.cli("cert", "issue", "--cn", "BENCH", "--out", str(certs))
        self.tls = [str(certs / "BENCH.key"), str(certs / "BENCH.crt"), str(self.var / "pki" / "ca.crt")]

    def cli(self, *args):
        subprocess.run([self.bin, "--var", str(self.var), *args], check=True, capture_output=True)

    def start(self):
        self.proc = subprocess.Popen([self.bin, "--var", str(self.var), "serve"], env=ENV,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The HTTPS listener starts last: until it is up, start-up work (about 0.2 s of CPU)
        # runs beside the first queries and doubled the first C-FIND latencies after a restart.
        wait_port(self.port); wait_port(self.http_port)
        return self.proc


class Orthanc:
    def __init__(self, work):
        self.dir = work / "orthanc"; self.dir.mkdir()
        self.port = free_port()
        cfg = {"Name": "bench", "StorageDirectory": str(self.dir / "db"), "IndexDirectory": str(self.dir / "db"),
               "DicomAet": "ORTHANC", "DicomPort": self.port, "HttpPort": free_port(), "HttpServerEnabled": False,
               "RemoteAccessAllowed": False, "DicomServerEnabled": True, "Plugins": [],
               "DicomModalities": {"bench": ["BENCH", "127.0.0.1", 1]}, "DicomAlwaysAllowFind": True,
               "StorageCompression": False}
        import json
        (self.dir / "orthanc.json").write_text(json.dumps(cfg))

    def start(self):
        self.proc = subprocess.Popen(["Orthanc", str(self.dir / "orthanc.json")], env=ENV,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self.proc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--instances", type=int, default=2000)
    ap.add_argument("--grow", type=int, default=200000, help="grow Tresor's index to this many instances (0 = skip)")
    ap.add_argument("--skip-orthanc", action="store_true")
    ap.add_argument("--work", default=None, help="work directory on disk (default: a temp dir under /var/tmp)")
    a = ap.parse_args()
    build = Path(a.build).resolve()
    work = Path(a.work or tempfile.mkdtemp(prefix="tresor-bench-", dir="/var/tmp"))
    shm = Path(tempfile.mkdtemp(prefix="tresor-bench-", dir="/dev/shm"))
    procs = []
    try:
        patients = max(1, a.instances // 10)
        ds = work / "dataset"
        subprocess.run(["/usr/bin/python3", str(GEN), "--patients", str(patients), "--studies-per-patient", "1",
                        "--series-per-study", "2", "--instances-per-series", "5", "--out", str(ds), "--seed", "1",
                        "--quiet"], check=True)
        n = sum(1 for _ in ds.rglob("*.dcm"))
        ids = sorted({row["PatientID"] for row in csv.DictReader(open(ds / "studies.csv"))})
        ids_file = work / "ids.txt"; ids_file.write_text("\n".join(ids) + "\n")
        print(f"dataset: {n} instances, {len(ids)} patients ({ds})", flush=True)

        # 1. dcmtk storescp, bit-preserving, to tmpfs
        sp = free_port()
        (shm / "scp").mkdir()
        scp = subprocess.Popen(["storescp", "+B", "-od", str(shm / "scp"), "-aet", "STORESCP", str(sp)], env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(scp); wait_port(sp)
        base = measure_store("storescp +B (tmpfs)", scp.pid, sp, "STORESCP", ds, n)
        stop(scp)

        # 2. Tresor, plaintext (same wire as the others), durable on disk
        t = Tresor(build, work); tp = t.start(); procs.append(tp)
        tres = measure_store("tresor (disk, fsync)", tp.pid, t.port, "TRESOR", ds, n)
        tfind = find_latency(build, t.port, "TRESOR", ids_file)
        print(f"find   tresor @{n:<7d}           p50 {tfind['p50_ms']} ms  p95 {tfind['p95_ms']} ms  "
              f"matches/query {tfind['mean_matches']}", flush=True)
        tfind_tls = find_latency(build, t.tls_port, "TRESOR", ids_file, tls=t.tls)
        print(f"find   tresor TLS @{n:<7d}       p50 {tfind_tls['p50_ms']} ms", flush=True)

        # 3. Orthanc (Debian package, default durability)
        if not a.skip_orthanc:
            o = Orthanc(work); op = o.start(); procs.append(op)
            orth = measure_store("orthanc (disk)", op.pid, o.port, "ORTHANC", ds, n)
            ofind = find_latency(build, o.port, "ORTHANC", ids_file)
            print(f"find   orthanc @{n:<7d}          p50 {ofind['p50_ms']} ms  p95 {ofind['p95_ms']} ms", flush=True)
            stop(op)

        grown = None
        if a.grow > n:
            stop(tp)
            pop = subprocess.run([str(build / "bench" / "bench_populate_index"), "--var", str(t.var),
                                  str(a.grow - n)], capture_output=True, text=True, check=True)
            print("grow   " + pop.stderr.strip(), flush=True)
            big_ids = work / "big_ids.txt"
            big_ids.write_text(pop.stdout)
            tp = t.start(); procs.append(tp)
            grown = find_latency(build, t.port, "TRESOR", big_ids)
            print(f"find   tresor @{a.grow:<7d}           p50 {grown['p50_ms']} ms  p95 {grown['p95_ms']} ms",
                  flush=True)
        stop(tp)

        print("\nratios (same run):")
        print(f"  tresor / storescp-tmpfs C-STORE throughput: {tres['ips'] / base['ips']:.2f}  (target >= 0.6)")
        print(f"  tresor server CPU per instance: {tres['cpu_ms']:.3f} ms (target <= 1.2; storescp {base['cpu_ms']:.3f})")
        print(f"  tresor peak RSS while ingesting {n}: {tres['rss']:.1f} MB (target <= 100)")
        print(f"  tresor C-FIND p50 @{n}: {tfind['p50_ms']} ms (target <= 2 at 20,000)")
        if grown:
            print(f"  tresor C-FIND p50 @{a.grow} / @{n}: {float(grown['p50_ms']) / float(tfind['p50_ms']):.2f} (target <= 1.5)")
        if not a.skip_orthanc:
            print(f"  orthanc / storescp-tmpfs throughput: {orth['ips'] / base['ips']:.2f}; CPU {orth['cpu_ms']:.3f} ms/inst")
            print(f"  tresor / orthanc throughput: {tres['ips'] / orth['ips']:.2f}; C-FIND p50 orthanc/tresor: "
                  f"{float(ofind['p50_ms']) / float(tfind['p50_ms']):.2f}")
    finally:
        for p in procs: stop(p)
        shutil.rmtree(shm, ignore_errors=True)
        if not a.work: shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

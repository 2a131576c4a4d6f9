#!/usr/bin/env python3
"""Encryption-at-rest overhead: Tresor with [encryption] enabled = true versus false, same run, same data.

Prints one line per measurement and the ratios issue 12 targets (overhead < 10 %):
  * C-STORE of small CT images over one association (inst/s) and server CPU ms/instance;
  * WADO-RS of every study (multipart/related, application/dicom), sequentially: MB/s of
    plaintext delivered and server CPU ms per MB;
  * the physical limit: AES-256-GCM throughput of this CPU (`openssl speed -evp aes-256-gcm`,
    64 KiB blocks: Tresor's chunk size), i.e. the least time encryption can cost.
The two instances are measured alternately (--rounds times each, best kept) so that other jobs on
the machine hit both alike.

Usage: bench/encryption_bench.py --build build [--instances 1000] [--rounds 2]
Needs: dcmtk, python3-pydicom (for ../shared/tools/gen-dataset). Loopback only.
"""
import argparse, base64, http.client, re, shutil, ssl, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dimse_bench as db  # noqa: E402

PASSWORD = "bench-Very-Long-Passphrase-7"


class Instance(db.Tresor):
    def __init__(self, build, work, encrypted):
        work.mkdir(parents=True)
        super().__init__(build, work)
        if not encrypted:
            toml = (self.var / "tresor.toml").read_text()
            at = toml.index("\n[encryption]\n")
            toml = toml[:at] + re.sub(r"(?m)^enabled = true$", "enabled = false", toml[at:], count=1)
            (self.var / "tresor.toml").write_text(toml)
            # init made an encrypted index and audit trail: start them again in the clear.
            for p in list(self.var.glob("index.db*")):
                p.unlink()
            shutil.rmtree(self.var / "audit", ignore_errors=True)
            shutil.rmtree(self.var / "keys", ignore_errors=True)
            self.cli("peer", "add", "BENCH", "--host", "127.0.0.1", "--ops", "echo,store,find,get",
                     "--plaintext", "--unlimited-find")
        subprocess.run([self.bin, "--var", str(self.var), "user", "add", "bench", "--role", "clinician",
                        "--password-stdin"], input=PASSWORD + "\n", text=True, check=True, capture_output=True)
        self.encrypted = encrypted

    def wado_all(self, studies):
        """GET every study; returns (plaintext bytes, seconds)."""
        ctx = ssl.create_default_context(cafile=str(self.var / "pki" / "ca.crt"))
        auth = "Basic " + base64.b64encode(f"bench:{PASSWORD}".encode()).decode()
        conn = http.client.HTTPSConnection("127.0.0.1", self.http_port, context=ctx, timeout=120)
        total = 0
        t0 = time.time()
        for s in studies:
            conn.request("GET", f"/dicom-web/studies/{s}",
                         headers={"Authorization": auth, "Accept": 'multipart/related; type="application/dicom"'})
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise RuntimeError(f"WADO-RS {s}: {r.status} {body[:200]!r}")
            total += len(body)
        dt = time.time() - t0
        conn.close()
        return total, dt


def aes_gcm_limit():
    r = subprocess.run(["openssl", "speed", "-evp", "aes-256-gcm", "-seconds", "1", "-bytes", "65536"],
                       capture_output=True, text=True)
    m = re.search(r"(?m)^AES-256-GCM\s+([\d.]+)k", r.stdout) or re.search(r"(?m)^aes-256-gcm\s+([\d.]+)k", r.stdout)
    return float(m.group(1)) * 1000 / 1e6 if m else None  # MB/s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(db.REPO / "build"))
    ap.add_argument("--instances", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    build = Path(a.build).resolve()
    work = Path(tempfile.mkdtemp(prefix="tresor-encbench-"))
    procs = []
    try:
        per_study = 50
        ds = work / "data"
        subprocess.run([sys.executable, str(db.GEN), "--patients", str(max(1, a.instances // per_study)),
                        "--studies-per-patient", "1", "--series-per-study", "1", "--instances-per-series",
                        str(per_study), "--out", str(ds), "--seed", "7", "--quiet"], check=True)
        n = len(list(ds.rglob("*.dcm")))
        import pydicom
        studies = sorted({str(pydicom.dcmread(f, stop_before_pixels=True).StudyInstanceUID) for f in ds.rglob("*.dcm")})
        limit = aes_gcm_limit()
        best = {True: {}, False: {}}
        for rnd in range(a.rounds):
            for enc in (True, False):
                inst = Instance(build, work / f"r{rnd}-{'on' if enc else 'off'}", enc)
                p = inst.start(); procs.append(p)
                s = db.measure_store(f"tresor encryption {'on ' if enc else 'off'} r{rnd}", p.pid, inst.port,
                                     "TRESOR", ds, n)
                c0 = db.cpu_seconds(p.pid)
                size, dt = inst.wado_all(studies)
                cpu = db.cpu_seconds(p.pid) - c0
                mb = size / 1e6
                print(f"wado   tresor encryption {'on ' if enc else 'off'} r{rnd}        {mb / dt:8.1f} MB/s  "
                      f"{1000 * cpu / mb:6.2f} ms CPU/MB  ({mb:.0f} MB, {dt:.1f} s)", flush=True)
                b = best[enc]
                b["ips"] = max(b.get("ips", 0), s["ips"])
                b["cpu_ms"] = min(b.get("cpu_ms", 1e9), s["cpu_ms"])
                b["mbs"] = max(b.get("mbs", 0), mb / dt)
                b["wcpu"] = min(b.get("wcpu", 1e9), 1000 * cpu / mb)
                db.stop(p)
                shutil.rmtree(inst.var, ignore_errors=True)
        on, off = best[True], best[False]
        print(f"\nratios (same run, best of {a.rounds}; {n} instances, {len(studies)} studies):")
        print(f"  C-STORE throughput on/off: {on['ips'] / off['ips']:.3f}  (overhead {100 * (1 - on['ips'] / off['ips']):.1f} %, target < 10 %)")
        print(f"  C-STORE server CPU per instance on/off: {on['cpu_ms']:.3f} / {off['cpu_ms']:.3f} ms")
        print(f"  WADO-RS throughput on/off: {on['mbs'] / off['mbs']:.3f}  (overhead {100 * (1 - on['mbs'] / off['mbs']):.1f} %, target < 10 %)")
        print(f"  WADO-RS server CPU per MB on/off: {on['wcpu']:.2f} / {off['wcpu']:.2f} ms")
        if limit:
            print(f"  physical limit: AES-256-GCM on this CPU {limit:.0f} MB/s per core = {1000 / limit:.3f} ms CPU per MB "
                  f"(encrypt or decrypt once)")
    finally:
        for p in procs: db.stop(p)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

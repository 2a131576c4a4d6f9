"""ATNA export (IHE ITI-20): the audit trail goes, as RFC 5424 syslog messages
carrying PS3.15 XML, over mutual TLS (RFC 5425) to Debian's rsyslog as a real
audit record repository (imtcp with the gtls stream driver, x509/name: it
checks our client certificate and its name; we check its certificate and
name). The collector is stopped for a while under load and restarted: in
the end it holds every record, in order of seq, duplicates only as exact
copies of the same seq."""
import os
import re
import shutil
import subprocess
import threading
import time
import unittest
from pathlib import Path

from harness import (Tresor, _register, free_port, make_ca, make_server_cert, stop_process, wait_until)

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
SEQ_RE = re.compile(r'\[tresor@32473 seq="(\d+)" hash="([0-9a-f]*)"\]')
PATIENT = "EXPORT^CANARY"


class Collector:
    """rsyslogd -n with its own configuration, work directory and pid file."""

    def __init__(self, root: Path, ca_files: list[Path], cert, peer_name: str):
        self.root = root
        self.work = root / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.out = root / "atna.log"
        self.port = free_port()
        self.ca = root / "trusted.pem"
        self.ca.write_text("".join(p.read_text() for p in ca_files))
        self.conf = root / "rsyslog.conf"
        self.conf.write_text(f"""
global(workDirectory="{self.work}" maxMessageSize="256k"
       DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile="{self.ca}"
       DefaultNetstreamDriverCertFile="{cert.crt}"
       DefaultNetstreamDriverKeyFile="{cert.key}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1"
       StreamDriver.AuthMode="x509/name" PermittedPeer=["{peer_name}"])
input(type="imtcp" address="127.0.0.1" port="{self.port}")
template(name="atna" type="string" string="%msgid% %structured-data% %msg%\\n")
action(type="omfile" file="{self.out}" template="atna")
""")
        self.proc: subprocess.Popen | None = None
        self.log = root / "rsyslogd.out"

    def start(self) -> None:
        pidfile = self.root / "rsyslogd.pid"
        with open(self.log, "ab") as log:
            self.proc = _register(subprocess.Popen([RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(pidfile)],
                                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                                   start_new_session=True))
        import socket

        def listening():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                return False
        if not wait_until(listening, 20):
            raise AssertionError("rsyslogd did not listen:\n" + self.log.read_text(errors="replace"))

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def records(self) -> list[tuple[int, str, str]]:
        """(seq, hash, line) of every message in the collector's file, in file order."""
        if not self.out.exists():
            return []
        out = []
        for line in self.out.read_text(errors="replace").splitlines():
            m = SEQ_RE.search(line)
            if m:
                out.append((int(m.group(1)), m.group(2), line))
        return out


class AuditExportToRsyslog(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(RSYSLOGD):
            self.skipTest("rsyslog is not installed (make deps installs rsyslog and rsyslog-gnutls)")
        self.t = Tresor(name="atna")
        self.collector = None
        t = self.t
        t.init()
        # The collector's own CA and server certificate (SAN 127.0.0.1);
        # our client certificate from the instance's PKI (`tresor cert issue`).
        ca_key, ca_crt = make_ca(t.root / "collector-ca", cn="Collector CA")
        server = make_server_cert(t.root / "collector-ca", ca_key, ca_crt, "collector")
        client = t.cert_issue("tresor-audit", out=t.root / "audit-client")
        self.collector = Collector(t.root / "collector", [t.ca], server, "tresor-audit")
        self.collector.start()
        t.configure("audit_export", "enabled", True)
        t.configure("audit_export", "host", "127.0.0.1")
        t.configure("audit_export", "port", self.collector.port)
        t.configure("audit_export", "ca_file", str(ca_crt))
        t.configure("audit_export", "cert_file", str(client.crt))
        t.configure("audit_export", "key_file", str(client.key))
        self.cert = t.peer_add("LOADER", "echo,store,find")

    def tearDown(self):
        if self.collector:
            self.collector.stop()
        self.t.close()

    def load(self, stop: threading.Event, counts: dict) -> None:
        """C-ECHO and C-FIND, over and over: each one adds audit records."""
        c = self.t.client("LOADER", self.cert)
        while not stop.is_set():
            c.echo()
            c.find([f"PatientID={PATIENT}", "StudyInstanceUID"])
            counts["rounds"] = counts.get("rounds", 0) + 1

    def trail_last_seq(self) -> int:
        return max(int(e["seq"]) for e in self.t.audit_events())

    def test_collector_down_during_load_loses_nothing_and_marks_every_copy(self):
        t, col = self.t, self.collector
        t.start()
        stop, counts = threading.Event(), {}
        loader = threading.Thread(target=self.load, args=(stop, counts), daemon=True)
        loader.start()
        try:
            self.assertTrue(wait_until(lambda: len(col.records()) >= 10, 30), "nothing reached the collector:\n" + t.log())
            col.stop()
            before = [s for s, _, _ in col.records()]
            # While the collector was up, no record was sent twice.
            self.assertEqual(len(before), len(set(before)), f"copies without an outage: {before[:40]}")
            down_at = counts.get("rounds", 0)
            time.sleep(3)  # load goes on; the records wait in the trail
            self.assertGreater(counts.get("rounds", 0), down_at, "no load while the collector was down")
            col.start()
            time.sleep(2)
        finally:
            stop.set()
            loader.join(timeout=60)
        last = self.trail_last_seq()

        def complete():
            return {s for s, _, _ in col.records()} >= set(range(1, last + 1))
        self.assertTrue(wait_until(complete, 60),
                        f"collector misses seqs: {sorted(set(range(1, last + 1)) - {s for s, _, _ in col.records()})[:20]}"
                        f"\n{t.log()}")

        records = col.records()
        first_seen: dict[int, str] = {}
        order = []
        for seq, digest, line in records:
            if seq in first_seen:
                # A re-sent record: an exact copy, recognisable by its seq.
                self.assertEqual(first_seen[seq], line, f"seq {seq} arrived twice with different content")
                continue
            first_seen[seq] = line
            order.append(seq)
        self.assertEqual(order, sorted(order), "first copies are not in seq order")
        self.assertEqual(order[: last], list(range(1, last + 1)))
        # Every message is a PS3.15 audit message, tagged as IHE's MSGID.
        for _, _, line in records[:50]:
            self.assertTrue(line.startswith("IHE+RFC-3881 "), line[:80])
            self.assertIn("<AuditMessage", line)
        # The exporter's state is in the log, and no patient data is.
        log = "\n".join(t.output)
        self.assertIn("audit export: connected", log)
        self.assertIn("unavailable", log)
        self.assertNotIn(PATIENT, log)

    def test_the_cursor_survives_a_restart_and_only_new_records_follow(self):
        t, col = self.t, self.collector
        t.start()
        c = t.client("LOADER", self.cert)
        c.echo()
        self.assertTrue(wait_until(lambda: len(col.records()) >= 3, 30), t.log())
        t.stop()  # clean stop: what the collector acknowledged is behind the cursor
        cursor = int((t.var / "audit" / "export.cursor").read_text())
        self.assertGreater(cursor, 0)
        before = len(col.records())
        t.start()
        c.echo()
        last = self.trail_last_seq()
        self.assertTrue(wait_until(lambda: {s for s, _, _ in col.records()} >= set(range(1, last + 1)), 30), t.log())
        resent = [s for s, _, _ in col.records()[before:] if s <= cursor]
        self.assertEqual(resent, [], "records behind the cursor were sent again after a clean restart")

    def test_a_collector_with_a_certificate_for_another_name_gets_nothing(self):
        t, col = self.t, self.collector
        t.configure("audit_export", "server_name", "not-the-collector.example")
        t.start()
        t.client("LOADER", self.cert).echo()
        self.assertTrue(wait_until(lambda: "certificate" in "\n".join(t.output) and "unavailable" in "\n".join(t.output),
                                   20), t.log())
        self.assertEqual(col.records(), [])


if __name__ == "__main__":
    unittest.main()

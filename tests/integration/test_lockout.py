"""Lock-outs must not lock out the innocent (issue 11, section 1).

With the shipped defaults ([brute_force] 10 failures in 60 s block the
address; [login] throttling), against a real `tresor serve`:
  - 1,000 failed associations from 127.0.0.1 block that address, yet the
    registered peer presenting its bound certificate from 127.0.0.1 is
    accepted at once, while an unknown caller from 127.0.0.1 stays refused;
  - 1,000 wrong passwords for `admin` from 127.0.0.2 do not keep `admin` out:
    the right password from 127.0.0.1 logs in at once; the guesses the
    attacker got verified stay below the documented ceiling, the rest are
    answered 429 with Retry-After (no handler sleeps);
  - a guesser spread over many addresses exhausts the account's ceiling: a new
    address is refused, over HTTP and over DIMSE user identity alike (one
    throttle), yet the owner's known-good address logs in at once, by login
    and by Basic;
  - device cookies: the owner's browser got `__Host-tresor_device` at a login
    from 127.0.0.1; after a restart (the key is on disk) and a guesser that
    exhausted the account's ceiling, that browser logs in at once from an
    address it never used, which without the cookie is refused (429);
  - a DIMSE user identity stopped by the account's ceiling raises the same
    security_alert audit event as HTTP does.
Each flood uses parallel sockets and finishes in seconds.
"""
import concurrent.futures
import http.client
import json
import socket
import ssl
import struct
import time
import unittest

import harness
import https
from harness import Tresor

ATTEMPTS = 1000
# docs/threat-model.md and the [login] comments: account_burst + 1440 * account_guesses_per_minute.
ACCOUNT_BURST = 10
GUESSES_PER_MINUTE = 2
DOCUMENTED_DAILY_CEILING = ACCOUNT_BURST + 1440 * GUESSES_PER_MINUTE  # 2,890


def _item(item_type: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(payload)) + payload


def associate_rq(calling: str, called: str) -> bytes:
    """A minimal, well-formed A-ASSOCIATE-RQ proposing Verification (PS3.8 9.3.2)."""
    ae = lambda s: s.encode().ljust(16)[:16]  # noqa: E731
    pc = bytes([1, 0, 0, 0]) + _item(0x30, b"1.2.840.10008.1.1") + _item(0x40, b"1.2.840.10008.1.2")
    user_info = _item(0x51, struct.pack(">I", 16384))
    body = (struct.pack(">HH", 1, 0) + ae(called) + ae(calling) + bytes(32) + _item(0x10, b"1.2.840.10008.3.1.1.1")
            + _item(0x20, pc) + _item(0x50, user_info))
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def failed_association(port: int, ca, calling: str, called: str) -> str:
    """One association attempt over TLS without a client certificate.
    Returns 'accepted', 'rejected' (A-ASSOCIATE-RJ) or 'dropped' (closed before an answer)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=15, source_address=("127.0.0.1", 0)) as raw:
            with ctx.wrap_socket(raw) as s:
                s.sendall(associate_rq(calling, called))
                head = s.recv(1)
    except (OSError, ssl.SSLError):
        return "dropped"
    if not head:
        return "dropped"
    return {0x02: "accepted", 0x03: "rejected"}.get(head[0], "dropped")


class DimseLockoutTest(unittest.TestCase):
    def setUp(self):
        harness.require_binary()
        self.t = Tresor(name="lockout-dimse")
        self.addCleanup(self.t.close)
        self.t.init()  # shipped [brute_force] defaults: 10 failures in 60 s block for 900 s
        self.cert = self.t.peer_add("MODALITY", "echo")
        self.t.start()

    def blocked_dimse_sources(self) -> list[str]:
        c = https.Client(self.t.https_port, self.t.ca)
        r = c.get("/api/security/blocked", https.basic("admin", self.t.admin_password))
        self.assertEqual(r.status, 200, r.body[:300])
        return [e["source"] for e in r.json() if e.get("protocol") == "dimse" and "source" in e]

    def test_registered_peer_with_its_certificate_is_accepted_at_once_after_1000_failures_from_its_address(self):
        ok = self.t.client("MODALITY", self.cert).echo()
        self.assertEqual(ok.statuses, [0], f"control echo failed\n{ok}")

        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            outcomes = list(pool.map(
                lambda i: failed_association(self.t.tls_port, self.t.ca, "STRANGER" if i % 2 else "MODALITY",
                                             self.t.ae if i % 2 else f"GUESS_{i:04d}"),
                range(ATTEMPTS)))
        flood_s = time.monotonic() - start
        counts = {k: outcomes.count(k) for k in ("accepted", "rejected", "dropped")}
        print(f"\n{ATTEMPTS} failed associations in {flood_s:.1f} s: {counts}")
        self.assertEqual(counts["accepted"], 0, counts)
        self.assertGreaterEqual(counts["rejected"], 10, f"the flood never reached the policy: {counts}")
        self.assertLess(flood_s, 60, "the flood took too long")
        self.assertIn("127.0.0.1", self.blocked_dimse_sources(), "the failures did not block 127.0.0.1")

        # The registered peer, from the blocked address, with its bound certificate: at once.
        start = time.monotonic()
        res = self.t.client("MODALITY", self.cert).echo()
        echo_s = time.monotonic() - start
        self.assertEqual(res.statuses, [0], f"the registered peer was locked out by others' failures\n{res}")
        self.assertLess(echo_s, 5, f"the registered peer waited {echo_s:.1f} s")
        # Everything else from that address is still refused.
        stranger = self.t.client("STRANGER", self.cert).echo()
        self.assertFalse(stranger.associated, f"an unknown caller got in from the blocked address\n{stranger}")
        anon = self.t.client("MODALITY", tls="anon").echo()
        self.assertFalse(anon.associated, f"a caller without certificate got in from the blocked address\n{anon}")
        self.assertIn("127.0.0.1", self.blocked_dimse_sources(), "the block ended early")


class HttpLockoutTest(unittest.TestCase):
    def setUp(self):
        harness.require_binary()
        self.t = Tresor(name="lockout-http")
        self.addCleanup(self.t.close)
        self.t.init()  # shipped [login] defaults
        self.t.start()

    def guess_flood(self, sources: list[str], attempts: int, user: str = "admin") -> tuple[dict[int, int], float]:
        """`attempts` wrong passwords for `user`, round-robin over `sources`, 8 keep-alive
        connections per source at a time. Returns ({status: count}, seconds)."""
        ctx = ssl.create_default_context(cafile=str(self.t.ca))

        def worker(job: tuple[str, range]) -> list[int]:
            source, indices = job
            statuses = []
            conn = None
            for i in indices:
                body = json.dumps({"username": user, "password": f"wrong-guess-{i:05d}-Zq9!"}).encode()
                for _ in range(3):  # a connection the server closed is reopened (bounded)
                    try:
                        if conn is None:
                            conn = http.client.HTTPSConnection("127.0.0.1", self.t.https_port, context=ctx,
                                                               timeout=30, source_address=(source, 0))
                        conn.request("POST", "/api/login", body=body, headers={"Content-Type": "application/json"})
                        r = conn.getresponse()
                        r.read()
                        if r.status == 429:
                            retry = r.getheader("Retry-After")
                            statuses.append(429 if retry and retry.isdigit() and int(retry) >= 1 else -429)
                        else:
                            statuses.append(r.status)
                        if r.will_close:
                            conn.close()
                            conn = None
                        break
                    except (OSError, http.client.HTTPException):
                        if conn is not None:
                            conn.close()
                        conn = None
                else:
                    statuses.append(0)  # refused at the connection
            if conn is not None:
                conn.close()
            return statuses

        jobs = []
        per_source = 8
        for k, source in enumerate(sources):
            for w in range(per_source):
                jobs.append((source, range(k * per_source + w, attempts, len(sources) * per_source)))
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(jobs))) as pool:
            results = [s for part in pool.map(worker, jobs) for s in part]
        elapsed = time.monotonic() - start
        self.assertEqual(len(results), attempts)
        return {s: results.count(s) for s in set(results)}, elapsed

    def assert_under_ceiling(self, counts: dict[int, int], elapsed: float):
        verified = counts.get(401, 0)
        # The documented ceiling per day, scaled to the flood's duration (token bucket).
        allowed = ACCOUNT_BURST + GUESSES_PER_MINUTE * (elapsed / 60.0 + 1)
        print(f" -> {verified} guesses verified in {elapsed:.1f} s (ceiling for that time: {allowed:.0f}; "
              f"documented daily ceiling {DOCUMENTED_DAILY_CEILING}), statuses {counts}")
        self.assertLessEqual(verified, allowed, f"the attacker got more guesses than documented: {counts}")
        self.assertEqual(counts.get(-429, 0), 0, f"429 without a Retry-After: {counts}")
        self.assertEqual(counts.get(200, 0), 0, f"a wrong password logged in: {counts}")
        self.assertGreater(counts.get(429, 0), ATTEMPTS // 2, f"the flood was not throttled: {counts}")

    def test_admin_logs_in_at_once_from_another_address_after_1000_wrong_passwords(self):
        counts, elapsed = self.guess_flood(["127.0.0.2"], ATTEMPTS)
        self.assert_under_ceiling(counts, elapsed)
        self.assertLess(elapsed, 60, "the flood took too long")
        owner = https.Client(self.t.https_port, self.t.ca, source="127.0.0.1")
        start = time.monotonic()
        r = owner.post_json("/api/login", {"username": "admin", "password": self.t.admin_password})
        self.assertEqual(r.status, 200, f"admin was locked out by the guesser: {r.status} {r.body[:200]!r}")
        self.assertLess(time.monotonic() - start, 5)
        me = owner.get("/api/me", https.basic("admin", self.t.admin_password))
        self.assertEqual(me.status, 200, me.body[:200])
        # The guesser's address itself is still refused, with a Retry-After. On a slow
        # machine (the sanitized CI run) the delay after the flood's last failure may
        # have run out by now: that guess is then verified (401) and starts the next,
        # longer delay, so the one right after it must be refused.
        attacker = https.Client(self.t.https_port, self.t.ca, source="127.0.0.2")
        r = attacker.post_json("/api/login", {"username": "admin", "password": "yet-another-guess-7Qx!"})
        if r.status == 401:
            r = attacker.post_json("/api/login", {"username": "admin", "password": "yet-another-guess-8Qx!"})
        self.assertEqual(r.status, 429, r.body[:200])
        self.assertTrue((r.header("retry-after") or "").isdigit(), r.headers)

    def test_the_owners_known_good_address_is_not_refused_when_a_distributed_guesser_exhausts_the_account(self):
        owner = https.Client(self.t.https_port, self.t.ca, source="127.0.0.1")
        self.assertEqual(owner.post_json("/api/login", {"username": "admin",
                                                        "password": self.t.admin_password}).status, 200)
        counts, elapsed = self.guess_flood([f"127.0.0.{i}" for i in range(3, 43)], ATTEMPTS)
        self.assert_under_ceiling(counts, elapsed)
        # A new address now meets the account's ceiling ...
        stranger = https.Client(self.t.https_port, self.t.ca, source="127.0.0.99")
        r = stranger.post_json("/api/login", {"username": "admin", "password": "one-more-guess-8Rk!"})
        self.assertEqual(r.status, 429, f"the ceiling does not hold: {r.status} {r.body[:200]!r}")
        # ... and so does DIMSE user identity (one throttle for both protocols): the right
        # passcode from a peer at an address admin never used is refused, unverified.
        ws = self.t.peer_add("WS", "echo", hosts=("127.0.0.2",), require_user=True)
        c = self.t.client("WS", ws, user="admin", password=self.t.admin_password)
        proxy = c.proxy(source="127.0.0.2")
        self.addCleanup(proxy.close)
        dimse = c.echo(proxy=proxy)
        self.assertFalse(dimse.associated, f"a throttled account got in over DIMSE\n{dimse}")
        self.assertTrue(any("passcode guess for user admin refused by the throttle" in str(e.get("reason", ""))
                            for e in self.t.audit_events()), "the DIMSE refusal was not the throttle's")
        # ... the owner's address does not: login and Basic at once.
        r = owner.post_json("/api/login", {"username": "admin", "password": self.t.admin_password})
        self.assertEqual(r.status, 200, f"admin was locked out: {r.status} {r.body[:200]!r}")
        me = owner.get("/api/me", https.basic("admin", self.t.admin_password))
        self.assertEqual(me.status, 200, me.body[:200])

    def test_a_device_cookie_admits_the_owner_from_a_new_address_past_an_exhausted_ceiling(self):
        owner = https.Client(self.t.https_port, self.t.ca, source="127.0.0.1")
        r = owner.post_json("/api/login", {"username": "admin", "password": self.t.admin_password})
        self.assertEqual(r.status, 200, r.body[:200])
        set_cookies = [v for k, v in r.all_headers if k.lower() == "set-cookie"]
        device = [v for v in set_cookies if v.startswith("__Host-tresor_device=")]
        self.assertEqual(len(device), 1, set_cookies)
        for attr in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/", f"Max-Age={30 * 86400}"):
            self.assertIn(attr, device[0])
        self.assertNotIn("domain", device[0].lower())
        self.assertTrue(any(v.startswith("__Host-tresor_session=") for v in set_cookies), set_cookies)
        cookie = device[0].split(";", 1)[0]
        # A restart forgets what is in memory (known-good addresses, the cache of
        # verified passwords); the device-cookie key is on disk.
        self.t.stop()
        key = self.t.var / "device_cookie.key"
        self.assertEqual(key.stat().st_mode & 0o777, 0o600)
        self.t.start()
        # A guesser spread over ten addresses exhausts admin's ceiling.
        counts, elapsed = self.guess_flood([f"127.0.0.{i}" for i in range(10, 20)], 100)
        self.assertGreater(counts.get(429, 0), 0, f"the ceiling was not reached: {counts}")
        self.assert_under_ceiling_verified(counts, elapsed)
        new = https.Client(self.t.https_port, self.t.ca, source="127.0.0.3")  # admin never logged in from here
        creds = {"username": "admin", "password": self.t.admin_password}
        # Without the cookie: refused like any guess (the cookie is what admits it below).
        r = new.post_json("/api/login", creds)
        self.assertEqual(r.status, 429, f"the ceiling does not hold: {r.status} {r.body[:200]!r}")
        # A forged cookie is no cookie.
        forged = cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB")
        r = new.post_json("/api/login", creds, {"Cookie": forged})
        self.assertEqual(r.status, 429, f"a forged device cookie was accepted: {r.status}")
        # With the device cookie from before the restart: in at once.
        start = time.monotonic()
        r = new.post_json("/api/login", creds, {"Cookie": cookie})
        self.assertEqual(r.status, 200, f"the owner's device was refused: {r.status} {r.body[:200]!r}")
        self.assertLess(time.monotonic() - start, 5)

    def test_a_dimse_identity_stopped_by_the_account_ceiling_raises_a_security_alert(self):
        # Exactly the account's burst of wrong passwords over HTTP, one per address: no
        # refusal yet, so the first one (and its alert) is the DIMSE association's.
        statuses = [https.Client(self.t.https_port, self.t.ca, source=f"127.0.0.{10 + i}").post_json(
            "/api/login", {"username": "admin", "password": f"wrong-guess-{i}-Zq9!"}).status
            for i in range(ACCOUNT_BURST)]
        self.assertEqual(statuses, [401] * ACCOUNT_BURST)
        ws = self.t.peer_add("WS", "echo", hosts=("127.0.0.2",), require_user=True)
        c = self.t.client("WS", ws, user="admin", password=self.t.admin_password)
        proxy = c.proxy(source="127.0.0.2")
        self.addCleanup(proxy.close)
        self.assertFalse(c.echo(proxy=proxy).associated, "a throttled account got in over DIMSE")
        alerts = [e for e in self.t.audit_events() if e.get("type") == "security_alert"
                  and "passcode guesses for user admin throttled" in str(e.get("reason", ""))]
        self.assertEqual(len(alerts), 1, [e for e in self.t.audit_events() if e.get("type") == "security_alert"])
        self.assertEqual(alerts[0].get("source"), "127.0.0.2", alerts[0])

    def assert_under_ceiling_verified(self, counts: dict[int, int], elapsed: float):
        verified = counts.get(401, 0)
        allowed = ACCOUNT_BURST + GUESSES_PER_MINUTE * (elapsed / 60.0 + 1)
        self.assertLessEqual(verified, allowed, f"the attacker got more guesses than documented: {counts}")
        self.assertEqual(counts.get(200, 0), 0, f"a wrong password logged in: {counts}")


if __name__ == "__main__":
    unittest.main()

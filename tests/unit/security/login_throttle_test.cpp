// LoginThrottle (per (account, address) delays and refusal, per-account
// ceiling, known-good pairs) and VerifySlots (the two Argon2id lanes). Every
// clock is injected: a simulated day runs in milliseconds.
#include "security/login_throttle.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "security/verify_slots.h"

namespace tresor::security {
namespace {

using namespace std::chrono_literals;
using Outcome = LoginThrottle::Outcome;
using time_point = LoginThrottle::time_point;

const time_point t0 = time_point{} + std::chrono::seconds(1'800'000'000);

config::Login defaults() { return config::Login{}; }

// One guess that fails; returns whether it was admitted.
bool guess_fails(LoginThrottle& t, const std::string& account, const std::string& source, time_point now) {
  auto a = t.admit(account, source, now);
  if (!a.allowed) return false;
  t.settle(account, source, a.id, Outcome::failed, now);
  return true;
}

TEST(LoginThrottle, FirstFailuresAreFreeThenDelaysGrowAndThenThePairIsRefused) {
  config::Login l = defaults();
  l.account_burst = 1000;  // only the pair rules here
  LoginThrottle t(l);
  const std::string who = "alice", from = "198.51.100.7";
  auto now = t0;
  for (int i = 0; i < l.pair_free_failures - 1; ++i) ASSERT_TRUE(guess_fails(t, who, from, now)) << i;
  // The third failure is free too, but a wait of 1 s follows it, then 2 s, 4 s ...
  ASSERT_TRUE(guess_fails(t, who, from, now));
  std::chrono::seconds expected{1};
  int failures = l.pair_free_failures;
  while (failures < l.pair_max_failures) {
    auto refused = t.admit(who, from, now);
    ASSERT_FALSE(refused.allowed) << "no delay after failure " << failures;
    EXPECT_EQ(refused.retry_after, expected);
    EXPECT_FALSE(t.admit(who, from, now + expected - 1s).allowed);
    now += expected;
    ASSERT_TRUE(guess_fails(t, who, from, now)) << "refused after waiting " << expected.count() << " s";
    ++failures;
    expected = std::min<std::chrono::seconds>(expected * 2, std::chrono::seconds(l.pair_max_delay_s));
  }
  // pair_max_failures within the window: refused until the oldest leaves it.
  now += std::chrono::seconds(l.pair_max_delay_s);
  auto refused = t.admit(who, from, now);
  ASSERT_FALSE(refused.allowed);
  EXPECT_NE(refused.reason.find("too many wrong passwords"), std::string::npos);
  EXPECT_EQ(now + refused.retry_after, t0 + std::chrono::seconds(l.pair_window_s));
  // Another address for the same account is not affected by this pair.
  EXPECT_TRUE(t.admit(who, "198.51.100.8", now).allowed);
  // After the window the pair may guess again.
  EXPECT_TRUE(t.admit(who, from, t0 + std::chrono::seconds(l.pair_window_s) + 1s).allowed);
}

TEST(LoginThrottle, ASimulatedDayOfGuessingFromEveryAddressStaysUnderTheDocumentedCeiling) {
  // The attacker guesses 5 times a second, every second of a day, each time
  // from a fresh address (a botnet); the owner logs in from their usual
  // address every 10 minutes and must never be refused.
  const config::Login l = defaults();
  const std::int64_t ceiling = LoginThrottle::guesses_per_day_ceiling(l);
  ASSERT_EQ(ceiling, 2890);  // the figure in docs/threat-model.md and the [login] comments
  LoginThrottle t(l, 20'000);  // small memory: eviction must not raise the ceiling
  const std::string owner_address = "10.0.0.5";
  auto first = t.admit("admin", owner_address, t0 - 1h);
  ASSERT_TRUE(first.allowed);
  t.settle("admin", owner_address, first.id, Outcome::succeeded, t0 - 1h);

  std::int64_t admitted = 0, address = 0;
  for (int s = 0; s < 86400; ++s) {
    const auto now = t0 + std::chrono::seconds(s);
    for (int k = 0; k < 5; ++k) {
      ++address;
      const std::string from = "203." + std::to_string(address / 65536 % 256) + "." +
                               std::to_string(address / 256 % 256) + "." + std::to_string(address % 256);
      if (guess_fails(t, "admin", from, now)) ++admitted;
    }
    if (s % 600 == 0) {
      auto owner = t.admit("admin", owner_address, now);
      ASSERT_TRUE(owner.allowed) << "the owner was refused at second " << s << ": " << owner.reason;
      EXPECT_TRUE(owner.known_good);
      t.settle("admin", owner_address, owner.id, Outcome::succeeded, now);
    }
  }
  EXPECT_LE(admitted, ceiling);
  EXPECT_GE(admitted, ceiling - 5) << "the ceiling is the binding limit here; the simulation is off";
}

TEST(LoginThrottle, AKnownGoodPairIsNeverRefusedWhileOthersExhaustTheAccount) {
  const config::Login l = defaults();
  LoginThrottle t(l);
  auto ok = t.admit("admin", "10.0.0.5", t0);
  ASSERT_TRUE(ok.allowed);
  EXPECT_FALSE(ok.known_good);
  t.settle("admin", "10.0.0.5", ok.id, Outcome::succeeded, t0);
  EXPECT_TRUE(t.known_good("admin", "10.0.0.5", t0));

  for (int i = 0; i < 1000; ++i) (void)guess_fails(t, "admin", "203.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), t0 + 1s);
  auto stranger = t.admit("admin", "192.0.2.1", t0 + 2s);
  EXPECT_FALSE(stranger.allowed) << "the ceiling does not hold";
  EXPECT_GE(stranger.retry_after, 1s);
  auto owner = t.admit("admin", "10.0.0.5", t0 + 2s);
  ASSERT_TRUE(owner.allowed) << owner.reason;
  EXPECT_TRUE(owner.known_good);
  t.settle("admin", "10.0.0.5", owner.id, Outcome::succeeded, t0 + 2s);
  // Other accounts are not affected.
  EXPECT_TRUE(t.admit("carol", "203.0.113.9", t0 + 2s).allowed);

  // Known good, even after many failures from the same address (a NAT shared
  // with a guesser), is delayed but never refused for the window.
  auto now = t0 + 3s;
  for (int i = 0; i < 3 * l.pair_max_failures; ++i) {
    auto a = t.admit("admin", "10.0.0.5", now);
    ASSERT_TRUE(a.allowed) << "known-good pair refused after " << i << " failures: " << a.reason;
    t.settle("admin", "10.0.0.5", a.id, Outcome::failed, now);
    now += std::chrono::seconds(l.pair_max_delay_s);
  }
  // Forgotten after known_good_days.
  EXPECT_FALSE(t.known_good("admin", "10.0.0.5", now + std::chrono::days(l.known_good_days)));
}

TEST(LoginThrottle, ParallelGuessesFromOnePairCannotSkipTheDelays) {
  config::Login l = defaults();
  l.account_burst = 1000;
  LoginThrottle t(l);
  // Guesses in flight (admitted, not yet settled) count as failures.
  int admitted = 0;
  for (int i = 0; i < 50; ++i) admitted += t.admit("alice", "203.0.113.9", t0).allowed ? 1 : 0;
  EXPECT_EQ(admitted, l.pair_free_failures);
}

TEST(LoginThrottle, GuessesThatWereNotCheckedDoNotCountAgainstThePair) {
  config::Login l = defaults();
  l.account_burst = 1000;
  LoginThrottle t(l);
  for (int i = 0; i < 20; ++i) {
    auto a = t.admit("alice", "203.0.113.9", t0);
    ASSERT_TRUE(a.allowed) << i;
    t.settle("alice", "203.0.113.9", a.id, Outcome::not_checked, t0);
  }
}

TEST(LoginThrottle, UnknownNamesAreThrottledExactlyLikeKnownOnes) {
  // The throttle never looks at the user list: same answers for any name.
  const config::Login l = defaults();
  LoginThrottle t(l);
  std::vector<bool> known, unknown;
  for (int i = 0; i < 15; ++i) {
    known.push_back(guess_fails(t, "admin", "203.0.113.9", t0 + std::chrono::seconds(i)));
    unknown.push_back(guess_fails(t, "no-such-user-x", "203.0.113.9", t0 + std::chrono::seconds(i)));
  }
  EXPECT_EQ(known, unknown);
}

TEST(LoginThrottle, ASuccessEndsThePendingDelayButDoesNotForgetTheFailures) {
  config::Login l = defaults();
  l.account_burst = 1000;
  LoginThrottle t(l);
  for (int i = 0; i < l.pair_free_failures; ++i) ASSERT_TRUE(guess_fails(t, "alice", "10.0.0.5", t0));
  ASSERT_FALSE(t.admit("alice", "10.0.0.5", t0).allowed);  // delayed 1 s
  auto ok = t.admit("alice", "10.0.0.5", t0 + 1s);
  ASSERT_TRUE(ok.allowed);
  t.settle("alice", "10.0.0.5", ok.id, Outcome::succeeded, t0 + 1s);
  EXPECT_TRUE(t.admit("alice", "10.0.0.5", t0 + 1s).allowed);  // no pending delay
}

TEST(LoginThrottle, MemoryStaysBoundedUnderAFloodOfNamesAndAddresses) {
  LoginThrottle t(defaults(), 64);
  for (int i = 0; i < 10'000; ++i) (void)guess_fails(t, "u" + std::to_string(i), "a" + std::to_string(i), t0);
  // Observable through throttled(): never more than the bounds allow.
  EXPECT_LE(t.throttled(t0).size(), 2u * 64u);
}

TEST(LoginThrottle, ThrottledListsRefusedPairsAndAccountsAtTheirCeiling) {
  const config::Login l = defaults();
  LoginThrottle t(l);
  for (int i = 0; i < l.account_burst; ++i) (void)guess_fails(t, "admin", "203.0.113." + std::to_string(i), t0);
  bool account_listed = false;
  for (const auto& x : t.throttled(t0)) account_listed |= x.account == "admin" && x.source.empty() && x.until > t0;
  EXPECT_TRUE(account_listed);
}

// --- VerifySlots ------------------------------------------------------------------

TEST(VerifySlots, TheSharedLaneRefusesQuicklyInsteadOfQueueingWithoutBound) {
  VerifySlots slots({.shared = 2, .reserved = 1, .shared_waiters = 1, .shared_wait = 100ms, .priority_wait = 5s});
  auto a = slots.acquire(VerifySlots::Lane::shared);
  auto b = slots.acquire(VerifySlots::Lane::shared);
  ASSERT_TRUE(a && b);
  // One waiter may queue (and times out); a second is refused at once.
  auto waiter = std::async(std::launch::async, [&] {
    const auto start = std::chrono::steady_clock::now();
    auto s = slots.acquire(VerifySlots::Lane::shared);
    return std::make_pair(s.has_value(), std::chrono::steady_clock::now() - start);
  });
  std::this_thread::sleep_for(20ms);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(slots.acquire(VerifySlots::Lane::shared).has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 50ms);
  auto [got, waited] = waiter.get();
  EXPECT_FALSE(got);
  EXPECT_GE(waited, 90ms);
  EXPECT_LT(waited, 2s);
}

TEST(VerifySlots, ThePriorityLaneGetsTheReservedSlotWhileTheSharedOnesAreBusy) {
  VerifySlots slots({.shared = 2, .reserved = 1, .shared_waiters = 4, .shared_wait = 100ms, .priority_wait = 5s});
  auto a = slots.acquire(VerifySlots::Lane::shared);
  auto b = slots.acquire(VerifySlots::Lane::shared);
  ASSERT_TRUE(a && b);
  auto p = slots.acquire(VerifySlots::Lane::priority);
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->reserved());
  EXPECT_EQ(slots.in_use(), 3u);
  // The shared lane never takes the reserved slot.
  EXPECT_FALSE(slots.acquire(VerifySlots::Lane::shared).has_value());
}

TEST(VerifySlots, PriorityWaitersGoBeforeSharedWaiters) {
  VerifySlots slots({.shared = 1, .reserved = 0, .shared_waiters = 8, .shared_wait = 2s, .priority_wait = 2s});
  auto held = std::make_optional(*slots.acquire(VerifySlots::Lane::shared));
  std::atomic<int> order{0};
  std::atomic<int> shared_rank{0}, priority_rank{0};
  std::thread shared([&] {
    auto s = slots.acquire(VerifySlots::Lane::shared);
    shared_rank = ++order;
  });
  std::this_thread::sleep_for(30ms);
  std::thread priority([&] {
    auto s = slots.acquire(VerifySlots::Lane::priority);
    priority_rank = ++order;
    std::this_thread::sleep_for(20ms);
  });
  std::this_thread::sleep_for(30ms);
  held.reset();  // frees the only slot: the priority waiter takes it
  shared.join();
  priority.join();
  EXPECT_EQ(priority_rank.load(), 1);
  EXPECT_EQ(shared_rank.load(), 2);
}

} // namespace
} // namespace tresor::security

// Password-guessing throttle shared by every password path: HTTP login and
// Basic (http_auth.cpp) and DIMSE user identity type 2 (policy.cpp). One
// object per process, built at the composition root (app/cmd_serve.cpp), so a
// throttled account is throttled on both protocols.
//
// It replaces a hard account lock, which a guesser could turn against the
// owner. Contract:
//  - a guess is a password verification for a claimed account name from a
//    source address; admit() is asked BEFORE the (slow) verification and
//    settle() reports its outcome. Nothing here ever sleeps: a refused guess
//    carries the time after which to retry (HTTP answers 429 + Retry-After).
//  - per (account, address) pair: the first `pair_free_failures` failures
//    are free; after each further one the pair waits 1 s, 2 s, 4 s, ...
//    (capped at pair_max_delay_s) before its next guess is admitted; with
//    `pair_max_failures` failures inside `pair_window_s` the pair's guesses
//    are refused until the oldest of them leaves the window. A guess in
//    flight counts as a failure until settled (parallel guesses from one
//    pair cannot skip the delays).
//  - per account: every admitted guess from a pair that is not known good
//    takes a token from the account's bucket (account_burst tokens, refilled
//    at account_guesses_per_minute). This is the global ceiling: from
//    addresses the owner never logged in from, an attacker gets at most
//        account_burst + account_guesses_per_minute * 1440
//    guesses per account per day (10 + 2 * 1440 = 2,890 with the defaults),
//    whatever the number of addresses (test: LoginThrottle.
//    ASimulatedDayOfGuessingFromEveryAddressStaysUnderTheDocumentedCeiling).
//  - known good: a pair that succeeded within known_good_days is remembered
//    (bounded memory: at most max_keys pairs, oldest forgotten first). Its
//    guesses take no token from the account bucket, so failures from
//    elsewhere never refuse it, and it is never refused outright, only
//    delayed (pair delays, capped at pair_max_delay_s). An attacker sharing
//    the owner's address (same NAT) adds at most
//        pair_free_failures + 86400 / pair_max_delay_s
//    guesses per day and per such address (3 + 288 = 291 with the defaults).
//  - device cookies (device_cookie.h): a guess presenting a valid device
//    cookie of the account is judged per (account, device) instead of per
//    (account, address): it takes no token from the account bucket (like a
//    known-good pair, and in the priority lane) but its pair gets the full
//    treatment (delays, then refusal after pair_max_failures), so a stolen
//    cookie adds at most pair_max_failures guesses per pair_window_s. A
//    device refused that way counts as no cookie: the guess is judged per
//    (account, address) and by the account ceiling like any other.
//  - the first refusal of an account by its ceiling in 15 minutes sets
//    Admission::alert (the caller audits a security alert): at most 96 a day.
//  - names are not checked against the user list: an unknown name is
//    throttled exactly like a known one (lock-outs reveal nothing).
//  - memory: pairs, accounts and known-good pairs each at most max_keys
//    entries (oldest inserted evicted first); thread-safe.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "security/bounded_map.h"

namespace tresor::security {

class LoginThrottle {
public:
  using time_point = std::chrono::system_clock::time_point;

  explicit LoginThrottle(const config::Login& limits, std::size_t max_keys = 100'000);

  struct Admission {
    bool allowed = false;
    bool known_good = false;           // the pair succeeded before (priority verification lane)
    std::chrono::seconds retry_after{};  // when refused: wait at least this long (>= 1 s)
    std::string reason;                // when refused: for the audit trail
    std::uint64_t id = 0;              // when allowed: pass to settle()
    bool alert = false;                // refused by the account ceiling, first time in 15 min: audit an alert
    bool device = false;               // judged as the device (settle with device_source(device), not the address)
  };
  enum class Outcome { failed, succeeded, not_checked };

  // May a guess for `account` from `source` be verified now? If allowed, the
  // guess counts as a failure of the pair (and took its account token) until
  // settle() says otherwise.
  // `device`: the nonce of a device cookie already verified for `account`
  // ("" = none); see the contract.
  Admission admit(std::string_view account, std::string_view source, time_point now, std::string_view device = {});
  // The `source` under which a device's guesses are counted (pass it to
  // settle() when Admission::device): "device:" + nonce.
  static std::string device_source(std::string_view device);
  // Reports the outcome of an admitted guess. `not_checked`: no verification
  // happened (a busy verifier, a repository failure): the pair is not
  // charged (the account token is not refunded). Returns true when this
  // failure starts a refusal of the pair (pair_max_failures reached).
  bool settle(std::string_view account, std::string_view source, std::uint64_t id, Outcome outcome, time_point now);

  bool known_good(std::string_view account, std::string_view source, time_point now) const;

  struct Throttled {
    std::string account;
    std::string source;   // "" = the whole account (ceiling reached)
    time_point until{};
  };
  // Pairs refused or delayed now, and accounts at their ceiling (admin page).
  std::vector<Throttled> throttled(time_point now) const;

  // The documented daily ceiling for an account from addresses that are not
  // known good (see the contract above).
  static std::int64_t guesses_per_day_ceiling(const config::Login& limits);

private:
  struct Failure {
    time_point at;
    std::uint64_t id;
  };
  struct Pair {
    std::deque<Failure> failures;  // inside pair_window_s, oldest first
    time_point next_allowed{};
  };
  struct Bucket {
    double tokens = 0;
    time_point updated{};
    time_point last_alert{};
  };

  void prune(Pair& p, time_point now) const;
  std::chrono::seconds delay_after(std::size_t failures) const;
  void refill(Bucket& b, time_point now) const;
  // Charges an admitted guess to the pair (provisionally a failure).
  void charge(const std::string& key, Pair* p, Admission& a, time_point now);

  const config::Login limits_;
  mutable std::mutex mutex_;
  std::uint64_t next_id_ = 1;
  // mutable: BoundedMap::find() is not const; every access holds mutex_.
  mutable BoundedMap<Pair> pairs_;
  mutable BoundedMap<Bucket> accounts_;
  mutable BoundedMap<time_point> known_;  // pair key -> last success
};

} // namespace tresor::security

// Password-guessing throttle (see login_throttle.h for the contract).
//
// Choices made here, beyond the header:
//  - keys: account + '\n' + address (neither may contain a newline that
//    matters: account names with control characters are refused upstream);
//  - the account bucket starts full (account_burst tokens); a refused guess
//    takes no token, so retrying early costs the guesser nothing and gains
//    nothing;
//  - a success forgets the pending delay of its pair (the owner who mistyped
//    is not kept waiting after getting in) but not its failures: they leave
//    the window with time, so successes cannot be interleaved with guesses to
//    reset the count;
//  - retry_after is rounded up to whole seconds and at least 1 s.
#include "security/login_throttle.h"

#include <algorithm>
#include <cmath>

namespace tresor::security {
namespace {

std::string pair_key(std::string_view account, std::string_view source) {
  std::string k;
  k.reserve(account.size() + 1 + source.size());
  k.append(account).push_back('\n');
  k.append(source);
  return k;
}

std::chrono::seconds ceil_seconds(std::chrono::system_clock::duration d) {
  auto s = std::chrono::ceil<std::chrono::seconds>(d);
  return std::max(s, std::chrono::seconds{1});
}

} // namespace

LoginThrottle::LoginThrottle(const config::Login& limits, std::size_t max_keys)
    : limits_(limits), pairs_(max_keys), accounts_(max_keys), known_(max_keys) {}

std::int64_t LoginThrottle::guesses_per_day_ceiling(const config::Login& l) {
  return static_cast<std::int64_t>(std::max(l.account_burst, 1)) +
         static_cast<std::int64_t>(std::max(l.account_guesses_per_minute, 1)) * 1440;
}

void LoginThrottle::prune(Pair& p, time_point now) const {
  const auto window = std::chrono::seconds(std::max(limits_.pair_window_s, 1));
  while (!p.failures.empty() && p.failures.front().at <= now - window) p.failures.pop_front();
}

std::chrono::seconds LoginThrottle::delay_after(std::size_t failures) const {
  const auto free = static_cast<std::size_t>(std::max(limits_.pair_free_failures, 0));
  if (failures < free || failures == 0) return std::chrono::seconds{0};
  const std::size_t doublings = std::min<std::size_t>(failures - free, 30);
  const std::int64_t delay = std::int64_t{1} << doublings;
  return std::chrono::seconds(std::min<std::int64_t>(delay, std::max(limits_.pair_max_delay_s, 1)));
}

void LoginThrottle::refill(Bucket& b, time_point now) const {
  const double burst = std::max(limits_.account_burst, 1);
  const double per_second = std::max(limits_.account_guesses_per_minute, 1) / 60.0;
  if (now > b.updated) {
    const double elapsed = std::chrono::duration<double>(now - b.updated).count();
    b.tokens = std::min(burst, b.tokens + elapsed * per_second);
    b.updated = now;
  }
}

bool LoginThrottle::known_good(std::string_view account, std::string_view source, time_point now) const {
  std::lock_guard lock(mutex_);
  const time_point* last = known_.find(pair_key(account, source));
  return last && now - *last < std::chrono::days(std::max(limits_.known_good_days, 1));
}

std::string LoginThrottle::device_source(std::string_view device) {
  return "device:" + std::string(device);
}

void LoginThrottle::charge(const std::string& key, Pair* p, Admission& a, time_point now) {
  if (!p) {
    pairs_.put(key, Pair{});
    p = pairs_.find(key);
  }
  // Provisionally a failure (see the header): the delay applies from now.
  a.id = next_id_++;
  p->failures.push_back({now, a.id});
  p->next_allowed = std::max(p->next_allowed, now + delay_after(p->failures.size()));
  a.allowed = true;
}

LoginThrottle::Admission LoginThrottle::admit(std::string_view account, std::string_view source, time_point now,
                                              std::string_view device) {
  std::lock_guard lock(mutex_);
  Admission a;
  if (!device.empty()) {
    // The device's own pair: delays, then refusal; no account token.
    const std::string dkey = pair_key(account, device_source(device));
    Pair* dp = pairs_.find(dkey);
    if (dp) prune(*dp, now);
    const bool refused = dp && static_cast<int>(dp->failures.size()) >= std::max(limits_.pair_max_failures, 1);
    if (!refused) {
      if (dp && now < dp->next_allowed) {
        a.retry_after = ceil_seconds(dp->next_allowed - now);
        a.reason = "guesses from this device for this account are delayed after wrong passwords";
        return a;
      }
      a.device = true;
      a.known_good = true;
      charge(dkey, dp, a, now);
      return a;
    }
    // A device refused for failures counts as no cookie (header).
  }
  const std::string key = pair_key(account, source);
  const time_point* last = known_.find(key);
  a.known_good = last && now - *last < std::chrono::days(std::max(limits_.known_good_days, 1));

  Pair* p = pairs_.find(key);
  if (p) {
    prune(*p, now);
    if (!a.known_good && static_cast<int>(p->failures.size()) >= std::max(limits_.pair_max_failures, 1)) {
      const auto window = std::chrono::seconds(std::max(limits_.pair_window_s, 1));
      a.retry_after = ceil_seconds(p->failures.front().at + window - now);
      a.reason = "too many wrong passwords from this address for this account";
      return a;
    }
    if (now < p->next_allowed) {
      a.retry_after = ceil_seconds(p->next_allowed - now);
      a.reason = "guesses from this address for this account are delayed after wrong passwords";
      return a;
    }
  }
  if (!a.known_good) {
    Bucket* b = accounts_.find(std::string(account));
    if (!b) {
      accounts_.put(std::string(account), Bucket{static_cast<double>(std::max(limits_.account_burst, 1)), now, {}});
      b = accounts_.find(std::string(account));
    }
    refill(*b, now);
    if (b->tokens < 1.0) {
      const double per_second = std::max(limits_.account_guesses_per_minute, 1) / 60.0;
      a.retry_after = ceil_seconds(std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>((1.0 - b->tokens) / per_second)));
      a.reason = "account guess ceiling reached (guesses from other addresses)";
      if (b->last_alert == time_point{} || now - b->last_alert >= std::chrono::minutes(15)) {
        a.alert = true;
        b->last_alert = now;
      }
      return a;
    }
    b->tokens -= 1.0;
  }
  charge(key, p, a, now);
  return a;
}

bool LoginThrottle::settle(std::string_view account, std::string_view source, std::uint64_t id, Outcome outcome,
                           time_point now) {
  const std::string key = pair_key(account, source);
  std::lock_guard lock(mutex_);
  Pair* p = pairs_.find(key);
  // A device's success says nothing about the address (the device is what is known).
  if (outcome == Outcome::succeeded && !source.starts_with("device:")) known_.put(key, now);
  if (!p) return false;
  auto it = std::find_if(p->failures.begin(), p->failures.end(), [&](const Failure& f) { return f.id == id; });
  switch (outcome) {
    case Outcome::failed: {
      if (it != p->failures.end()) it->at = now;  // the window counts from the verdict
      prune(*p, now);
      p->next_allowed = std::max(p->next_allowed, now + delay_after(p->failures.size()));
      return static_cast<int>(p->failures.size()) == std::max(limits_.pair_max_failures, 1);
    }
    case Outcome::succeeded:
      if (it != p->failures.end()) p->failures.erase(it);
      p->next_allowed = time_point{};
      return false;
    case Outcome::not_checked:
      if (it != p->failures.end()) p->failures.erase(it);
      if (p->failures.empty()) p->next_allowed = time_point{};
      return false;
  }
  return false;
}

std::vector<LoginThrottle::Throttled> LoginThrottle::throttled(time_point now) const {
  std::lock_guard lock(mutex_);
  std::vector<Throttled> out;
  const auto window = std::chrono::seconds(std::max(limits_.pair_window_s, 1));
  pairs_.for_each([&](const std::string& key, const Pair& p) {
    const std::size_t nl = key.find('\n');
    Throttled t{key.substr(0, nl), key.substr(nl + 1), p.next_allowed};
    std::size_t live = 0;
    for (const auto& f : p.failures) live += f.at > now - window ? 1 : 0;
    if (static_cast<int>(live) >= std::max(limits_.pair_max_failures, 1) && !p.failures.empty()) {
      t.until = std::max(t.until, p.failures.front().at + window);
    }
    if (t.until > now) out.push_back(std::move(t));
  });
  const double per_second = std::max(limits_.account_guesses_per_minute, 1) / 60.0;
  accounts_.for_each([&](const std::string& account, const Bucket& b) {
    Bucket now_b = b;
    refill(now_b, now);
    if (now_b.tokens < 1.0) {
      const auto wait = std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>((1.0 - now_b.tokens) / per_second));
      out.push_back({account, "", now + wait});
    }
  });
  return out;
}

} // namespace tresor::security

// Admission to Argon2id password verifications (each ~64 MiB and ~0.2 s of a
// core), in two lanes so that a flood of failed logins cannot starve those
// that matter most. Contract:
//  - `reserved` slots serve only the priority lane: DIMSE user identity and
//    logins from a known-good (account, address) pair (login_throttle.h);
//    the priority lane may also take a free shared slot, and its waiters go
//    before shared waiters;
//  - the shared lane (every other password check) has `shared` slots and at
//    most `shared_waiters` callers waiting, each at most `shared_wait`;
//    beyond either it is refused at once (the caller answers "busy, retry")
//    instead of queueing without bound on the HTTP handler threads;
//  - a priority caller waits at most `priority_wait`;
//  - thread-safe; a Slot releases on destruction.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>

namespace tresor::security {

class VerifySlots {
public:
  struct Limits {
    std::size_t shared = 2;
    std::size_t reserved = 1;
    std::size_t shared_waiters = 4;
    std::chrono::milliseconds shared_wait{2000};
    std::chrono::milliseconds priority_wait{30000};
  };
  enum class Lane { shared, priority };

  explicit VerifySlots(Limits limits);

  class Slot {
  public:
    Slot(Slot&& other) noexcept : owner_(other.owner_), reserved_(other.reserved_) { other.owner_ = nullptr; }
    Slot& operator=(Slot&&) = delete;
    ~Slot();
    bool reserved() const { return reserved_; }

  private:
    friend class VerifySlots;
    Slot(VerifySlots* owner, bool reserved) : owner_(owner), reserved_(reserved) {}
    VerifySlots* owner_;
    bool reserved_;
  };

  // A slot, or nullopt when the lane refuses (see the contract).
  std::optional<Slot> acquire(Lane lane);

  // For tests and the admin view: slots in use now.
  std::size_t in_use() const;

private:
  void release(bool reserved);

  const Limits limits_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t shared_free_;
  std::size_t reserved_free_;
  std::size_t shared_waiting_ = 0;
  std::size_t priority_waiting_ = 0;
};

} // namespace tresor::security

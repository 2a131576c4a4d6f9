// Two-lane admission to Argon2id verifications (see verify_slots.h).
#include "security/verify_slots.h"

#include <algorithm>

namespace tresor::security {

VerifySlots::VerifySlots(Limits limits)
    : limits_(limits), shared_free_(std::max<std::size_t>(limits.shared, 1)), reserved_free_(limits.reserved) {}

VerifySlots::Slot::~Slot() {
  if (owner_) owner_->release(reserved_);
}

std::optional<VerifySlots::Slot> VerifySlots::acquire(Lane lane) {
  std::unique_lock lock(mutex_);
  if (lane == Lane::priority) {
    const auto deadline = std::chrono::steady_clock::now() + limits_.priority_wait;
    ++priority_waiting_;
    const bool got = cv_.wait_until(lock, deadline, [&] { return reserved_free_ > 0 || shared_free_ > 0; });
    --priority_waiting_;
    if (!got) return std::nullopt;
    if (reserved_free_ > 0) {
      --reserved_free_;
      return Slot(this, true);
    }
    --shared_free_;
    return Slot(this, false);
  }
  auto available = [&] { return shared_free_ > 0 && priority_waiting_ == 0; };
  if (!available()) {
    if (shared_waiting_ >= limits_.shared_waiters) return std::nullopt;
    const auto deadline = std::chrono::steady_clock::now() + limits_.shared_wait;
    ++shared_waiting_;
    const bool got = cv_.wait_until(lock, deadline, available);
    --shared_waiting_;
    if (!got) return std::nullopt;
  }
  --shared_free_;
  return Slot(this, false);
}

void VerifySlots::release(bool reserved) {
  {
    std::lock_guard lock(mutex_);
    if (reserved) ++reserved_free_;
    else ++shared_free_;
  }
  cv_.notify_all();
}

std::size_t VerifySlots::in_use() const {
  std::lock_guard lock(mutex_);
  return (std::max<std::size_t>(limits_.shared, 1) - shared_free_) + (limits_.reserved - reserved_free_);
}

} // namespace tresor::security

// Per-source admission of HTTPS connections (http/admission.h), with an injected time.
#include "http/admission.h"

#include <gtest/gtest.h>

namespace tresor::http::detail {
namespace {

using namespace std::chrono_literals;
using Clock = Admission::Clock;

TEST(Admission, CapsOpenConnectionsPerAddressAndGivesThePlaceBack) {
  Admission a(2, 100);
  EXPECT_TRUE(a.open("10.0.0.1"));
  EXPECT_TRUE(a.open("10.0.0.1"));
  EXPECT_FALSE(a.open("10.0.0.1"));
  EXPECT_TRUE(a.open("10.0.0.2"));  // another address is not affected
  a.close("10.0.0.1");
  EXPECT_TRUE(a.open("10.0.0.1"));
}

TEST(Admission, AHandshakeBurstWaitsForItsTurnThenIsRefused) {
  Admission a(100, 5);  // 5 a second, burst 10, at most 2 s of waiting (10 more)
  const Clock::time_point t0{};
  int immediate = 0, waiting = 0, refused = 0;
  Clock::duration longest{};
  for (int i = 0; i < 40; ++i) {
    auto d = a.handshake_delay("10.0.0.1", t0);
    if (!d) ++refused;
    else if (*d == Clock::duration::zero()) ++immediate;
    else {
      ++waiting;
      longest = std::max(longest, *d);
    }
  }
  EXPECT_EQ(immediate, 10);
  EXPECT_EQ(waiting, 10);
  EXPECT_EQ(refused, 20);
  EXPECT_LE(longest, Admission::kMaxWait);
  EXPECT_EQ(a.handshake_delay("10.0.0.2", t0), Clock::duration::zero());  // others are not slowed down
  // Time refills the bucket: after the debt is paid and 1 s more, 5 handshakes go at once.
  int later = 0;
  for (int i = 0; i < 6; ++i)
    if (auto d = a.handshake_delay("10.0.0.1", t0 + 3s); d && *d == Clock::duration::zero()) ++later;
  EXPECT_EQ(later, 5);
}

TEST(Admission, TracksABoundedNumberOfAddresses) {
  Admission a(100, 1);
  const Clock::time_point t0{};
  for (std::size_t i = 0; i < 3 * Admission::kMaxBuckets; ++i)
    EXPECT_TRUE(a.handshake_delay("10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
                                      std::to_string(i % 256),
                                  t0 + std::chrono::seconds(i))
                    .has_value());
}

} // namespace
} // namespace tresor::http::detail

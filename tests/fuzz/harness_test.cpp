// The harnesses' system-call helpers (fuzz_common.h) under a signal storm:
// libFuzzer's SIGALRM timer is installed without SA_RESTART, so a blocking
// call of a harness fails with EINTR at random (a CI run aborted with
// "fuzz_dimse_pdu harness: connect: Interrupted system call"). Built and run
// with the fuzz targets (ctest -L fuzz-regression).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>
#include <thread>

#include <gtest/gtest.h>

#include "fuzz_common.h"

namespace {

std::atomic<int> g_signals{0};
void on_alarm(int) { g_signals.fetch_add(1, std::memory_order_relaxed); }

// SIGALRM every `us` microseconds, without SA_RESTART (as libFuzzer does),
// for the lifetime of the object.
class SignalStorm {
public:
  explicit SignalStorm(long us) {
    struct sigaction sa {};
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    ::sigaction(SIGALRM, &sa, &old_);
    itimerval t{{0, us}, {0, us}};
    ::setitimer(ITIMER_REAL, &t, nullptr);
  }
  ~SignalStorm() {
    itimerval off{};
    ::setitimer(ITIMER_REAL, &off, nullptr);
    ::sigaction(SIGALRM, &old_, nullptr);
  }

private:
  struct sigaction old_ {};
};

// A loopback listener whose accept queue is full: the next connect() blocks
// in the kernel (SYN retransmits) until something is accepted.
struct FullListener {
  int fd = -1;
  sockaddr_in addr{};
  std::vector<int> queued;
  FullListener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd, 0), 0);
    ::fcntl(fd, F_SETFL, O_NONBLOCK);  // the drain below polls
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    // Backlog 0 admits one pending connection (Linux: backlog + 1).
    for (int i = 0; i < 2; ++i) {
      int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      queued.push_back(c);
    }
  }
  ~FullListener() {
    for (int c : queued) ::close(c);
    ::close(fd);
  }
  // Accepts (and closes) whatever is queued, from `delay` on for one second,
  // on a thread.
  std::thread drain_after(std::chrono::milliseconds delay) {
    return std::thread([this, delay] {
      std::this_thread::sleep_for(delay);
      const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (std::chrono::steady_clock::now() < end) {
        const int s = tresor::fuzz::accept_retrying(fd, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (s >= 0) ::close(s);
        else std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
};

TEST(FuzzHarness, APlainConnectIsInterruptedBySignalsWhileItWaits) {
  // What the harness did before: the storm makes connect() fail with EINTR.
  FullListener l;
  std::thread drain = l.drain_after(std::chrono::milliseconds(300));
  int rc = 0, err = 0;
  {
    SignalStorm storm(2000);
    const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    rc = ::connect(c, reinterpret_cast<sockaddr*>(&l.addr), sizeof l.addr);
    err = errno;
    ::close(c);
  }
  drain.join();
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(err, EINTR);
}

TEST(FuzzHarness, ConnectRetryingSurvivesASignalStormAndConnects) {
  FullListener l;
  std::thread drain = l.drain_after(std::chrono::milliseconds(300));
  bool connected = false;
  const int before = g_signals.load();
  const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  {
    SignalStorm storm(2000);
    connected = tresor::fuzz::connect_retrying(c, reinterpret_cast<sockaddr*>(&l.addr), sizeof l.addr);
  }
  drain.join();
  EXPECT_TRUE(connected) << std::strerror(errno);
  EXPECT_GT(g_signals.load() - before, 10) << "the storm did not interrupt the wait";
  ::close(c);
}

TEST(FuzzHarness, SendAndWriteRetryingDeliverEveryByteUnderASignalStorm) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  const std::string data(4 << 20, 'x');  // far beyond the socket buffer: send blocks
  std::size_t received = 0;
  std::thread reader([&] {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(sv[1], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      received += std::size_t(n);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  {
    SignalStorm storm(1000);
    EXPECT_TRUE(tresor::fuzz::send_all(sv[0], data.data(), data.size()));
    EXPECT_TRUE(tresor::fuzz::write_all(sv[0], data.data(), data.size()));
  }
  ::shutdown(sv[0], SHUT_WR);
  reader.join();
  EXPECT_EQ(received, 2 * data.size());
  ::close(sv[0]);
  ::close(sv[1]);
}

} // namespace

// `tresor index sql SQL`: one read-only statement against the index, which
// the sqlite3 CLI cannot read since it is encrypted at rest. Rows go to
// stdout as JSON arrays, one per line (at most 1,000,000). The statement is
// audited (admin event "index sql" with the SQL text: it may name a patient,
// and the audit trail is where patient data may go).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <vector>

#include "commands.h"
#include "instance.h"

namespace tresor::app {

int cmd_index_sql(const Global& global, const std::string& sql) {
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  auto rows = inst.index().read_only_sql(sql, 1'000'000);
  inst.record_admin("index sql", "", rows ? audit::Outcome::success : audit::Outcome::failure, {{"sql", sql}});
  if (!rows) {
    print_error(rows.error().message);
    return rows.error().code == Errc::invalid_argument ? kExitUsage : kExitFailed;
  }
  for (const std::string& row : *rows) std::cout << row << '\n';
  return kExitOk;
}

} // namespace tresor::app

namespace tresor::app {

// `tresor store cat KEY --out FILE`: the plaintext of one stored object
// (objects are encrypted at rest), written to FILE with mode 0600 and never
// over an existing file. For the operator's checks (and the fault tests); it
// needs the key like every verb, and is audited (data_export, the blob key).
int cmd_store_cat(const Global& global, const std::string& key, const std::string& out) {
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  auto fail_with = [&](const Error& e) {
    inst.record_admin("store cat", key, audit::Outcome::failure, {{"reason", e.message}});
    print_error(e.message);
    return e.code == Errc::invalid_argument ? kExitUsage : kExitFailed;
  };
  auto source = inst.store().open(key);
  if (!source) return fail_with(source.error());
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fail_with(make_error(Errc::io_error, "cannot create " + out + ": " + std::strerror(errno)));
  std::vector<std::byte> buf(1 << 20);
  std::uint64_t offset = 0;
  bool ok = true;
  Error error;
  while (ok) {
    auto n = (*source)->read_at(offset, buf);
    if (!n) {
      error = n.error();
      ok = false;
      break;
    }
    if (*n == 0) break;
    std::size_t done = 0;
    while (done < *n) {
      const ssize_t w = ::write(fd, buf.data() + done, *n - done);
      if (w < 0) {
        if (errno == EINTR) continue;
        error = make_error(Errc::io_error, std::string("write: ") + std::strerror(errno));
        ok = false;
        break;
      }
      done += static_cast<std::size_t>(w);
    }
    offset += *n;
  }
  ::close(fd);
  if (!ok) {
    ::unlink(out.c_str());
    return fail_with(error);
  }
  audit::Event e;
  e.type = audit::Type::data_export;
  e.outcome = audit::Outcome::success;
  e.actor = "system";
  e.reason = "store cat";
  e.details = {{"blob", key}, {"bytes", std::to_string(offset)}};
  inst.audit().record(e);
  return kExitOk;
}

} // namespace tresor::app

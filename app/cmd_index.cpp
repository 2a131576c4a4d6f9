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

// `tresor store cat KEY... --out PATH`: the plaintext of stored objects
// (objects are encrypted at rest). One key: PATH is the file to create; several:
// PATH is a directory (created 0700 if missing) and each object goes to
// PATH/KEY. Files are created with mode 0600, never over an existing file. For
// the operator's checks (and the fault tests, which compare hundreds of objects
// in one process); it needs the key like every verb, and is audited
// (data_export, one event with the number of objects).
namespace {

Status write_plaintext(ByteSource& source, const std::string& out) {
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fail(Errc::io_error, "cannot create " + out + ": " + std::strerror(errno));
  std::vector<std::byte> buf(1 << 20);
  std::uint64_t offset = 0;
  Status result;
  for (;;) {
    auto n = source.read_at(offset, buf);
    if (!n) {
      result = std::unexpected(n.error());
      break;
    }
    if (*n == 0) break;
    std::size_t done = 0;
    while (done < *n && result) {
      const ssize_t w = ::write(fd, buf.data() + done, *n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) result = fail(Errc::io_error, std::string("write: ") + std::strerror(errno));
      else done += static_cast<std::size_t>(w);
    }
    if (!result) break;
    offset += *n;
  }
  ::close(fd);
  if (!result) ::unlink(out.c_str());
  return result;
}

} // namespace

int cmd_store_cat(const Global& global, const std::vector<std::string>& keys, const std::string& out) {
  auto instance = Instance::open(global.var);
  if (!instance) {
    print_error(instance.error().message);
    return kExitFailed;
  }
  Instance& inst = **instance;
  const bool to_dir = keys.size() > 1;
  if (to_dir) {
    std::error_code ec;
    std::filesystem::create_directories(out, ec);
    if (ec) {
      print_error("cannot create " + out + ": " + ec.message());
      return kExitFailed;
    }
    std::filesystem::permissions(out, std::filesystem::perms::owner_all, ec);
  }
  std::size_t written = 0, failed = 0;
  for (const std::string& key : keys) {
    auto source = inst.store().open(key);
    Status st = source ? write_plaintext(**source, to_dir ? out + "/" + key : out) : std::unexpected(source.error());
    if (st) {
      ++written;
    } else {
      ++failed;
      print_error(key + ": " + st.error().message);
    }
  }
  audit::Event e;
  e.type = audit::Type::data_export;
  e.outcome = failed ? audit::Outcome::failure : audit::Outcome::success;
  e.actor = "system";
  e.reason = "store cat";
  e.details = {{"objects", std::to_string(written)}, {"failed", std::to_string(failed)}};
  if (keys.size() == 1) e.details.emplace_back("blob", keys.front());
  inst.audit().record(e);
  return failed ? kExitFailed : kExitOk;
}

} // namespace tresor::app

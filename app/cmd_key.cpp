// `tresor key rotate`: re-wraps every purpose key and every stored object's
// data key under a new key-encryption key, without rewriting any object
// (docs/storage-layout.md "Rotation"). Crash-safe and resumable: run it
// again with the same options after an interruption.
//
//  1. begin: the keyring records the next KEK (its source and id) and wraps
//     the purpose keys under it too. Every process holding the keyring
//     (a running `tresor serve`) notices on its next wrap and from then on
//     wraps new objects' keys under the next KEK, unwrapping under both.
//  2. after a grace period (commits in flight finish), every object gets
//     its data key wrapped under the next KEK in its free key slot; syncfs.
//  3. install: a key file is replaced atomically (the old one kept as
//     <key_file>.old, for backups made before: the operator deletes it);
//     a key_command must be changed in tresor.toml by the operator.
//  4. every object's old wrapping is cleared; syncfs; the keyring keeps only
//     the new KEK. From then on the old key opens nothing in var/.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <thread>

#include "commands.h"
#include "instance.h"

namespace tresor::app {
namespace fs = std::filesystem;

namespace {

// Commits that wrapped their key under the old KEK just before the switch
// link their object within milliseconds; wait well past that before the scan.
constexpr auto kGrace = std::chrono::milliseconds(1500);

Status copy_private(const fs::path& from, const fs::path& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in) return fail(Errc::io_error, "cannot read " + from.string());
  std::string text((std::istreambuf_iterator<char>(in)), {});
  const fs::path tmp = to.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fail(Errc::io_error, "cannot write " + tmp.string() + ": " + std::strerror(errno));
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  std::fill(text.begin(), text.end(), '\0');
  if (!ok || ::rename(tmp.c_str(), to.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return fail(Errc::io_error, "cannot write " + to.string());
  }
  const int dfd = ::open(to.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

// One pass over every stored object. Objects whose key cannot be opened
// (corrupt, erased) are reported and skipped: no key makes them readable.
Result<std::size_t> rewrap_all(store::BlobStore& store, bool drop_others) {
  auto keys = store.list_keys();
  if (!keys) return std::unexpected(keys.error());
  std::size_t changed = 0;
  for (const std::string& key : *keys) {
    auto r = store.rewrap_key(key, drop_others);
    if (!r) {
      if (r.error().code == Errc::corrupt || r.error().code == Errc::permission_denied) {
        std::cerr << "tresor: skipped: " << r.error().message << '\n';
        continue;
      }
      return std::unexpected(r.error());
    }
    changed += *r ? 1 : 0;
  }
  if (auto s = store.sync(); !s) return std::unexpected(s.error());
  return changed;
}

} // namespace

int cmd_key_rotate(const Global& global, const KeyRotateOptions& options) {
  auto opened = Instance::open(global.var);
  if (!opened) {
    print_error(opened.error().message);
    return kExitFailed;
  }
  Instance& inst = **opened;
  const config::Encryption& enc = inst.config().encryption;
  if (!enc.enabled || inst.keyring() == nullptr) {
    print_error("encryption at rest is off ([encryption] enabled = false): there is no key to rotate");
    return kExitFailed;
  }
  if (!options.new_key_file.empty() && !options.new_key_command.empty()) {
    print_error("give --new-key-file or --new-key-command, not both");
    return kExitUsage;
  }
  if (options.new_key_file.empty() && options.new_key_command.empty() && enc.key_file.empty()) {
    print_error("the key comes from key_command: give the new one with --new-key-command (or --new-key-file)");
    return kExitUsage;
  }
  // A keyring of our own to drive the rotation; the instance's keyring (and
  // its store) follow the keyring file.
  auto ring = crypto::Keyring::open({enc.key_file, enc.key_command}, inst.config().var_dir);
  if (!ring) {
    print_error(ring.error().message);
    return kExitFailed;
  }
  const std::string old_id = (*ring)->configured_kek_id();
  const fs::path pending = enc.key_file.string() + ".new";
  crypto::KekSource next;
  if (!options.new_key_command.empty()) {
    next.key_command = options.new_key_command;
  } else if (!options.new_key_file.empty()) {
    next.key_file = fs::absolute(options.new_key_file).lexically_normal();
  } else {
    next.key_file = pending;
  }

  const bool installed = !(*ring)->next_kek_id().empty() && (*ring)->next_kek_id() == old_id;
  std::string new_id = installed ? old_id : "";
  if (!installed) {
    std::error_code ec;
    if (next.key_file == pending && !fs::exists(pending, ec)) {
      if (auto s = crypto::Keyring::create_key_file(pending); !s) {
        print_error(s.error().message);
        return kExitFailed;
      }
    }
    if (auto s = (*ring)->begin_rotation(next); !s) {
      print_error("key rotation: " + s.error().message);
      return kExitFailed;
    }
    new_id = (*ring)->next_kek_id();
    std::cerr << "Rotating from key " << old_id << " to " << new_id << "...\n";
    std::this_thread::sleep_for(kGrace);
    auto rewrapped = rewrap_all(inst.store(), false);
    if (!rewrapped) {
      print_error("key rotation interrupted (run it again to resume): " + rewrapped.error().message);
      inst.record_admin("key rotate", new_id, audit::Outcome::failure, {{"error", rewrapped.error().message}});
      return kExitFailed;
    }
    std::cerr << *rewrapped << " object key(s) wrapped under the new key.\n";
    // Install the new key where the configuration looks for it.
    if (next.key_command.empty() && !enc.key_file.empty()) {
      const fs::path old_copy = enc.key_file.string() + ".old";
      Status st = copy_private(enc.key_file, old_copy);
      if (st) {
        if (next.key_file == pending) {
          if (::rename(pending.c_str(), enc.key_file.c_str()) != 0)
            st = fail(Errc::io_error, "cannot install " + pending.string() + ": " + std::strerror(errno));
        } else {
          st = copy_private(next.key_file, enc.key_file);
        }
      }
      if (!st) {
        print_error("key rotation interrupted (run it again to resume): " + st.error().message);
        return kExitFailed;
      }
    }
  }
  // Clear the old wrappings, then forget the old KEK.
  auto cleared = rewrap_all(inst.store(), true);
  if (!cleared) {
    print_error("key rotation interrupted (run it again to resume): " + cleared.error().message);
    return kExitFailed;
  }
  if (auto s = (*ring)->finish_rotation(); !s) {
    print_error("key rotation interrupted (run it again to resume): " + s.error().message);
    return kExitFailed;
  }
  inst.record_admin("key rotate", new_id, audit::Outcome::success,
                    {{"old_kek_id", old_id}, {"new_kek_id", new_id}, {"objects", std::to_string(*cleared)}});
  std::cout << "Key rotated: " << new_id << '\n';
  if (!next.key_command.empty()) {
    std::cout << "Now set key_command to the new command in " << inst.config().config_file.string()
              << " [encryption] (and key_file = \"\"): until then Tresor refuses to start.\n";
  } else if (!enc.key_file.empty()) {
    std::cout << "The new key is in " << enc.key_file.string() << ": back it up separately from var/.\n"
              << "The old key is kept in " << enc.key_file.string()
              << ".old for backups of var/ made before; delete it when they expire.\n";
  }
  std::cout.flush();
  return kExitOk;
}

} // namespace tresor::app

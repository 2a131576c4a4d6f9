// Helpers for the config tests: a scratch directory and an in-memory account repository.
#pragma once
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/accounts.h"

namespace tresor::testing {

class TempDir {
public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tresor-config-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

  std::filesystem::path write(const std::string& name, const std::string& text, mode_t mode = 0600) const {
    std::filesystem::path p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
    ::chmod(p.c_str(), mode);
    return p;
  }

  // The files the TLS listener needs, as `tresor init` lays them out.
  void write_pki(mode_t key_mode = 0600) const {
    write("pki/server.crt", "cert", 0644);
    write("pki/server.key", "key", key_mode);
    write("pki/ca.crt", "ca", 0644);
    write("pki/ca.key", "cakey", 0600);
  }

private:
  std::filesystem::path path_;
};

class FakeAccounts final : public AccountRepository {
public:
  std::vector<Peer> peers;
  std::vector<User> users;
  bool broken = false;

  Result<std::optional<Peer>> find_peer(const std::string& ae) override {
    for (const Peer& p : peers)
      if (p.ae_title == ae) return p;
    return std::optional<Peer>{};
  }
  Result<std::vector<Peer>> list_peers() override {
    if (broken) return fail(Errc::io_error, "database is locked");
    return peers;
  }
  Status put_peer(const Peer& peer) override {
    peers.push_back(peer);
    return {};
  }
  Result<bool> remove_peer(const std::string&) override { return false; }
  Result<std::optional<User>> find_user(const std::string& name) override {
    for (const User& u : users)
      if (u.username == name) return u;
    return std::optional<User>{};
  }
  Result<std::vector<User>> list_users() override {
    if (broken) return fail(Errc::io_error, "database is locked");
    return users;
  }
  Status put_user(const User& user) override {
    users.push_back(user);
    return {};
  }
  Result<bool> remove_user(const std::string&) override { return false; }
  Status put_token(const ApiToken&) override { return {}; }
  Result<std::optional<ApiToken>> find_token_by_hash(const std::string&) override { return std::optional<ApiToken>{}; }
  Result<std::vector<ApiToken>> list_tokens(const std::string&) override { return std::vector<ApiToken>{}; }
  Result<bool> revoke_token(const std::string&) override { return false; }
};

} // namespace tresor::testing

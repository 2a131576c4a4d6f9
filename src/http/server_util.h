// Helpers of the HTTPS transport (server.cpp) that need no Beast: header
// and cookie parsing, the log-in redirect, and the spooled request body.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

#include "http/http.h"

namespace tresor::http::detail {

char lower(char c);
bool iequals(std::string_view a, std::string_view b);
std::string_view trim(std::string_view s);  // spaces and tabs at both ends

Response error_with(int status, Errc code, std::string message);
Response error_of(Errc code, std::string message);

// 303 to the log-in page, which sends the browser back to this URL afterwards
// (path and query percent-encoded into ?next=).
Response login_redirect(const Request& req);

// Query parameters that carry credentials (refused: they end up in logs).
bool is_credential_param(std::string_view key);

// Value of the cookie `name` from the Cookie header(s); "" when absent.
std::string_view find_cookie(const Fields& headers, std::string_view name);

bool valid_header_name(std::string_view name);    // RFC 9110 token
bool valid_header_value(std::string_view value);  // no CR, LF or NUL
// Headers the server owns: a handler may not set them.
bool reserved_header(std::string_view name);

// A request body streamed to disk: mkostemp (O_EXCL, 0600) under a directory;
// removed on destruction.
struct TempFile {
  int fd = -1;
  std::filesystem::path path;
  TempFile() = default;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() { discard(); }
  bool create(const std::filesystem::path& dir);
  bool write(const char* data, std::size_t size);
  void close_fd();
  void discard();
};

} // namespace tresor::http::detail

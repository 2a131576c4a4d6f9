// https_get() (see fetch.h): one request on a private io_context, run on the
// calling thread as a C++20 coroutine. A single deadline timer bounds the
// whole exchange: when it fires it cancels the resolver and closes the socket,
// which aborts whatever operation is pending.
#include <utility>  // before asio/awaitable.hpp: Boost 1.74 uses std::exchange without it

#include "http/fetch.h"

#include <arpa/inet.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <optional>

namespace tresor::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;

inline auto with_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

// Same BCP 195 profile as the server for TLS 1.2; TLS 1.3 keeps OpenSSL's (all AEAD) suites.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr std::uint32_t kMaxHeaderBytes = 16 * 1024;
constexpr std::size_t kMaxUrlBytes = 2048;

struct Url {
  std::string host;         // DNS name or IP address, without brackets
  std::string port = "443";
  std::string target = "/"; // path and query
  bool ip_literal = false;
  std::string host_header;  // Host: value
};

bool is_ip(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

Result<Url> parse_url(const std::string& url) {
  auto bad = [](const char* why) { return fail(Errc::invalid_argument, std::string("bad URL: ") + why); };
  constexpr std::string_view scheme = "https://";
  if (url.size() > kMaxUrlBytes) return bad("longer than 2048 characters");
  if (!std::string_view(url).starts_with(scheme)) return bad("only https:// URLs are fetched");
  for (char ch : url) {
    auto u = static_cast<unsigned char>(ch);
    if (u <= 0x20 || u >= 0x7f || ch == '\\' || ch == '"' || ch == '<' || ch == '>') return bad("invalid character");
    if (ch == '#') return bad("fragments are not allowed");
  }
  std::string_view rest = std::string_view(url).substr(scheme.size());
  const auto end_authority = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end_authority);
  Url out;
  if (end_authority != std::string_view::npos) {
    out.target = std::string(rest.substr(end_authority));
    if (out.target.front() == '?') out.target.insert(out.target.begin(), '/');
  }
  if (authority.find('@') != std::string_view::npos) return bad("user info (user:password@) is not allowed");
  std::string_view host, port;
  if (authority.starts_with('[')) {  // IPv6 literal
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 literal");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("junk after the IPv6 literal");
      port = after.substr(1);
      if (port.empty()) return bad("empty port");
    }
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return bad("empty port");
    }
    if (!std::ranges::all_of(host, [](char ch) {
          return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                 ch == '-';
        }))
      return bad("invalid host name");
  }
  if (host.empty() || host.size() > 253) return bad("no host");
  out.host = std::string(host);
  out.ip_literal = is_ip(out.host);
  if (authority.starts_with('[') && !out.ip_literal) return bad("invalid IPv6 literal");
  if (!port.empty()) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) return bad("invalid port");
    out.port = std::to_string(value);
  }
  out.host_header = std::string(authority);
  return out;
}

struct Exchange {
  Exchange(asio::io_context& ioc, ssl::context& tls) : resolver(ioc), stream(ioc, tls), deadline(ioc) {}
  tcp::resolver resolver;
  ssl::stream<tcp::socket> stream;
  asio::steady_timer deadline;
  bool timed_out = false;
  Result<HttpsResponse> result = fail(Errc::internal, "fetch did not complete");
};

asio::awaitable<void> run(Exchange& x, const Url& url, const HttpsRequest& spec) {
  const std::size_t max_bytes = spec.max_bytes;
  const std::string& host = url.host;
  auto failed = [&](Errc code, const std::string& what, const error_code& ec) {
    x.result = fail(code, host + ": " + what + (ec ? ": " + ec.message() : std::string()));
  };
  error_code ec;
  auto endpoints = co_await x.resolver.async_resolve(host, url.port, with_ec(ec));
  if (ec) co_return failed(Errc::io_error, "cannot resolve the host", ec);
  co_await asio::async_connect(x.stream.next_layer(), endpoints, with_ec(ec));
  if (ec) co_return failed(Errc::io_error, "cannot connect", ec);

  SSL* native = x.stream.native_handle();
  SSL_set_hostflags(native, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (url.ip_literal) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(native), host.c_str()) != 1)
      co_return failed(Errc::internal, "cannot set the expected IP address", {});
  } else if (SSL_set1_host(native, host.c_str()) != 1 || SSL_set_tlsext_host_name(native, host.c_str()) != 1) {
    co_return failed(Errc::internal, "cannot set the expected host name", {});
  }
  co_await x.stream.async_handshake(ssl::stream_base::client, with_ec(ec));
  if (ec) {
    const long verify = SSL_get_verify_result(native);
    if (verify != X509_V_OK)
      co_return failed(Errc::io_error, std::string("certificate verification failed: ") +
                                           X509_verify_cert_error_string(verify), {});
    co_return failed(Errc::io_error, "TLS handshake failed", ec);
  }

  const bhttp::verb verb = bhttp::string_to_verb(spec.method);
  if (verb == bhttp::verb::unknown) co_return failed(Errc::invalid_argument, "unknown HTTP method", {});
  bhttp::request<bhttp::string_body> request{verb, url.target, 11};
  request.set(bhttp::field::host, url.host_header);
  request.set(bhttp::field::user_agent, "tresor");
  for (const auto& [name, value] : spec.headers) request.set(name, value);
  request.set(bhttp::field::connection, "close");
  if (!spec.body.empty() || verb == bhttp::verb::post || verb == bhttp::verb::put) {
    request.body() = spec.body;
    request.prepare_payload();
  }
  co_await bhttp::async_write(x.stream, request, with_ec(ec));
  if (ec) co_return failed(Errc::io_error, "cannot send the request", ec);

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(max_bytes);
  co_await bhttp::async_read_header(x.stream, buffer, parser, with_ec(ec));
  if (ec == bhttp::error::body_limit)
    co_return failed(Errc::too_large, "response larger than " + std::to_string(max_bytes) + " bytes", {});
  if (ec) co_return failed(Errc::io_error, "bad or missing response header", ec);
  co_await bhttp::async_read(x.stream, buffer, parser, with_ec(ec));
  if (ec == bhttp::error::body_limit)
    co_return failed(Errc::too_large, "response larger than " + std::to_string(max_bytes) + " bytes", {});
  if (ec) co_return failed(Errc::io_error, "cannot read the response body", ec);
  HttpsResponse response;
  response.status = parser.get().result_int();
  if (auto it = parser.get().find(bhttp::field::content_type); it != parser.get().end())
    response.content_type = std::string(it->value());
  response.body = std::move(parser.get().body());
  x.result = std::move(response);
  // No close_notify exchange: we asked for Connection: close and have the whole body.
}

} // namespace

Result<HttpsResponse> https_request(const HttpsRequest& spec) {
  const auto& ca_file = spec.ca_file;
  const auto timeout = spec.timeout;
  auto parsed = parse_url(spec.url);
  if (!parsed) return std::unexpected(parsed.error());
  if (timeout <= std::chrono::seconds::zero()) return fail(Errc::invalid_argument, "https: timeout must be positive");
  try {
    ssl::context tls(ssl::context::tls_client);
    tls.set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                    ssl::context::no_tlsv1_1 | ssl::context::no_compression);
    SSL_CTX* ctx = tls.native_handle();
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 || SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1)
      return fail(Errc::internal, "https: cannot configure TLS");
    tls.set_verify_mode(ssl::verify_peer);
    error_code ec;
    if (ca_file.empty()) {
      tls.set_default_verify_paths(ec);
      if (ec) return fail(Errc::io_error, "https: cannot use the system CA store: " + ec.message());
    } else {
      tls.load_verify_file(ca_file.string(), ec);
      if (ec) return fail(Errc::io_error, "https: cannot load CA file " + ca_file.string() + ": " + ec.message());
    }

    asio::io_context ioc(1);
    Exchange x(ioc, tls);
    x.deadline.expires_after(timeout);
    x.deadline.async_wait([&x](const error_code& e) {
      if (e) return;  // cancelled: the exchange finished first
      x.timed_out = true;
      x.resolver.cancel();
      error_code ignored;
      x.stream.lowest_layer().close(ignored);
    });
    std::exception_ptr thrown;
    asio::co_spawn(ioc, run(x, *parsed, spec), [&](std::exception_ptr e) {
      thrown = e;
      x.deadline.cancel();
    });
    ioc.run();
    if (thrown) std::rethrow_exception(thrown);
    if (x.timed_out && !x.result)
      return fail(Errc::unavailable, parsed->host + ": no complete response within " +
                                         std::to_string(timeout.count()) + " s");
    return std::move(x.result);
  } catch (const std::exception& e) {
    return fail(Errc::io_error, parsed->host + ": " + e.what());
  }
}

Result<std::string> https_get(const std::string& url, const std::filesystem::path& ca_file,
                              std::chrono::seconds timeout, std::size_t max_bytes) {
  HttpsRequest spec;
  spec.url = url;
  spec.headers.emplace_back("Accept", "application/jwk-set+json, application/json");
  spec.ca_file = ca_file;
  spec.timeout = timeout;
  spec.max_bytes = max_bytes;
  auto response = https_request(spec);
  if (!response) return std::unexpected(response.error());
  auto host = parse_url(url);
  const std::string who = host ? host->host + ": " : std::string();
  if (response->status >= 300 && response->status < 400)
    return fail(Errc::io_error, who + "HTTP status " + std::to_string(response->status) + " (redirects are not followed)");
  if (response->status != 200) return fail(Errc::io_error, who + "HTTP status " + std::to_string(response->status));
  return std::move(response->body);
}

} // namespace tresor::http

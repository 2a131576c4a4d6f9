#include "http/static_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "core/log.h"
#include "http/producers.h"

namespace tresor::http {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kAppCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'";

std::string content_type_for(const fs::path& p) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},     {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},             {".wasm", "application/wasm"},
      {".png", "image/png"},                     {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"},                  {".jpg", "image/jpeg"},
      {".woff2", "font/woff2"},                  {".woff", "font/woff"},
      {".ttf", "font/ttf"},                      {".txt", "text/plain; charset=utf-8"},
      {".webmanifest", "application/manifest+json"}};
  const std::string ext = p.extension().string();
  for (const auto& [e, t] : kTypes)
    if (ext == e) return std::string(t);
  return "application/octet-stream";
}

// A regular file under `base` for the request path segments, or nullopt.
// Refuses empty, dot and hidden segments; opens without following links.
std::optional<std::pair<fs::path, std::uint64_t>> resolve(const fs::path& base, std::string_view rel) {
  fs::path out = base;
  std::size_t start = 0;
  while (start <= rel.size()) {
    std::size_t slash = rel.find('/', start);
    std::string_view seg = rel.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (seg.empty() || seg.front() == '.' || seg.find('\0') != std::string_view::npos ||
        seg.find('\\') != std::string_view::npos)
      return std::nullopt;
    out /= std::string(seg);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  // Every component must be a real directory / file, never a symbolic link.
  fs::path walk = base;
  for (const auto& part : out.lexically_relative(base)) {
    walk /= part;
    struct stat st{};
    if (::lstat(walk.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return std::nullopt;
  }
  int fd = ::open(out.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st{};
  const bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  if (!ok) return std::nullopt;
  return std::pair{out, static_cast<std::uint64_t>(st.st_size)};
}

Response serve_file(const fs::path& file, std::uint64_t size) {
  Response r;
  r.set("Content-Type", content_type_for(file));
  r.content_length = size;
  r.stream = detail::file_producer(file);
  return r;
}

struct Viewer {
  fs::path dir;
  std::string csp;              // for every viewer response
  std::string worker_csp;       // for the scripts in unsafe_eval
  std::set<std::string> unsafe_eval;
};

// OHIF's policy (see docs/web-viewer notes): its inline scripts by hash,
// WebAssembly for the codecs, blob: workers, data: images and fonts.
std::shared_ptr<Viewer> load_viewer(const fs::path& dir) {
  if (!fs::is_regular_file(dir / "index.html")) return nullptr;
  auto v = std::make_shared<Viewer>();
  v->dir = dir;
  std::string hashes;
  std::ifstream in(dir / "tresor-csp.json");
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_object()) {
      for (const auto& h : j.value("script_hashes", nlohmann::json::array()))
        if (h.is_string()) hashes += " '" + h.get<std::string>() + "'";
      for (const auto& f : j.value("unsafe_eval", nlohmann::json::array()))
        if (f.is_string()) v->unsafe_eval.insert(f.get<std::string>());
    }
  } else {
    log::warn("web: {} missing; the viewer's inline scripts will be blocked", (dir / "tresor-csp.json").string());
  }
  const std::string rest =
      "; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
      "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'";
  v->csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'" + hashes + rest;
  v->worker_csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval'" + hashes + rest;
  return v;
}

bool is_api_path(std::string_view p) {
  for (std::string_view prefix : {"api", "dicom-web", "wado", "app"})
    if (p == prefix || (p.size() > prefix.size() && p.starts_with(prefix) && p[prefix.size()] == '/')) return true;
  return false;
}

Response viewer_response(const Viewer& v, std::string_view rel) {
  auto found = rel.empty() ? std::nullopt : resolve(v.dir, rel);
  const std::size_t slash = rel.rfind('/');
  const std::string_view last = slash == std::string_view::npos ? rel : rel.substr(slash + 1);
  const bool has_ext = last.find('.') != std::string_view::npos;
  if (!found && (rel.empty() || !has_ext)) found = resolve(v.dir, "index.html");  // client-side route
  if (!found) return error_response(make_error(Errc::not_found, "not found"));
  Response r = serve_file(found->first, found->second);
  const std::string name = found->first.filename().string();
  r.set("Content-Security-Policy", v.unsafe_eval.contains(name) ? v.worker_csp : v.csp);
  r.set("Cross-Origin-Embedder-Policy", "require-corp");
  // Content-hashed bundle files may be cached; the entry points must not be.
  const bool hashed = name.find(".bundle.") != std::string::npos || name.ends_with(".wasm");
  r.set("Cache-Control", hashed ? "private, max-age=86400" : "no-cache");
  return r;
}

} // namespace

void add_static_routes(Router& router, const fs::path& web_root) {
  if (web_root.empty()) return;
  const fs::path app_dir = web_root / "app";
  auto viewer = load_viewer(web_root / "ohif" / "dist");
  if (!viewer) log::warn("web: no viewer bundle under {} (run `make web`); serving Tresor's own pages only",
                         (web_root / "ohif" / "dist").string());

  auto app_file = [app_dir](std::string rel) {
    auto found = resolve(app_dir, rel);
    if (!found) return error_response(make_error(Errc::not_found, "not found"));
    Response r = serve_file(found->first, found->second);
    r.set("Content-Security-Policy", std::string(kAppCsp));
    r.set("Cache-Control", "no-cache");
    return r;
  };
  auto add = [&](std::string pattern, Auth auth, std::string summary, Handler h) {
    Route route;
    route.method = Method::get;
    route.pattern = std::move(pattern);
    route.auth = auth;
    route.summary = std::move(summary);
    route.handler = std::move(h);
    router.add(std::move(route));
  };
  add("/app/login.html", Auth::none, "Log-in page", [app_file](Request&) { return app_file("login.html"); });
  add("/app/js/{*path}", Auth::none, "Scripts of Tresor's pages",
      [app_file](Request& r) { return app_file("js/" + std::string(r.param("path"))); });
  add("/app/css/{*path}", Auth::none, "Styles of Tresor's pages",
      [app_file](Request& r) { return app_file("css/" + std::string(r.param("path"))); });
  add("/app/{*path}", Auth::page, "Tresor's own pages (admin, audit, tokens)", [app_file](Request& r) {
    std::string rel(r.param("path"));
    return app_file(rel.empty() ? "index.html" : rel);
  });
  add("/", Auth::page, "The OHIF viewer (or Tresor's start page without it)", [viewer](Request&) {
    if (!viewer) {
      Response r;
      r.status = 303;
      r.set("Location", "/app/index.html");
      return r;
    }
    return viewer_response(*viewer, "");
  });
  if (viewer)
    add("/{*path}", Auth::page, "OHIF viewer files and client-side routes", [viewer](Request& r) {
      std::string_view rel = r.param("path");
      if (is_api_path(rel)) return error_response(make_error(Errc::not_found, "not found"));
      return viewer_response(*viewer, rel);
    });
}

} // namespace tresor::http

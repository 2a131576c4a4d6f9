// WADO-RS frames, rendered and thumbnail resources, bulk data (PS3.18 10.4),
// and WADO-URI (PS3.18 9).
// Contract:
//  - frames: a comma-separated list of 1-based numbers (at most 1000);
//    Accept multipart/related; type="application/octet-stream" with
//    transfer-syntax=* -> the stored bitstream (part type = the syntax's media
//    type); without transfer-syntax or with Explicit VR Little Endian -> decoded
//    native pixels; a compressed media type (image/jls, ...) must match the
//    stored syntax; anything else -> 406;
//  - rendered / thumbnail: image/jpeg (default) or image/png; query
//    parameters quality (1..100), window=center,width[,function],
//    viewport=rows,cols (thumbnail default 128x128);
//  - every resource is located through RetrieveService (scope, audit, 404).
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <stdexcept>

#include "dicom/web.h"
#include "http/dicomweb_common.h"
#include "http/producers.h"

namespace tresor::http {
namespace {

constexpr std::string_view kExplicitLE = "1.2.840.10008.1.2.1";

// Errors of a retrieve (every route here is a GET: there is no request
// content whose media type could be refused, so never 415):
//  - unsupported: no representation that the Accept header allows can be
//    made (e.g. JPEG 2000 frames asked as native pixels: no decoder) ->
//    406 Not Acceptable (RFC 9110 15.5.7; PS3.18 8.7.1);
//  - corrupt: the stored object itself cannot be served as asked (a defect
//    stored before ingest checked it, such as Pixel Data shorter than its
//    declared frames) -> 422 Unprocessable Content, with the reason; the
//    request was understood and is not the client's mistake to retry, and
//    it is no server fault to alert on (500) either;
//  - anything else -> Error::http_status().
Response wado_error(const Error& e) {
  Response r = error_response(e);
  if (e.code == Errc::unsupported) r.status = 406;
  else if (e.code == Errc::corrupt) r.status = 422;
  return r;
}

Result<services::RetrieveItem> one_instance(Request& req, const Deps& d) {
  for (auto name : {"study", "series", "instance"})
    if (auto v = req.param(name); !v.empty() && !detail::valid_uid_param(v))
      return fail(Errc::invalid_argument, "malformed UID in the path");
  auto items = d.retrieve.locate(req.principal(), detail::locate_request(req), audit::Type::retrieve);
  if (!items) return std::unexpected(items.error());
  if (items->empty()) return fail(Errc::not_found, "no such resource");
  // Study / series resources (thumbnails): the middle instance represents them.
  return std::move((*items)[items->size() / 2]);
}

// The located instance's plaintext (services: the store may keep it
// encrypted), shared by the dicom/ calls of one request.
Result<std::shared_ptr<ByteSource>> open_object(const services::RetrieveItem& item, const Deps& d) {
  auto source = d.retrieve.open(item);
  if (!source) return std::unexpected(source.error());
  return std::shared_ptr<ByteSource>(std::move(*source));
}

template <class T> bool parse_number(std::string_view text, T& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && p == text.data() + text.size();
}

Result<std::vector<std::uint32_t>> parse_frame_list(std::string_view text) {
  std::vector<std::uint32_t> out;
  while (!text.empty()) {
    std::size_t comma = text.find(',');
    std::uint32_t n = 0;
    if (!parse_number(text.substr(0, comma), n) || n == 0) return fail(Errc::invalid_argument, "malformed frame list");
    out.push_back(n);
    if (out.size() > 1000) return fail(Errc::too_large, "more than 1000 frames in one request");
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  if (out.empty()) return fail(Errc::invalid_argument, "empty frame list");
  return out;
}

Response frames(Request& req, const Deps& d) {
  auto list = parse_frame_list(req.param("frames"));
  if (!list) return wado_error(list.error());
  auto item = one_instance(req, d);
  if (!item) return wado_error(item.error());
  auto object = open_object(*item, d);
  if (!object) return wado_error(object.error());
  auto info = dicom::frame_info(*object);
  if (!info) return wado_error(info.error());
  if (info->number_of_frames == 0) return wado_error(make_error(Errc::not_found, "the instance has no pixel data"));
  for (auto n : *list)
    if (n > info->number_of_frames) return wado_error(make_error(Errc::not_found, "no such frame"));

  const std::string stored = info->transfer_syntax_uid;
  const std::string stored_media = dicom::media_type_of(stored);
  std::string target;
  bool multipart = true;
  for (const auto& a : detail::parse_accept(req.header("Accept"))) {
    std::string type = a.media.type;
    std::string ts(a.media.param("transfer-syntax").value_or(""));
    if (type == "multipart/related") {
      type = std::string(a.media.param("type").value_or("application/octet-stream"));
      multipart = true;
    } else if (type == "*/*") {
      target = info->encapsulated ? stored : std::string(kExplicitLE);
      break;
    } else {
      multipart = false;
    }
    if (type == "application/octet-stream") {
      if (ts == "*") target = stored;
      else if (ts.empty() || ts == kExplicitLE) target = std::string(kExplicitLE);
      else if (ts == stored) target = stored;
      else continue;
      break;
    }
    if (type == stored_media && (ts.empty() || ts == "*" || ts == stored)) {
      target = stored;
      break;
    }
  }
  if (target.empty())
    return wado_error(make_error(Errc::unsupported, "frames are available as application/octet-stream "
                                                        "(native) or in the stored syntax " + stored));
  if (!multipart && list->size() != 1)
    return wado_error(make_error(Errc::unsupported, "several frames need multipart/related"));

  std::vector<detail::PartSource> parts;
  std::string media;
  for (auto n : *list) {
    auto frame = dicom::read_frame(*object, n, target);
    if (!frame) return wado_error(frame.error());
    media = frame->media_type;
    detail::PartSource p;
    p.content_type = frame->media_type + "; transfer-syntax=" + frame->transfer_syntax_uid;
    p.bytes = std::move(frame->bytes);
    p.use_bytes = true;
    parts.push_back(std::move(p));
  }
  Response r;
  if (!multipart) {
    r.set("Content-Type", parts.front().content_type);
    r.body = std::move(parts.front().bytes);
    return r;
  }
  const std::string boundary = make_boundary();
  r.set("Content-Type", "multipart/related; type=\"" + media + "\"; transfer-syntax=" + target +
                            "; boundary=" + boundary);
  r.content_length = detail::multipart_length(parts, boundary);
  r.stream = detail::multipart_producer(std::move(parts), boundary);
  return r;
}

Result<dicom::RenderOptions> render_options(const Request& req, bool thumbnail) {
  dicom::RenderOptions o;
  if (thumbnail) o.max_rows = o.max_columns = 128;
  bool png = false, jpeg = false;
  for (const auto& a : detail::parse_accept(req.header("Accept"))) {
    if (a.media.type == "image/png") { png = true; break; }
    if (a.media.type == "image/jpeg" || a.media.type == "image/*" || a.media.type == "*/*") { jpeg = true; break; }
  }
  if (!png && !jpeg) return fail(Errc::unsupported, "rendered resources are image/jpeg or image/png");
  o.format = png ? dicom::ImageFormat::png : dicom::ImageFormat::jpeg;
  if (auto q = req.query_param("quality")) {
    if (!parse_number(*q, o.quality) || o.quality < 1 || o.quality > 100)
      return fail(Errc::invalid_argument, "quality must be 1..100");
  }
  if (auto w = req.query_param("window")) {
    std::string_view s = *w;
    auto c1 = s.find(',');
    if (c1 == std::string_view::npos) return fail(Errc::invalid_argument, "window must be center,width[,function]");
    auto c2 = s.find(',', c1 + 1);
    std::string center(s.substr(0, c1)), width(s.substr(c1 + 1, c2 == std::string_view::npos ? std::string_view::npos : c2 - c1 - 1));
    try {
      std::size_t used = 0;
      o.window_center = std::stod(center, &used);
      if (used != center.size()) throw std::invalid_argument("center");
      o.window_width = std::stod(width, &used);
      if (used != width.size() || *o.window_width <= 0) throw std::invalid_argument("width");
    } catch (...) {
      return fail(Errc::invalid_argument, "window must be center,width[,function] with width > 0");
    }
  }
  if (auto v = req.query_param("viewport")) {
    std::string_view s = *v;
    auto comma = s.find(',');
    std::uint32_t rows = 0, cols = 0;
    if (comma == std::string_view::npos || !parse_number(s.substr(0, comma), rows) ||
        !parse_number(s.substr(comma + 1), cols) || rows == 0 || cols == 0 || rows > 8192 || cols > 8192)
      return fail(Errc::invalid_argument, "viewport must be rows,columns (1..8192)");
    o.max_rows = rows;
    o.max_columns = cols;
  }
  if (auto f = req.param("frame"); !f.empty())
    if (!parse_number(f, o.frame) || o.frame == 0) return fail(Errc::invalid_argument, "malformed frame number");
  return o;
}

Response rendered(Request& req, const Deps& d, bool thumbnail) {
  auto opts = render_options(req, thumbnail);
  if (!opts) return wado_error(opts.error());
  auto item = one_instance(req, d);
  if (!item) return wado_error(item.error());
  auto object = open_object(*item, d);
  if (!object) return wado_error(object.error());
  auto image = dicom::render(std::move(*object), *opts);
  if (!image) return wado_error(image.error());
  Response r;
  r.set("Content-Type", opts->format == dicom::ImageFormat::png ? "image/png" : "image/jpeg");
  r.body = std::move(*image);
  return r;
}

Response bulk(Request& req, const Deps& d) {
  auto item = one_instance(req, d);
  if (!item) return wado_error(item.error());
  auto object = open_object(*item, d);
  if (!object) return wado_error(object.error());
  auto value = dicom::bulk_value(std::move(*object), req.param("path"));
  if (!value) return wado_error(value.error());
  bool single = false;
  for (const auto& a : detail::parse_accept(req.header("Accept"))) {
    if (a.media.type == "application/octet-stream") { single = true; break; }
    if (a.media.type == "multipart/related" || a.media.type == "*/*") break;
  }
  Response r;
  if (single) {
    r.set("Content-Type", "application/octet-stream");
    r.body = std::move(*value);
    return r;
  }
  const std::string boundary = make_boundary();
  std::vector<detail::PartSource> parts(1);
  parts[0].content_type = "application/octet-stream";
  parts[0].bytes = std::move(*value);
  parts[0].use_bytes = true;
  r.set("Content-Type", "multipart/related; type=\"application/octet-stream\"; boundary=" + boundary);
  r.content_length = detail::multipart_length(parts, boundary);
  r.stream = detail::multipart_producer(std::move(parts), boundary);
  return r;
}

// WADO-URI: /wado?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..
Response wado_uri(Request& req, const Deps& d) {
  if (req.query_param("requestType").value_or("") != "WADO")
    return wado_error(make_error(Errc::invalid_argument, "requestType must be WADO"));
  const char* keys[] = {"studyUID", "seriesUID", "objectUID"};
  const char* names[] = {"study", "series", "instance"};
  for (int i = 0; i < 3; ++i) {
    auto v = req.query_param(keys[i]);
    if (!v || v->empty()) return wado_error(make_error(Errc::invalid_argument, std::string(keys[i]) + " is required"));
    req.params.emplace_back(names[i], std::string(*v));
  }
  std::string content_type(req.query_param("contentType").value_or("image/jpeg"));
  if (content_type == "application/dicom") {
    auto item = one_instance(req, d);
    if (!item) return wado_error(item.error());
    std::string ts(req.query_param("transferSyntax").value_or(""));
    Response r;
    r.set("Content-Type", "application/dicom");
    auto source = d.retrieve.open(*item);
    if (!source) return wado_error(source.error());
    if (ts.empty() || ts == item->location.transfer_syntax_uid) {
      r.content_length = (*source)->size();
      r.stream = detail::source_producer(std::move(*source));
      return r;
    }
    static std::atomic<std::uint64_t> counter{0};
    auto out = d.temp_dir / ("wado-uri-" + std::to_string(++counter) + "-" + std::to_string(::getpid()) + ".dcm");
    if (auto st = dicom::transcode(std::shared_ptr<ByteSource>(std::move(*source)), out, ts); !st) {
      std::error_code ec;
      std::filesystem::remove(out, ec);
      return wado_error(st.error());
    }
    // Stream the converted copy, then remove it.
    struct Removing final : BodyProducer {
      std::unique_ptr<BodyProducer> inner;
      std::filesystem::path path;
      ~Removing() override {
        std::error_code ec;
        std::filesystem::remove(path, ec);
      }
      Result<bool> next(std::string& o) override { return inner->next(o); }
    };
    auto prod = std::make_unique<Removing>();
    prod->inner = detail::file_producer(out);
    prod->path = out;
    r.stream = std::move(prod);
    return r;
  }
  if (content_type != "image/jpeg" && content_type != "image/png")
    return wado_error(make_error(Errc::unsupported, "contentType must be application/dicom, image/jpeg or image/png"));
  dicom::RenderOptions o;
  o.format = content_type == "image/png" ? dicom::ImageFormat::png : dicom::ImageFormat::jpeg;
  auto num = [&](const char* name, auto& out) -> bool {
    auto v = req.query_param(name);
    return !v || parse_number(*v, out);
  };
  double wc = 0, ww = 0;
  bool has_wc = false;
  if (auto v = req.query_param("windowCenter")) {
    try {
      wc = std::stod(std::string(*v));
      ww = std::stod(std::string(req.query_param("windowWidth").value_or("")));
      has_wc = ww > 0;
    } catch (...) {
      return wado_error(make_error(Errc::invalid_argument, "windowCenter/windowWidth must be numbers"));
    }
    if (!has_wc) return wado_error(make_error(Errc::invalid_argument, "windowWidth must be > 0"));
  }
  if (has_wc) {
    o.window_center = wc;
    o.window_width = ww;
  }
  if (!num("frameNumber", o.frame) || !num("rows", o.max_rows) || !num("columns", o.max_columns) ||
      !num("imageQuality", o.quality) || o.frame == 0 || o.quality < 1 || o.quality > 100 || o.max_rows > 8192 ||
      o.max_columns > 8192)
    return wado_error(make_error(Errc::invalid_argument, "malformed frameNumber, rows, columns or imageQuality"));
  auto item = one_instance(req, d);
  if (!item) return wado_error(item.error());
  auto object = open_object(*item, d);
  if (!object) return wado_error(object.error());
  auto image = dicom::render(std::move(*object), o);
  if (!image) return wado_error(image.error());
  Response r;
  r.set("Content-Type", content_type);
  r.body = std::move(*image);
  return r;
}

void add(Router& router, std::string pattern, std::string summary, Handler handler) {
  Route route;
  route.method = Method::get;
  route.pattern = std::move(pattern);
  route.permission = Operation::get;
  route.summary = std::move(summary);
  route.handler = std::move(handler);
  router.add(std::move(route));
}

} // namespace

void add_wado_image_routes(Router& router, const std::shared_ptr<const Deps>& deps) {
  const std::string inst = "/dicom-web/studies/{study}/series/{series}/instances/{instance}";
  add(router, inst + "/frames/{frames}", "WADO-RS: frames of an instance", [deps](Request& r) { return frames(r, *deps); });
  add(router, inst + "/rendered", "WADO-RS: an instance rendered as JPEG or PNG",
      [deps](Request& r) { return rendered(r, *deps, false); });
  add(router, inst + "/frames/{frame}/rendered", "WADO-RS: one frame rendered as JPEG or PNG",
      [deps](Request& r) { return rendered(r, *deps, false); });
  add(router, inst + "/thumbnail", "WADO-RS: thumbnail of an instance",
      [deps](Request& r) { return rendered(r, *deps, true); });
  add(router, "/dicom-web/studies/{study}/series/{series}/thumbnail", "WADO-RS: thumbnail of a series",
      [deps](Request& r) { return rendered(r, *deps, true); });
  add(router, "/dicom-web/studies/{study}/thumbnail", "WADO-RS: thumbnail of a study",
      [deps](Request& r) { return rendered(r, *deps, true); });
  add(router, "/dicom-web/studies/{study}/series/{series}/rendered", "WADO-RS: a series rendered (its middle instance)",
      [deps](Request& r) { return rendered(r, *deps, false); });
  add(router, inst + "/bulk/{*path}", "WADO-RS: a bulk data element (BulkDataURI)",
      [deps](Request& r) { return bulk(r, *deps); });
  add(router, "/wado", "WADO-URI: an instance as application/dicom, image/jpeg or image/png",
      [deps](Request& r) { return wado_uri(r, *deps); });
}

} // namespace tresor::http

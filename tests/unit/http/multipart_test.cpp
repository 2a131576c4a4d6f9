#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "http/multipart.h"

namespace tresor::http {
namespace {

struct Collected {
  std::vector<Fields> headers;
  std::vector<std::string> bodies;
  int ended = 0;
};

class CollectSink final : public PartSink {
public:
  Collected c;
  int fail_on_part = -1;
  Status on_begin(const Fields& h) override {
    if (static_cast<int>(c.headers.size()) == fail_on_part) return fail(Errc::too_large, "sink refuses");
    c.headers.push_back(h);
    c.bodies.emplace_back();
    return {};
  }
  Status on_data(std::string_view b) override {
    c.bodies.back().append(b);
    return {};
  }
  Status on_end() override {
    ++c.ended;
    return {};
  }
};

std::string body_of(const std::vector<std::string>& parts, const std::string& boundary) {
  std::string out = "preamble to ignore\r\n";
  for (const auto& p : parts) out += part_header(boundary, "application/dicom") + p + "\r\n";
  out += closing_delimiter(boundary) + "epilogue";
  return out;
}

Status parse_in_chunks(const std::string& body, const std::string& boundary, std::size_t chunk, CollectSink& sink,
                       MultipartLimits limits = {}) {
  MultipartParser p(boundary, limits, sink);
  for (std::size_t i = 0; i < body.size(); i += chunk)
    if (auto st = p.feed(std::string_view(body).substr(i, chunk)); !st) return st;
  return p.finish();
}

TEST(Multipart, SplitsPartsWithHeadersAndBinaryBodies) {
  std::string bin("\0\r\n--notit\r\n\xff", 13);
  auto body = body_of({"first", bin, ""}, "b0undary");
  CollectSink sink;
  ASSERT_TRUE(parse_in_chunks(body, "b0undary", body.size(), sink));
  ASSERT_EQ(sink.c.bodies.size(), 3u);
  EXPECT_EQ(sink.c.bodies[0], "first");
  EXPECT_EQ(sink.c.bodies[1], bin);
  EXPECT_EQ(sink.c.bodies[2], "");
  EXPECT_EQ(sink.c.ended, 3);
  ASSERT_EQ(sink.c.headers[0].size(), 1u);
  EXPECT_EQ(sink.c.headers[0][0].first, "Content-Type");
  EXPECT_EQ(sink.c.headers[0][0].second, "application/dicom");
}

TEST(Multipart, GivesTheSameResultForEverySplitOfTheInput) {
  std::mt19937 rng(7);
  std::string big(100000, '\0');
  for (char& c : big) c = static_cast<char>(rng());
  auto body = body_of({"abc", big, "\r\n-", "x"}, "sep");
  for (std::size_t chunk : {1u, 2u, 3u, 5u, 7u, 64u, 4096u}) {
    CollectSink sink;
    ASSERT_TRUE(parse_in_chunks(body, "sep", chunk, sink)) << chunk;
    ASSERT_EQ(sink.c.bodies.size(), 4u) << chunk;
    EXPECT_EQ(sink.c.bodies[1], big) << chunk;
    EXPECT_EQ(sink.c.bodies[2], "\r\n-") << chunk;
  }
}

TEST(Multipart, AcceptsABodyThatStartsWithTheDelimiter) {
  std::string body = "--b\r\nContent-Type: a/b\r\n\r\nxyz\r\n--b--\r\n";
  CollectSink sink;
  ASSERT_TRUE(parse_in_chunks(body, "b", 3, sink));
  ASSERT_EQ(sink.c.bodies.size(), 1u);
  EXPECT_EQ(sink.c.bodies[0], "xyz");
}

TEST(Multipart, RefusesABodyWithoutTheClosingDelimiter) {
  std::string body = "--b\r\nContent-Type: a/b\r\n\r\nxyz";
  CollectSink sink;
  auto st = parse_in_chunks(body, "b", 4, sink);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::invalid_argument);
}

TEST(Multipart, RefusesMorePartsThanTheLimit) {
  std::vector<std::string> parts(11, "p");
  CollectSink sink;
  auto st = parse_in_chunks(body_of(parts, "b"), "b", 17, sink, {10, 1024});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::too_large);
  EXPECT_EQ(sink.c.bodies.size(), 10u);
}

TEST(Multipart, RefusesHeadersLargerThanTheLimit) {
  std::string body = "--b\r\nX-Long: " + std::string(5000, 'a') + "\r\n\r\nx\r\n--b--";
  CollectSink sink;
  auto st = parse_in_chunks(body, "b", 100, sink, {10, 1024});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::too_large);
}

TEST(Multipart, RefusesAHeaderLineWithoutAName) {
  std::string body = "--b\r\nnot a header\r\n\r\nx\r\n--b--";
  CollectSink sink;
  EXPECT_FALSE(parse_in_chunks(body, "b", 1000, sink));
}

TEST(Multipart, RefusesAnInvalidBoundary) {
  CollectSink sink;
  MultipartParser p(std::string(71, 'a'), {}, sink);
  EXPECT_FALSE(p.feed("--"));
  MultipartParser q("", {}, sink);
  EXPECT_FALSE(q.finish());
}

TEST(Multipart, StopsWithTheSinksError) {
  CollectSink sink;
  sink.fail_on_part = 1;
  auto st = parse_in_chunks(body_of({"a", "b", "c"}, "b"), "b", 1000, sink);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "sink refuses");
}

TEST(Multipart, KeepsErroringAfterTheFirstError) {
  CollectSink sink;
  MultipartParser p("b", {}, sink);
  ASSERT_TRUE(p.feed("--b\r\n"));
  EXPECT_FALSE(p.feed("no colon here\r\n\r\n"));
  EXPECT_FALSE(p.feed("--b--"));
  EXPECT_FALSE(p.finish());
}

TEST(Multipart, HeaderBlockOfExactlyTheLimitParsesHoweverTheBodyIsSplit) {
  // A 1,024-byte header block ends with "\r\n\r\n" at bytes 1,025-1,028:
  // fed byte by byte, the parser must not give up while the terminator is
  // still arriving (fuzz_multipart found the difference).
  const std::string header = "X: " + std::string(1024 - 3, 'a');
  const std::string body = "--b\r\n" + header + "\r\n\r\npayload\r\n--b--";
  for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{3}, body.size()}) {
    CollectSink sink;
    ASSERT_TRUE(parse_in_chunks(body, "b", chunk, sink, {10, 1024})) << chunk;
    ASSERT_EQ(sink.c.bodies.size(), 1u);
    EXPECT_EQ(sink.c.bodies[0], "payload");
  }
  const std::string over = "--b\r\n" + header + "a\r\n\r\npayload\r\n--b--";
  for (std::size_t chunk : {std::size_t{1}, over.size()}) {
    CollectSink sink;
    EXPECT_FALSE(parse_in_chunks(over, "b", chunk, sink, {10, 1024})) << chunk;
  }
}

TEST(MediaType, ParsesParametersWithQuotesAndCase) {
  auto mt = parse_media_type("Multipart/Related; type=\"application/dicom\"; Boundary=abc; transfer-syntax=*");
  ASSERT_TRUE(mt);
  EXPECT_EQ(mt->type, "multipart/related");
  EXPECT_EQ(mt->param("type").value_or(""), "application/dicom");
  EXPECT_EQ(mt->param("boundary").value_or(""), "abc");
  EXPECT_EQ(mt->param("transfer-syntax").value_or(""), "*");
}

TEST(MediaType, AcceptsAnUnquotedMediaTypeAsParameterValueAsOhifSendsIt) {
  auto mt = parse_media_type("multipart/related; type=application/octet-stream; transfer-syntax=*");
  ASSERT_TRUE(mt);
  EXPECT_EQ(mt->param("type").value_or(""), "application/octet-stream");
  EXPECT_EQ(mt->param("transfer-syntax").value_or(""), "*");
}

TEST(MediaType, RefusesMalformedText) {
  EXPECT_FALSE(parse_media_type("multipart"));
  EXPECT_FALSE(parse_media_type("a/b; x"));
  EXPECT_FALSE(parse_media_type("a/b; x=\"unterminated"));
}

TEST(Multipart, WriterOutputParsesBack) {
  const std::string b = make_boundary();
  EXPECT_EQ(b.size(), 32u);
  std::string body = part_header(b, "application/octet-stream", "/x") + "one\r\n" +
                     part_header(b, "image/jls") + "two\r\n" + closing_delimiter(b);
  CollectSink sink;
  ASSERT_TRUE(parse_in_chunks(body, b, 5, sink));
  ASSERT_EQ(sink.c.bodies.size(), 2u);
  EXPECT_EQ(sink.c.bodies[0], "one");
  EXPECT_EQ(sink.c.bodies[1], "two");
  EXPECT_EQ(sink.c.headers[0][1].second, "/x");
}

// Mutation fuzzing (deterministic seed): random edits of a valid body, fed in
// random splits, must never crash, and every split must reach the same verdict.
TEST(Multipart, SurvivesRandomMutationsWithTheSameVerdictForEverySplit) {
  std::mt19937 rng(20261128);
  const std::string base = body_of({"abc", std::string(300, 'z'), "q"}, "bnd");
  const std::string alphabet = "-\r\nbnd:Content-Type x";
  for (int round = 0; round < 3000; ++round) {
    std::string body = base;
    int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      std::size_t pos = rng() % body.size();
      switch (rng() % 3) {
        case 0: body[pos] = alphabet[rng() % alphabet.size()]; break;
        case 1: body.erase(pos, 1 + rng() % 8); break;
        default: body.insert(pos, std::string(1 + rng() % 4, alphabet[rng() % alphabet.size()])); break;
      }
    }
    CollectSink whole;
    const bool ok = static_cast<bool>(parse_in_chunks(body, "bnd", body.size() + 1, whole, {16, 256}));
    CollectSink split;
    const bool ok_split = static_cast<bool>(parse_in_chunks(body, "bnd", 1 + rng() % 13, split, {16, 256}));
    ASSERT_EQ(ok, ok_split) << round;
    if (ok) {
      ASSERT_EQ(whole.c.bodies, split.c.bodies) << round;
    }
  }
}

} // namespace
} // namespace tresor::http

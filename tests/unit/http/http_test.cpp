#include "http/http.h"

#include <gtest/gtest.h>

namespace tresor::http {
namespace {

TEST(PercentDecode, DecodesEscapesAndOptionallyPlus) {
  EXPECT_EQ(percent_decode("a%20b%2Fc%7e", false), "a b/c~");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("", false), "");
}

TEST(PercentDecode, RefusesBadEscapesAndEncodedNul) {
  EXPECT_FALSE(percent_decode("%", false));
  EXPECT_FALSE(percent_decode("abc%2", false));
  EXPECT_FALSE(percent_decode("%g0", false));
  EXPECT_FALSE(percent_decode("a%00b", false));
}

TEST(ParseQuery, SplitsAndDecodesPairsInOrder) {
  auto q = parse_query("PatientName=Doe%5EJohn&limit=10&&flag&includefield=a+b&x=1=2");
  ASSERT_TRUE(q);
  ASSERT_EQ(q->size(), 5u);
  EXPECT_EQ((*q)[0], (std::pair<std::string, std::string>{"PatientName", "Doe^John"}));
  EXPECT_EQ((*q)[1].second, "10");
  EXPECT_EQ((*q)[2], (std::pair<std::string, std::string>{"flag", ""}));
  EXPECT_EQ((*q)[3].second, "a b");
  EXPECT_EQ((*q)[4].second, "1=2");
  EXPECT_TRUE(parse_query("")->empty());
  EXPECT_FALSE(parse_query("a=%zz"));
}

TEST(Request, LooksUpHeadersCaseInsensitivelyAndQueryExactly) {
  Request r;
  r.headers = {{"content-type", "application/dicom"}, {"Content-Type", "second"}};
  r.query = {{"limit", "5"}, {"Limit", "6"}};
  r.params = {{"study", "1.2"}};
  EXPECT_EQ(r.header("Content-Type"), "application/dicom");
  EXPECT_FALSE(r.header("Accept"));
  EXPECT_EQ(r.query_param("Limit"), "6");
  EXPECT_FALSE(r.query_param("offset"));
  EXPECT_EQ(r.param("study"), "1.2");
  EXPECT_EQ(r.param("series"), "");
}

TEST(Response, SetReplacesAHeaderCaseInsensitively) {
  Response r = text(200, "hi");
  r.set("content-type", "text/html");
  r.set("X-A", "1");
  ASSERT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(r.headers[0].second, "text/html");
  EXPECT_EQ(r.headers[1], (std::pair<std::string, std::string>{"X-A", "1"}));
}

TEST(Response, HelpersSetStatusBodyAndContentType) {
  Response t = text(201, "made");
  EXPECT_EQ(t.status, 201);
  EXPECT_EQ(t.body, "made");
  EXPECT_EQ(t.headers[0].second, "text/plain; charset=utf-8");
  Response j = json(200, "{}", "application/dicom+json");
  EXPECT_EQ(j.headers[0].second, "application/dicom+json");
}

TEST(Response, ErrorResponseIsEscapedJsonWithTheErrorStatus) {
  Response r = error_response(make_error(Errc::conflict, "say \"no\"\n"));
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body, R"({"error":"say \"no\"\n"})");
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Content-Type", "application/json"}));
  EXPECT_EQ(error_response(make_error(Errc::too_large, "x")).status, 413);
}

TEST(Method, HasItsHttpName) {
  EXPECT_STREQ(to_string(Method::del), "DELETE");
  EXPECT_STREQ(to_string(Method::options), "OPTIONS");
  EXPECT_STREQ(to_string(Method::get), "GET");
}

} // namespace
} // namespace tresor::http

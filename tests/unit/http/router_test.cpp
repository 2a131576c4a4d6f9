#include "http/router.h"

#include <gtest/gtest.h>

namespace tresor::http {
namespace {

Handler reply(std::string text_body) {
  return [text_body](Request&) { return text(200, text_body); };
}

Router sample() {
  Router router;
  router.add({Method::get, "/studies/{study}", Auth::required, Operation::find, BodyKind::none, 0, "one study", reply("param")});
  router.add({Method::get, "/studies/recent", Auth::required, Operation::find, BodyKind::none, 0, "recent", reply("literal")});
  router.add({Method::del, "/studies/{study}", Auth::required, Operation::remove, BodyKind::none, 0, "delete", reply("del")});
  router.add({Method::get, "/studies/{study}/series/{series}", Auth::required, std::nullopt, BodyKind::none, 0, "series",
              reply("series")});
  router.add({Method::get, "/ui/{*path}", Auth::none, std::nullopt, BodyKind::none, 0, "static | files", reply("ui")});
  router.add({Method::get, "/ui/index.html", Auth::none, std::nullopt, BodyKind::none, 0, "index", reply("index")});
  router.add({Method::post, "/studies", Auth::required, Operation::store, BodyKind::file, 1 << 30, "STOW-RS", reply("stow")});
  router.add({Method::get, "/", Auth::none, std::nullopt, BodyKind::none, 0, "home", reply("home")});
  return router;
}

std::string call(const Router::Match& m) {
  Request req;
  return m.route ? m.route->handler(req).body : "";
}

TEST(Router, LiteralSegmentBeatsAParameter) {
  Router router = sample();
  auto m = router.match(Method::get, "/studies/recent");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(call(m), "literal");
  EXPECT_TRUE(m.params.empty());

  m = router.match(Method::get, "/studies/1.2.3");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(call(m), "param");
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0], (std::pair<std::string, std::string>{"study", "1.2.3"}));
}

TEST(Router, BindsSeveralParameters) {
  Router router = sample();
  auto m = router.match(Method::get, "/studies/1.2/series/3.4");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.route->pattern, "/studies/{study}/series/{series}");
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[1].second, "3.4");
}

TEST(Router, ParameterNeedsANonEmptySegment) {
  Router router = sample();
  auto m = router.match(Method::get, "/studies/");
  EXPECT_FALSE(m.route);
  EXPECT_TRUE(m.allowed.empty());
  EXPECT_FALSE(router.match(Method::get, "/studies/1/series/").route);
  EXPECT_FALSE(router.match(Method::get, "/studies/1/extra").route);
}

TEST(Router, RestParameterTakesTheRemainder) {
  Router router = sample();
  auto m = router.match(Method::get, "/ui/js/app.js");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(call(m), "ui");
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].first, "path");
  EXPECT_EQ(m.params[0].second, "js/app.js");

  m = router.match(Method::get, "/ui/");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.params[0].second, "");
  EXPECT_FALSE(router.match(Method::get, "/ui").route);

  m = router.match(Method::get, "/ui/index.html");  // a literal route beats the rest parameter
  ASSERT_TRUE(m.route);
  EXPECT_EQ(call(m), "index");
}

TEST(Router, ReportsAllowedMethodsWhenOnlyTheMethodDiffers) {
  Router router = sample();
  auto m = router.match(Method::put, "/studies/1.2.3");
  EXPECT_FALSE(m.route);
  EXPECT_EQ(m.allowed, (std::vector<Method>{Method::get, Method::del}));

  m = router.match(Method::get, "/studies");
  EXPECT_FALSE(m.route);
  EXPECT_EQ(m.allowed, (std::vector<Method>{Method::post}));

  m = router.match(Method::get, "/nowhere");
  EXPECT_FALSE(m.route);
  EXPECT_TRUE(m.allowed.empty());
}

TEST(Router, MatchesTheRoot) {
  Router router = sample();
  auto m = router.match(Method::get, "/");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(call(m), "home");
  EXPECT_FALSE(router.match(Method::get, "").route);
  EXPECT_FALSE(router.match(Method::get, "studies/recent").route);
}

TEST(Router, RendersAMarkdownTableOfEveryRoute) {
  std::string md = sample().markdown();
  EXPECT_EQ(md.rfind("| Method | Path | Auth | Permission | Summary |\n|---|---|---|---|---|\n", 0), 0u);
  EXPECT_NE(md.find("| GET | `/studies/{study}` | required | find | one study |\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| DELETE | `/studies/{study}` | required | delete | delete |\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| GET | `/studies/{study}/series/{series}` | required | any | series |\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| GET | `/ui/{*path}` | none | - | static \\| files |\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| POST | `/studies` | required | store | STOW-RS |\n"), std::string::npos) << md;
  EXPECT_EQ(std::count(md.begin(), md.end(), '\n'), 2 + 8);
}

} // namespace
} // namespace tresor::http

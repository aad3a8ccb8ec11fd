// The one policy grammar (src/policy/policy.cpp).
#include <string>

#include <doctest/doctest.h>

#include "policy/policy.hpp"
#include "tiermem/error.hpp"

using tiermem::policy::parse;
using tiermem::policy::Policy;
using tiermem::policy::to_string;

TEST_CASE("every policy form parses to its canonical text") {
  struct Case {
    const char *in, *out;
  } cases[] = {
      {"rank:0", "bind(rank:0)"},
      {"bind( kind:HBM )", "bind(kind:HBM)"},
      {"preferred(kind:hbm<=2G, rank:0)", "preferred(kind:hbm<=2G, rank:0)"},
      {"preferred(dax:dax0.0,node:1,rank:2)", "preferred(dax:dax0.0, node:1, rank:2)"},
      {"interleave(node:0, node:1)", "interleave(node:0, node:1)"},
      {"weighted(rank:0=3, rank:1=1)", "weighted(rank:0=3, rank:1=1)"},
      {"threshold(64K, rank:0, preferred(emulated:slow<=1048576, rank:0))",
       "threshold(64K, bind(rank:0), preferred(emulated:slow<=1M, rank:0))"},
      {"threshold(100, threshold(10, node:0, node:1), weighted(node:0<=4K=2, node:1=5))",
       "threshold(100, threshold(10, bind(node:0), bind(node:1)), weighted(node:0<=4K=2, node:1=5))"},
      {"auto( node:0 <= 67108864 ,emulated:slow )", "auto(node:0<=64M, emulated:slow)"},
      {"auto(rank:0<=1G, node:2)", "auto(rank:0<=1G, node:2)"},
  };
  for (const auto &c : cases) {
    Policy p = parse(c.in);
    CHECK(to_string(p) == c.out);
    CHECK(to_string(parse(to_string(p))) == c.out);  // canonical text parses to itself
  }
}

TEST_CASE("the parsed tree carries tiers, limits, weights and thresholds") {
  Policy p = parse("threshold(4K, preferred(kind:hbm<=2G, rank:0), weighted(node:0=3, node:1=1))");
  CHECK(p.kind == Policy::Kind::threshold);
  CHECK(p.threshold == 4096);
  REQUIRE(p.small->tiers.size() == 2);
  CHECK(p.small->tiers[0].spec == "kind:hbm");
  CHECK(*p.small->tiers[0].limit == (2ull << 30));
  CHECK_FALSE(p.small->tiers[1].limit.has_value());
  CHECK(p.large->kind == Policy::Kind::weighted);
  CHECK(p.large->tiers[0].weight == 3);
  CHECK(p.large->tiers[1].weight == 1);
}

TEST_CASE("bad policy text is rejected with the text, the column and the grammar") {
  struct Case {
    const char *text, *says;
  } cases[] = {
      {"", "expected a tier at column 1"},
      {"sometimes(rank:0)", "unknown policy 'sometimes' at column 1"},
      {"bind(rank:0", "expected ')' at column 12"},
      {"bind(rank:0, rank:1)", "bind takes exactly one tier"},
      {"preferred(rank:0,)", "expected a tier at column 18"},
      {"preferred(ran:0)", "'ran:0' is not a tier"},
      {"preferred(rank:)", "'rank:' is not a tier"},
      {"weighted(rank:0)", "expected '='"},
      {"weighted(rank:0=0)", "weight from 1 to 1000000"},
      {"weighted(rank:0=x)", "weight from 1 to 1000000"},
      {"threshold(big, rank:0, rank:1)", "'big' is not a size"},
      {"threshold(0, rank:0, rank:1)", "threshold must be above 0"},
      {"threshold(4K, rank:0)", "expected ','"},
      {"preferred(rank:0<=lots)", "'lots' is not a size"},
      {"rank:0 rank:1", "unexpected 'rank:1'"},
      {"auto(node:0, node:2)", "auto() needs a budget on its fast tier"},
      {"auto(node:0<=0, node:2)", "the budget of auto() must be above 0"},
      {"auto(node:0<=64M)", "expected ','"},
      {"auto(node:0<=64M, node:2<=1G)", "slow tier takes no '<='"},
      {"auto(node:0<=64M, node:2, node:3)", "expected ')'"},
      {"threshold(4K, rank:0, auto(node:0<=64M, node:2))", "auto() is a whole policy"},
  };
  for (const auto &c : cases) {
    try {
      parse(c.text);
      FAIL("accepted: " << c.text);
    } catch (const tiermem::Error &e) {
      std::string msg = e.what();
      INFO(msg);
      CHECK(e.code() == -EINVAL);
      CHECK(msg.find(std::string("policy '") + c.text + "'") != std::string::npos);
      CHECK(msg.find(c.says) != std::string::npos);
      CHECK(msg.find("preferred(TIER, ...)") != std::string::npos);
    }
  }
}

TEST_CASE("an auto policy keeps its fast tier with the budget first and allocates on its slow tier") {
  Policy p = parse("auto(node:0<=64M, emulated:slow)");
  CHECK(p.kind == Policy::Kind::automatic);
  REQUIRE(p.tiers.size() == 2);
  CHECK(p.tiers[0].spec == "node:0");
  CHECK(*p.tiers[0].limit == (64ull << 20));
  CHECK(p.tiers[1].spec == "emulated:slow");
  Policy home = tiermem::policy::home_policy(p);
  CHECK(to_string(home) == "bind(emulated:slow)");
  // Other policies are their own home.
  CHECK(to_string(tiermem::policy::home_policy(parse("threshold(4K, rank:0, preferred(node:1<=1G, rank:0))"))) ==
        "threshold(4K, bind(rank:0), preferred(node:1<=1G, rank:0))");
}

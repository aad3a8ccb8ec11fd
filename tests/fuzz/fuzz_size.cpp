// Sizes ("64K", "2G", as TIERMEM_EMULATE and the policies write them): parsed or refused with a
// one-line error; a parsed size is the number its digits and unit say.
#include "fuzz.hpp"
#include "platform/text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using tiermem::platform::parse_size;
  const std::string_view text = fuzz::text(data, size);
  std::uint64_t n = 0;
  try {
    n = parse_size(text, "fuzz size");
  } catch (const tiermem::Error &e) {
    fuzz::check_error(e, text);
    return 0;
  }
  FUZZ_CHECK(parse_size(std::to_string(n), "fuzz size") == n);
  // The same value written with the largest unit that divides it.
  const char *units[] = {"", "K", "M", "G", "T"};
  std::uint64_t v = n;
  int u = 0;
  while (u < 4 && v != 0 && v % 1024 == 0) v /= 1024, ++u;
  FUZZ_CHECK(parse_size(std::to_string(v) + units[u], "fuzz size") == n);
  FUZZ_CHECK(!tiermem::platform::size_text(n).empty());
  return 0;
}

// One sysfs attribute's value, as every SysfsRoot reader takes it (numbers, signed numbers,
// kernel lists, cpumasks) and as the bare parsers do: each value is read or refused with a
// one-line error naming the file, and a parsed list is what its ranges say.
#include "fuzz.hpp"
#include "platform/sysfs.hpp"

namespace {

const fuzz::ScratchDir &root_dir() {
  static const fuzz::ScratchDir dir;
  static const bool made = (dir.write("sys/devices/system/node/online", "0\n"), true);
  (void)made;
  return dir;
}

template <class F>
void refused_in_one_line(F &&read, std::string_view input) {
  try {
    read();
  } catch (const tiermem::Error &e) {
    fuzz::check_error(e, input);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace tiermem::platform;
  const std::string text(fuzz::text(data, size));
  if (const auto v = parse_u64(text)) FUZZ_CHECK(parse_u64(std::to_string(*v)) == v);
  if (const auto list = parse_list(text)) {
    // Ranges are written low-high, each no higher than 65535.
    for (unsigned n : *list) FUZZ_CHECK(n <= 65535);
  }
  const auto &dir = root_dir();
  dir.write("sys/devices/system/node/attr", text);
  const SysfsRoot root(dir.path().string());
  const std::string attr = "sys/devices/system/node/attr";
  refused_in_one_line([&] { root.read(attr); }, text);
  refused_in_one_line([&] { root.read_u64(attr); }, text);
  refused_in_one_line([&] { root.read_i64_optional(attr); }, text);
  refused_in_one_line([&] { root.read_list(attr); }, text);
  refused_in_one_line([&] { root.read_mask_nonzero(attr); }, text);
  return 0;
}

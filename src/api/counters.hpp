// The C ABI's statistics structs are filled from the C++ layers' value types, counter by
// counter. One table a pair of types names each counter once (its key, its C++ member, its C
// field), so that a counter added to one side cannot be missed by a copy or a JSON writer.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tiermem::api {

/** One counter: `From::*from` (the C++ value) goes to `To::*to` (the C field), named `key`. */
template <class From, class To>
struct Counter {
  const char *key;  ///< its name in JSON and in the docs
  std::uint64_t From::*from;
  std::uint64_t To::*to;
};

/** Copies every counter of `table` from `in` to `out`. */
template <class From, class To, std::size_t N>
void copy_counters(const From &in, To &out, const Counter<From, To> (&table)[N]) {
  for (const Counter<From, To> &c : table) out.*c.to = in.*c.from;
}

}  // namespace tiermem::api

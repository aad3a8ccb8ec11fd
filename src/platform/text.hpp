// Whole-file reads and splitting without iostreams: discovery runs inside every program that
// preloads tiermem, and the iostream/locale machinery would add its pages to each one's RSS.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tiermem::platform {

/** The file's bytes; nullopt with `err` set to the errno when it cannot be opened or read. */
std::optional<std::string> read_file(const std::string &path, int &err);

/** Pieces of `s` between `sep` characters (empty pieces kept). */
std::vector<std::string_view> split(std::string_view s, char sep);

/** Whitespace-separated words of `s`. */
std::vector<std::string_view> words(std::string_view s);

}  // namespace tiermem::platform

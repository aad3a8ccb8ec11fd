// Whole-file reads and splitting without iostreams: discovery runs inside every program that
// preloads tiermem, and the iostream/locale machinery would add its pages to each one's RSS.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tiermem::platform {

/** The file's bytes; nullopt with `err` set to the errno when it cannot be opened or read. */
std::optional<std::string> read_file(const std::string &path, int &err);

/**
 * Appends at most `most` bytes of `text` to the line in `buf` (`size` bytes, `at` used),
 * keeping one byte free for a final NUL; returns the bytes used now. No allocation, no
 * locale: for lines written where malloc cannot be used (fork handlers, the SIGBUS
 * handler's installation).
 */
inline std::size_t append_text(char *buf, std::size_t size, std::size_t at, const char *text,
                               std::size_t most = SIZE_MAX) noexcept {
  for (std::size_t i = 0; text[i] != '\0' && i < most && at + 1 < size; ++i) buf[at++] = text[i];
  return at;
}

/** Pieces of `s` between `sep` characters (empty pieces kept). */
std::vector<std::string_view> split(std::string_view s, char sep);

/** Whitespace-separated words of `s`. */
std::vector<std::string_view> words(std::string_view s);

/**
 * A size for a message, in the binary unit a user would type: exact where a unit divides it
 * ("4 TiB", "99999 TiB", "1536 KiB", "17 bytes"), else one decimal ("1.5 GiB").
 */
std::string size_text(std::uint64_t bytes);

/**
 * A size as a user types it: digits and an optional binary unit in any case (K, KB, KiB, M,
 * G, T; B for bytes), "1G" -> 1073741824. nullopt with `why` saying what is wrong.
 */
std::optional<std::uint64_t> try_parse_size(std::string_view text, const char *&why);

/** try_parse_size(), throwing tiermem::Error (-EINVAL) naming `what` and the text. */
std::uint64_t parse_size(std::string_view text, std::string_view what);

}  // namespace tiermem::platform

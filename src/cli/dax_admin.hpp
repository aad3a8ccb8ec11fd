// What the device administration commands (badblocks, scrub, online, offline) share: the
// sysfs root, a dax device named on the command line and its state, opening it exclusively,
// and the report of bad ranges.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/admin.hpp"
#include "cli/commands.hpp"

namespace tiermem::cli {

/** --fsroot, else TIERMEM_FSROOT, else "/". */
platform::SysfsRoot sysfs_root(const Global &global);

/** A dax device as the commands print it (from topology's DaxDevice). */
struct DaxInfo {
  std::string name;    ///< "dax0.0"
  std::string path;    ///< "/dev/dax0.0"
  std::string driver;  ///< "device_dax", "kmem", "" (unbound)
  std::uint64_t size = 0;
  std::uint64_t align = 0;
  int target_node = -1;
};

/** Resolves "dax0.0" or "/dev/dax0.0"; throws tiermem::Error naming the argument. */
DaxInfo dax_info(const platform::SysfsRoot &root, const std::string &arg);

/**
 * Throws tiermem::Error unless the device is bound to device_dax; `doing` says what was
 * wanted ("scrub", "online") so that the message gives the remedy for that command.
 */
void require_devdax(const DaxInfo &d, const std::string &doing);

/** Throws tiermem::Error (-EPERM) unless the process may reconfigure devices (root). */
void require_root(const std::string &doing, const std::string &device);

/** An open, exclusively locked device-dax character device (closed at scope exit). */
class LockedDevice : public api::LockedDevice {
 public:
  /** Throws tiermem::Error: not a character device, no permission, busy (with the pid). */
  explicit LockedDevice(const DaxInfo &d) : api::LockedDevice(d.path, d.name) {}
};

/** A scrub of one device: what was read, and the known bad blocks it skipped. */
struct ScrubReport {
  safety::ScrubResult result;
  safety::KnownBadBlocks known;
  bool interrupted = false;  ///< Ctrl-C or SIGTERM stopped it
};

/**
 * Scrubs the open, locked devdax device `fd` (cmd_scrub.cpp): known bad blocks are skipped,
 * SIGINT/SIGTERM stop it with a partial result, a progress bar on stdout when asked.
 */
ScrubReport scrub_device(const platform::SysfsRoot &root, const DaxInfo &d, int fd,
                         bool progress_bar);
/** The report's JSON document (keys: device, path, size, scanned_bytes, complete, ...). */
nlohmann::json scrub_json(const DaxInfo &d, const ScrubReport &rep);
/** One line per bad range and a summary line, on stdout. */
void print_scrub_summary(const DaxInfo &d, const ScrubReport &rep);

/** "4.0 KiB", "1006.0 MiB". */
std::string bytes_text(std::uint64_t n);
/** "0x200000". */
std::string hex(std::uint64_t n);

/** [{"offset", "length"}...] */
nlohmann::json ranges_json(const std::vector<safety::BadRange> &ranges);

}  // namespace tiermem::cli

// `tiermem scrub DEVICE`: read every page of a devdax device with the machine-check-safe
// verify and report the bad offsets; optionally clear them through the NVDIMM bus (libndctl).
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include <ndctl/libndctl.h>
#include <linux/ndctl.h>  // ND_CMD_* (ndctl/ndctl.h needs headers Debian does not ship)

#include "cli/dax_admin.hpp"
#include "tiermem/error.hpp"

namespace tiermem::cli {

namespace {

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) { g_stop = 1; }

// SIGINT/SIGTERM set a flag for the length of the scrub (no SA_RESTART: nothing blocks).
class StopSignals {
 public:
  StopSignals() {
    g_stop = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals &) = delete;
  StopSignals &operator=(const StopSignals &) = delete;

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

class ProgressBar {
 public:
  explicit ProgressBar(bool on) : on_(on) {}
  ~ProgressBar() { finish(); }
  ProgressBar(const ProgressBar &) = delete;
  ProgressBar &operator=(const ProgressBar &) = delete;
  void update(std::uint64_t done, std::uint64_t total) {
    if (!on_ || total == 0) return;
    const int pct = static_cast<int>(done * 100 / total);
    if (pct == last_) return;
    last_ = pct;
    char bar[41];
    const int fill = pct * 40 / 100;
    for (int i = 0; i < 40; ++i) bar[i] = i < fill ? '#' : '.';
    bar[40] = '\0';
    std::printf("\rscrub [%s] %3d%%  %s of %s", bar, pct, bytes_text(done).c_str(),
                bytes_text(total).c_str());
    std::fflush(stdout);
    drawn_ = true;
  }
  void finish() {
    if (drawn_) std::printf("\n");
    drawn_ = false;
  }

 private:
  bool on_;
  int last_ = -1;
  bool drawn_ = false;
};

struct NdctlCtx {
  ndctl_ctx *ctx = nullptr;
  ~NdctlCtx() {
    if (ctx != nullptr) ndctl_unref(ctx);
  }
};

struct NdctlCmd {
  ndctl_cmd *cmd = nullptr;
  ~NdctlCmd() {
    if (cmd != nullptr) ndctl_cmd_unref(cmd);
  }
};

// Clears the media errors in physical [addr, addr + len) through the NVDIMM bus that holds
// them (ACPI ARS "clear uncorrectable error"). Returns the bytes the platform cleared; throws
// tiermem::Error with the plain reason when it cannot.
std::uint64_t clear_physical(ndctl_ctx *ctx, std::uint64_t addr, std::uint64_t len) {
  ndctl_bus *bus = nullptr;
  ndctl_bus_foreach(ctx, bus) {
    ndctl_region *region = nullptr;
    ndctl_region_foreach(bus, region) {
      const unsigned long long start = ndctl_region_get_resource(region);
      const unsigned long long size = ndctl_region_get_size(region);
      if (start == ULLONG_MAX || addr < start || addr - start >= size) continue;
      const std::string where = std::string(ndctl_bus_get_devname(bus)) + " (" +
                                ndctl_bus_get_provider(bus) + ")";
      if (!ndctl_bus_is_cmd_supported(bus, ND_CMD_ARS_CAP) ||
          !ndctl_bus_is_cmd_supported(bus, ND_CMD_CLEAR_ERROR))
        throw Error(-EOPNOTSUPP, "the NVDIMM bus " + where +
                                     " does not support clearing errors (no ARS clear-error command)");
      NdctlCmd cap{ndctl_bus_cmd_new_ars_cap(bus, addr, len)};
      if (cap.cmd == nullptr || ndctl_cmd_submit(cap.cmd) < 0)
        throw Error(-EIO, "the NVDIMM bus " + where + " refused the ARS capability query");
      const unsigned unit = ndctl_cmd_ars_cap_get_clear_unit(cap.cmd);
      std::uint64_t lo = addr, hi = addr + len;
      if (unit > 1) {
        lo = lo / unit * unit;
        hi = (hi + unit - 1) / unit * unit;
      }
      NdctlCmd clear{ndctl_bus_cmd_new_clear_error(lo, hi - lo, cap.cmd)};
      if (clear.cmd == nullptr) throw Error(-EIO, "the NVDIMM bus " + where + " cannot build a clear-error command");
      int rc = ndctl_cmd_submit(clear.cmd);
      if (rc < 0)
        throw Error(rc, "the NVDIMM bus " + where + " failed to clear " + hex(lo) + ": " +
                            std::strerror(-rc));
      return ndctl_cmd_clear_error_get_cleared(clear.cmd);
    }
  }
  throw Error(-ENODEV, "no NVDIMM region holds physical address " + hex(addr) +
                           " (not NVDIMM memory: no platform clear-error exists for it)");
}

}  // namespace

ScrubReport scrub_device(const platform::SysfsRoot &root, const DaxInfo &d, int fd,
                         bool progress_bar) {
  ScrubReport rep;
  rep.known = api::bad_blocks_of(root, d.name);
  const std::uint64_t align = d.align == 0 ? (2ULL << 20) : d.align;
  // Before the mapping: a Ctrl-C while MAP_POPULATE runs still ends in a (partial) report.
  StopSignals signals;
  ProgressBar bar(progress_bar);
  safety::ScrubOptions o;
  o.stop = &g_stop;
  o.skip = rep.known.ranges;
  o.progress = [&bar](std::uint64_t done, std::uint64_t total) { bar.update(done, total); };
  rep.result = api::scrub_devdax(fd, d.path, d.size / align * align, o);
  bar.finish();
  rep.interrupted = !rep.result.complete;
  return rep;
}

nlohmann::json scrub_json(const DaxInfo &d, const ScrubReport &rep) {
  auto bad = nlohmann::json::array();
  for (const auto &r : rep.result.bad)
    bad.push_back({{"offset", r.offset}, {"length", r.length}, {"source", "read"}});
  for (const auto &r : rep.known.ranges)
    bad.push_back({{"offset", r.offset}, {"length", r.length}, {"source", "badblocks"}});
  return {{"device", d.name},
          {"path", d.path},
          {"size", d.size},
          {"scanned_bytes", rep.result.scanned},
          {"complete", rep.result.complete},
          {"interrupted", rep.interrupted},
          {"bad", bad},
          {"badblocks_sources", rep.known.sources}};
}

void print_scrub_summary(const DaxInfo &d, const ScrubReport &rep) {
  for (const auto &r : rep.result.bad)
    std::printf("bad: %s offset %s, %s (unreadable)\n", d.name.c_str(), hex(r.offset).c_str(),
                bytes_text(r.length).c_str());
  for (const auto &r : rep.known.ranges)
    std::printf("bad: %s offset %s, %s (known bad block, not read)\n", d.name.c_str(),
                hex(r.offset).c_str(), bytes_text(r.length).c_str());
  std::printf("%s: %s %s of %s, %zu bad range%s\n", d.name.c_str(),
              rep.interrupted ? "interrupted after" : "scrubbed", bytes_text(rep.result.scanned).c_str(),
              bytes_text(rep.result.total).c_str(), rep.result.bad.size() + rep.known.ranges.size(),
              rep.result.bad.size() + rep.known.ranges.size() == 1 ? "" : "s");
}

void register_scrub(CLI::App &app, Global &global) {
  auto *cmd = app.add_subcommand(
      "scrub", "read every page of a devdax device with the machine-check-safe copy; report bad offsets");
  auto device = std::make_shared<std::string>();
  auto json_file = std::make_shared<std::string>();
  auto clear = std::make_shared<bool>(false);
  cmd->add_option("DEVICE", *device, "a devdax device (dax0.0 or /dev/dax0.0)")->required();
  cmd->add_option("--json", *json_file, "write the JSON report to FILE ('-': stdout)")->type_name("FILE");
  cmd->add_flag("--clear", *clear, "clear the bad ranges through the NVDIMM bus (ARS clear-error), where the platform allows it");
  cmd->callback([&global, device, json_file, clear] {
    const auto root = sysfs_root(global);
    const DaxInfo d = dax_info(root, *device);
    require_devdax(d, "scrubbing it");
    LockedDevice dev(d);
    const bool to_stdout = *json_file == "-";
    ScrubReport rep = scrub_device(root, d, dev.fd(), !to_stdout && ::isatty(STDOUT_FILENO) == 1);
    auto j = scrub_json(d, rep);
    if (!to_stdout) print_scrub_summary(d, rep);

    std::vector<safety::BadRange> all = rep.result.bad;
    all.insert(all.end(), rep.known.ranges.begin(), rep.known.ranges.end());
    all = safety::merge_ranges(std::move(all));
    bool remaining = !all.empty();
    if (*clear) {
      nlohmann::json cl = {{"cleared_bytes", 0}, {"error", nullptr}};
      if (all.empty()) {
        if (!to_stdout) std::printf("%s: nothing to clear\n", d.name.c_str());
      } else {
        std::uint64_t cleared = 0;
        try {
          NdctlCtx ctx;
          if (int rc = ndctl_new(&ctx.ctx); rc < 0)
            throw Error(rc, std::string("libndctl cannot start: ") + std::strerror(-rc));
          const auto extents = api::extents_of(root, d.name);
          for (const auto &r : all)
            for (const auto &x : extents) {
              const std::uint64_t a = std::max(r.offset, x.offset);
              const std::uint64_t z = std::min(r.end(), x.offset + x.length);
              if (a < z) cleared += clear_physical(ctx.ctx, x.phys + (a - x.offset), z - a);
            }
          remaining = false;
          if (!to_stdout)
            std::printf("%s: cleared %s; the data there is lost, rewrite it\n", d.name.c_str(),
                        bytes_text(cleared).c_str());
        } catch (const Error &e) {
          cl["error"] = e.what();
          std::fprintf(stderr, "tiermem: cannot clear errors on %s: %s; they remain\n", d.name.c_str(),
                       e.what());
        }
        cl["cleared_bytes"] = cleared;
      }
      j["clear"] = cl;
    }
    if (!json_file->empty()) {
      const std::string text = j.dump(2) + "\n";
      if (to_stdout) {
        std::fputs(text.c_str(), stdout);
      } else {
        std::FILE *f = std::fopen(json_file->c_str(), "w");
        if (f == nullptr)
          throw Error(-errno, "tiermem: cannot write the scrub report " + *json_file + ": " +
                                  std::strerror(errno));
        std::fputs(text.c_str(), f);
        if (std::fclose(f) != 0)
          throw Error(-EIO, "tiermem: cannot write the scrub report " + *json_file);
      }
    }
    if (rep.interrupted) {
      std::fprintf(stderr, "tiermem: scrub of %s interrupted after %s; the report is partial, nothing was changed\n",
                   d.name.c_str(), bytes_text(rep.result.scanned).c_str());
      throw Exit{130};
    }
    if (remaining) throw Exit{1};
  });
}

}  // namespace tiermem::cli
